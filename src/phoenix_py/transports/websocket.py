"""The WebSocket transport over ASGI (PHOENIX_PROTOCOL.md §1.2-§1.9).

Handshake, in Phoenix's order: check_origin, the authToken subprotocol, then
``vsn`` negotiation and the socket's ``connect`` and ``id``. A refusal is an HTTP
status (403 unless ``ConnectionRefused`` says otherwise) when the server
supports the ASGI denial-response extension (uvicorn does), else a plain
close before accept, which servers answer with 403.

Once open: every received frame goes to the socket server; frames to the client
queue in a bounded buffer, drained by one writer task per connection through
ASGI ``send`` (portable), or, under ``phoenix_py.uvicorn.WebSocketProtocol``,
written as pre-framed bytes straight to the connection once per event-loop
pass (the fanout fast path). Close
codes: 1001 on idle timeout and id disconnect, 1009 for an oversized frame,
1011 for a malformed one, 1012 on server shutdown, 1013 when the outbound
buffer or a channel mailbox overflows. phoenix.js reconnects after each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import deque
from collections.abc import Callable, MutableSequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .._core.params import parse_params
from .._core.serializer import Frame
from .._socket_server import SocketServer
from ..socket import Socket
from .base import (
    BadAuthToken,
    CheckOrigin,
    Scope,
    auth_token_from_subprotocols,
    connect_info,
    negotiated_serializer,
    origin_allowed,
    request_headers,
)

if TYPE_CHECKING:
    from ..asgi import Endpoint

logger = logging.getLogger("phoenix_py.transport")

DIRECT_WRITE = "phoenix_py.direct_write"
"""The ASGI scope extension holding ``{"connection": DirectConnection}``."""


@dataclass(frozen=True, slots=True)
class WebSocketOptions:
    """Options of the WebSocket transport, with Phoenix's defaults.

    Args:
        check_origin: see ``transports.base.CheckOrigin``; default: the request's host.
        timeout: seconds without any data from the client before the socket
            closes (1001). phoenix.js heartbeats every 30 s.
        max_frame_size: bytes; a larger frame closes the socket with 1009.
        max_buffered_frames, max_buffered_bytes: what may wait for a client
            that does not read (a slow phone, a stalled network).
        slow_consumer: what happens beyond that: ``"disconnect"`` (close
            1013, phoenix.js reconnects and rejoins) or ``"drop_oldest"``
            (the oldest queued frames are dropped, the socket stays).
    """

    check_origin: CheckOrigin = True
    timeout: float = 60.0
    max_frame_size: int = 10_000_000
    max_buffered_frames: int = 10_000
    max_buffered_bytes: int = 8_000_000
    slow_consumer: Literal["disconnect", "drop_oldest"] = "disconnect"


class _Outbox:
    """The frames waiting for one client, bounded in frames and bytes.

    Frames are shared between the sockets a broadcast reaches, so the queue
    holds references; the byte count is what the frames would take alone.
    Subclasses say how the queue is drained (``_wake``).
    """

    __slots__ = (
        "_closing",
        "_drop_oldest",
        "_max_bytes",
        "_max_frames",
        "_queue",
        "_queued_bytes",
        "closed",
        "dropped",
    )

    name = "websocket"

    def __init__(self, options: WebSocketOptions, queue: MutableSequence[Frame]) -> None:
        self._max_frames = options.max_buffered_frames
        self._max_bytes = options.max_buffered_bytes
        self._drop_oldest = options.slow_consumer == "drop_oldest"
        self._queue = queue
        self._queued_bytes = 0
        self.dropped = 0
        self._closing: tuple[int, str] | None = None
        self.closed = False

    def _wake(self) -> None:
        raise NotImplementedError

    def write(self, frame: Frame) -> None:
        if self._closing is not None or self.closed:
            return
        size = len(frame.data)
        queue = self._queue
        if not queue or self._make_room(size):
            queue.append(frame)
            self._queued_bytes += size
            self._wake()

    def _make_room(self, size: int) -> bool:
        """Apply the slow-consumer policy until ``size`` more bytes fit; False when closing."""
        queue = self._queue
        while queue and (
            len(queue) >= self._max_frames or self._queued_bytes + size > self._max_bytes
        ):
            if not self._drop_oldest:
                logger.warning(
                    "client is not reading: %d frames (%d bytes) queued; closing with 1013",
                    len(queue),
                    self._queued_bytes,
                )
                queue.clear()
                self._queued_bytes = 0
                self.close(1013, "outbound buffer full")
                return False
            if self.dropped == 0:
                logger.warning("client is not reading; dropping its oldest frames")
            self._queued_bytes -= len(queue[0].data)
            del queue[0]
            self.dropped += 1
        return True

    def close(self, code: int, reason: str) -> None:
        if self._closing is None and not self.closed:
            self._closing = (code, reason)
            self._wake()


class WebSocketTransport(_Outbox):
    """Portable ASGI writing: one writer task per connection awaits ``send``."""

    __slots__ = ("_send", "_wakeup", "_writer")

    _queue: deque[Frame]

    def __init__(self, send: Any, options: WebSocketOptions) -> None:
        super().__init__(options, deque())
        self._send = send
        self._wakeup = asyncio.Event()
        self._writer = asyncio.get_running_loop().create_task(self._run())

    def _wake(self) -> None:
        self._wakeup.set()

    async def _run(self) -> None:
        send, queue = self._send, self._queue
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while queue:
                    frame = queue.popleft()
                    self._queued_bytes -= len(frame.data)
                    if frame.binary:
                        await send({"type": "websocket.send", "bytes": frame.data})
                    else:
                        await send({"type": "websocket.send", "text": frame.text})
                if self._closing is not None:
                    code, reason = self._closing
                    await send({"type": "websocket.close", "code": code, "reason": reason[:120]})
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send: the reader sees it too
            logger.debug("websocket send failed: %r", exc)
        finally:
            self.closed = True
            queue.clear()

    async def finish(self) -> None:
        """The connection is over: stop the writer."""
        self.closed = True
        if not self._writer.done():
            self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


class DirectConnection(Protocol):
    """A server connection phoenix_py may write whole WebSocket frames to.

    ``phoenix_py.uvicorn.WebSocketProtocol`` offers itself as one in the ASGI
    scope's extensions, under ``DIRECT_WRITE``.
    """

    @property
    def writing_paused(self) -> bool:
        """The peer is not reading fast enough: hold frames until ``on_writable`` fires."""
        ...

    def write_frames(self, data: bytes) -> int:
        """Send complete frames now; the bytes still buffered after, or -1 once closing."""
        ...

    def buffered_bytes(self) -> int:
        """Bytes written but not yet taken by the kernel."""
        ...

    def on_writable(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` whenever writing resumes after a pause."""
        ...

    def adopt(
        self, on_message: Callable[[str | bytes, bool], None], on_close: Callable[[], None]
    ) -> None:
        """Hand every further message (text as ``str``, ``binary`` flag) and the
        connection's end (exactly once) to these callbacks; the ASGI app may
        then return without the connection closing."""
        ...


class DirectWebSocketTransport(_Outbox):
    """Writes pre-framed bytes straight to the connection: no task, no copy per socket.

    A write only queues the shared ``Frame``; once per event-loop pass every
    socket written to sends its queue in one call (one system call for a
    burst of broadcasts). The close handshake still goes through ASGI ``send``.
    """

    __slots__ = ("_cap", "_closer", "_connection", "_flush_pending", "_flusher", "_loop", "_send")

    def __init__(self, send: Any, connection: DirectConnection, options: WebSocketOptions) -> None:
        super().__init__(options, [])  # emptied at every flush: a list is the lighter container
        self._cap = options.max_buffered_bytes
        self._send = send
        self._connection = connection
        self._loop = asyncio.get_running_loop()
        self._flusher = _flusher_for(self._loop)
        self._flush_pending = False
        self._closer: asyncio.Task[None] | None = None
        connection.on_writable(self._wake)

    def _wake(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self._flusher.add(self)

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
        if self._closing is not None and not queue and self._closer is None:
            self._closer = self._loop.create_task(self._send_close(*self._closing))

    def _may_write(self) -> bool:
        """False while the client is behind (the slow-consumer policy applies then)."""
        if self._max_bytes == self._cap:  # the last write left nothing buffered
            return True
        connection = self._connection
        self._max_bytes = self._cap - connection.buffered_bytes()
        return self._make_room(0) and bool(self._queue) and not connection.writing_paused

    async def _send_close(self, code: int, reason: str) -> None:
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason[:120]})
        except Exception as exc:  # the peer went away first: the reader sees it too
            logger.debug("websocket close failed: %r", exc)
        finally:
            self.closed = True

    def finish(self) -> None:
        """The connection is over: drop what is queued, stop a pending close."""
        self.closed = True
        self._queue.clear()
        self._connection.on_writable(None)
        if self._closer is not None:
            self._closer.cancel()


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


class _IdleTimer:
    """Calls ``on_idle`` once ``timeout`` seconds pass with no ``last_seen`` update.

    One timer handle per connection, re-armed only when it fires, so receiving
    a frame costs one attribute write.
    """

    __slots__ = ("_handle", "_loop", "_on_idle", "_timeout", "last_seen")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, timeout: float, on_idle: Callable[[], None]
    ) -> None:
        self._loop = loop
        self._timeout = timeout
        self._on_idle = on_idle
        self.last_seen = loop.time()
        self._handle = loop.call_later(timeout, self._check)

    def _check(self) -> None:
        remaining = self.last_seen + self._timeout - self._loop.time()
        if remaining <= 0:
            self._on_idle()
        else:
            self._handle = self._loop.call_later(remaining, self._check)

    def cancel(self) -> None:
        self._handle.cancel()


async def _deny(scope: Scope, send: Any, status: int) -> None:
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-length", b"0")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b""})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def serve_websocket(
    endpoint: Endpoint,
    socket_cls: type[Socket],
    options: WebSocketOptions,
    scope: Scope,
    receive: Any,
    send: Any,
) -> None:
    """Run one WebSocket connection from handshake to close."""
    if (await receive())["type"] != "websocket.connect":
        return
    headers = request_headers(scope)
    params = {**scope.get("path_params", {}), **parse_params(scope.get("query_string", b""))}
    origin = headers.get("origin")
    host = headers.get("host", "")
    if not origin_allowed(origin, host, options.check_origin):
        logger.error(
            "Could not check origin for the socket transport: origin %r is not allowed", origin
        )
        return await _deny(scope, send, 403)
    serializer = negotiated_serializer(params)
    if serializer is None:
        return await _deny(scope, send, 403)
    subprotocols: list[str] = list(scope.get("subprotocols") or [])
    try:
        auth_token = auth_token_from_subprotocols(subprotocols)
    except BadAuthToken as exc:
        logger.warning("refusing connection: %s", exc)
        return await _deny(scope, send, 403)
    info = connect_info(
        scope, headers, transport="websocket", default_scheme="ws", auth_token=auth_token
    )
    socket = socket_cls()
    socket.params, socket.connect_info = params, info
    status = await endpoint._connect(socket, params, info)
    if status is not None:
        return await _deny(scope, send, status)

    # phoenix.js 1.8 offers "phoenix" next to its authToken and needs it echoed;
    # other subprotocols are ignored, as Phoenix does without a configured list.
    subprotocol = "phoenix" if "phoenix" in subprotocols else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    max_frame = options.max_frame_size
    direct = scope.get("extensions", {}).get(DIRECT_WRITE)
    if direct is not None:
        connection: DirectConnection = direct["connection"]
        direct_transport = DirectWebSocketTransport(send, connection, options)
        server = SocketServer(
            socket, serializer, direct_transport, endpoint.pubsub, max_frame_size=max_frame
        )
        _AdoptedConnection(endpoint, server, direct_transport, connection, options.timeout)
        return  # the connection lives on without this coroutine
    transport = WebSocketTransport(send, options)
    server = SocketServer(socket, serializer, transport, endpoint.pubsub, max_frame_size=max_frame)
    await _run_connection(endpoint, server, transport, receive, options.timeout)


class _AdoptedConnection:
    """A direct connection after the handshake: uvicorn's protocol calls in, no task waits.

    An idle connection then costs its objects and one timer, not a suspended
    coroutine stack and a receive queue.
    """

    __slots__ = ("_endpoint", "_idle", "_loop", "_server", "_transport")

    def __init__(
        self,
        endpoint: Endpoint,
        server: SocketServer,
        transport: DirectWebSocketTransport,
        connection: DirectConnection,
        timeout: float,
    ) -> None:
        self._endpoint = endpoint
        self._server = server
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._idle = _IdleTimer(self._loop, timeout, self._idle_timeout)
        endpoint._sockets.add(server)
        connection.adopt(self._on_message, self._on_close)

    def _idle_timeout(self) -> None:
        self._server.close(1001, "idle timeout")

    def _on_message(self, data: str | bytes, binary: bool) -> None:
        self._idle.last_seen = self._loop.time()
        try:
            self._server.feed(data, binary=binary)
        except Exception:  # a bug here must not reach uvicorn's data_received
            logger.exception("handling a frame failed; closing the socket")
            self._server.close(1011, "internal error")

    def _on_close(self) -> None:
        self._idle.cancel()
        self._endpoint._sockets.discard(self._server)
        self._server.connection_lost()
        self._transport.finish()


async def _run_connection(
    endpoint: Endpoint,
    server: SocketServer,
    transport: WebSocketTransport,
    receive: Any,
    timeout: float,
) -> None:
    loop = asyncio.get_running_loop()
    idle = _IdleTimer(loop, timeout, lambda: server.close(1001, "idle timeout"))
    endpoint._sockets.add(server)
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                idle.last_seen = loop.time()
                text = message.get("text")
                if text is not None:
                    await server.receive(text, binary=False)
                else:
                    await server.receive(message.get("bytes") or b"", binary=True)
            elif kind == "websocket.disconnect":
                break
    finally:
        idle.cancel()
        endpoint._sockets.discard(server)
        server.connection_lost()
        await transport.finish()
