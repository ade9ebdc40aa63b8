"""A WebSocket connection over plain ASGI messages, under any ASGI server.

One reader (``run``) awaits ``receive`` and feeds each message to the socket
server; one writer task per connection drains the outbox through ``send``.
Under ``phoenix_py.uvicorn.WebSocketProtocol`` the direct path
(``_direct_websocket``) takes the connection instead.

Invariants:

* Frames reach the client in ``write`` order; the close frame goes after them.
* When ``run`` returns, the writer has stopped and ``connection_lost`` has
  been called once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

from .._core.serializer import Frame
from .._socket_server import SocketServer
from ._outbox import Outbox, WebSocketOptions
from .base import IdleTimer

logger = logging.getLogger("phoenix_py.transport")


class AsgiWebSocketTransport(Outbox):
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


async def run(
    server: SocketServer, transport: AsgiWebSocketTransport, receive: Any, timeout: float
) -> None:
    """Read the connection until it ends, feeding every message to ``server``."""
    loop = asyncio.get_running_loop()
    idle = IdleTimer(loop, timeout, lambda: server.close(1001, "idle timeout"))
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                idle.last_seen = loop.time()
                text = message.get("text")
                if text is not None:
                    server.feed(text, binary=False)
                else:
                    server.feed(message.get("bytes") or b"", binary=True)
            elif kind == "websocket.disconnect":
                break
    finally:
        idle.cancel()
        server.connection_lost(transport.closed_with)
        await transport.finish()
