"""The direct path: a WebSocket that phoenix_py reads and writes without ASGI messages.

Under ``phoenix_py.uvicorn.WebSocketProtocol`` the ASGI scope offers the open
connection (``types.DIRECT_WRITE``). After the handshake phoenix_py adopts it:
the protocol calls ``on_message`` for each client message and the ASGI
coroutine returns, so an idle connection costs its objects and one timer,
not a suspended coroutine stack and a receive queue.

Writing: ``write`` only queues the shared ``Frame``; once per event-loop pass
every socket written to sends its queue as one ``write_frames`` call of the
frames' pre-built wire bytes (``Frame.wire``: header and payload, built once
per broadcast and serializer). Several broadcasts then share one system call.
What a client's own frames make (a heartbeat's reply) goes out at the end of
that read instead, without waiting for the next pass.

Invariants:

* What the connection still buffers counts against ``max_buffered_bytes``,
  with the outbox's slow-consumer policy beyond it.
* The close frame goes after every frame queued before ``close``.
* ``on_close`` runs once; an error in it is logged and never reaches the
  server's protocol.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from .._socket_server import SocketServer
from ..types import DirectConnection
from ._outbox import Outbox, WebSocketOptions
from .base import IdleTimer

logger = logging.getLogger("phoenix_py.transport")


class DirectWebSocketTransport(Outbox):
    """Writes pre-framed bytes straight to the connection: no task, no copy per socket."""

    __slots__ = ("_cap", "_connection", "_flush_pending", "_flusher", "reading")

    def __init__(self, connection: DirectConnection, options: WebSocketOptions) -> None:
        super().__init__(options, [])  # emptied at every flush: a list is the lighter container
        self._cap = options.max_buffered_bytes
        self._connection = connection
        self._flusher = _flusher_for(asyncio.get_running_loop())
        self._flush_pending = False
        #: True while the client's frames of one read are handled: ``read_done`` flushes.
        self.reading = False

    def _wake(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            if not self.reading:
                self._flusher.add(self)

    def read_done(self) -> None:
        """The frames of one read are handled: send what they made now."""
        self.reading = False
        if self._flush_pending:
            self.flush()

    def flush(self) -> None:
        self._flush_pending = False
        if self.closed:
            return
        queue = self._queue
        if queue and self._may_write():
            data = queue[0].wire if len(queue) == 1 else b"".join([f.wire for f in queue])
            queue.clear()
            self._queued_bytes = 0
            buffered = self._connection.write_frames(data)
            if buffered < 0:
                self.closed = True
                return
            # What the connection still buffers counts against the same cap.
            self._max_bytes = self._cap - buffered
        if self._closing is not None and not queue:
            self.closed = True
            self._connection.close(*self._closing)

    def _may_write(self) -> bool:
        """False while the client is behind (the slow-consumer policy applies then)."""
        if self._max_bytes == self._cap:  # the last write left nothing buffered
            return True
        connection = self._connection
        self._max_bytes = self._cap - connection.buffered_bytes()
        return self._make_room(0) and bool(self._queue) and not connection.writing_paused

    def resume(self) -> None:
        """The connection takes writes again: flush on the next loop pass."""
        self._wake()

    def finish(self) -> None:
        """The connection is over: drop what is queued."""
        self.closed = True
        self._queue.clear()


class _Flusher:
    """Flushes every direct transport written to, a slice per event-loop pass.

    Between slices the loop reads again, so a broadcast that arrives while a
    large one is going out joins it in the queues not yet flushed: one system
    call carries both (under load, the batches grow by themselves).
    """

    __slots__ = ("_loop", "_pending", "_scheduled")

    SLICE = 512

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: list[DirectWebSocketTransport] = []
        self._scheduled = False

    def add(self, transport: DirectWebSocketTransport) -> None:
        self._pending.append(transport)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        pending = self._pending
        batch = pending[: self.SLICE]
        del pending[: self.SLICE]
        for transport in batch:
            try:
                transport.flush()
            except Exception:
                logger.exception("websocket write failed; skipped")
        if pending:
            self._loop.call_soon(self._flush)
        else:
            self._scheduled = False


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = (
    weakref.WeakKeyDictionary()
)


def _flusher_for(loop: asyncio.AbstractEventLoop) -> _Flusher:
    flusher = _flushers.get(loop)
    if flusher is None:
        flusher = _flushers[loop] = _Flusher(loop)
    return flusher


class AdoptedConnection:
    """Connects a direct connection's callbacks to its socket server and transport."""

    __slots__ = ("_idle", "_loop", "_server", "_transport")

    def __init__(
        self,
        server: SocketServer,
        transport: DirectWebSocketTransport,
        connection: DirectConnection,
        timeout: float,
    ) -> None:
        self._server = server
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._idle = IdleTimer(self._loop, timeout, self._idle_timeout)
        connection.adopt(self._on_message, self._on_close, transport.resume, transport.read_done)

    def _idle_timeout(self) -> None:
        self._server.close(1001, "idle timeout")

    def _on_message(self, data: str | bytes, binary: bool) -> None:
        self._idle.last_seen = self._loop.time()
        self._transport.reading = True
        try:
            self._server.feed(data, binary=binary)
        except Exception:  # a bug here must not reach the server's data_received
            logger.exception("handling a frame failed; closing the socket")
            self._server.close(1011, "internal error")

    def _on_close(self) -> None:
        self._idle.cancel()
        self._transport.finish()
        try:
            self._server.connection_lost(self._transport.closed_with)
        except Exception:  # a bug here must not keep the server's connection alive
            logger.exception("ending socket %r failed", self._server)
