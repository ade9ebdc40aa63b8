"""The WebSocket transport over ASGI (PHOENIX_PROTOCOL.md §1.2-§1.9).

Handshake, in Phoenix's order: check_origin, the authToken subprotocol, then
``vsn`` negotiation and the socket's ``connect`` and ``id``. A refusal is an HTTP
status (403 unless ``ConnectionRefused`` says otherwise) when the server
supports the ASGI denial-response extension (uvicorn does), else a plain
close before accept, which servers answer with 403.

Once open: every received frame goes to the socket server; frames to the client
queue in a bounded buffer drained by one writer task per connection. Close
codes: 1001 on idle timeout and id disconnect, 1009 for an oversized frame,
1011 for a malformed one, 1012 on server shutdown, 1013 when the outbound
buffer or a channel mailbox overflows. phoenix.js reconnects after each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

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


class WebSocketTransport:
    """The writing half of one WebSocket: a bounded queue and one writer task.

    Frames are shared between the sockets a broadcast reaches, so a queue
    holds references; the byte count is what the frames would take alone.
    """

    name = "websocket"

    def __init__(self, send: Any, options: WebSocketOptions) -> None:
        self._send = send
        self._max_frames = options.max_buffered_frames
        self._max_bytes = options.max_buffered_bytes
        self._drop_oldest = options.slow_consumer == "drop_oldest"
        self._queue: deque[Frame] = deque()
        self._queued_bytes = 0
        self.dropped = 0
        self._wakeup = asyncio.Event()
        self._closing: tuple[int, str] | None = None
        self.closed = False
        self._writer = asyncio.get_running_loop().create_task(self._run())

    def write(self, frame: Frame) -> None:
        if self._closing is not None or self.closed:
            return
        queue = self._queue
        size = len(frame.data)
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
                return
            if self.dropped == 0:
                logger.warning("client is not reading; dropping its oldest frames")
            self._queued_bytes -= len(queue.popleft().data)
            self.dropped += 1
        queue.append(frame)
        self._queued_bytes += size
        self._wakeup.set()

    def close(self, code: int, reason: str) -> None:
        if self._closing is None and not self.closed:
            self._closing = (code, reason)
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
    transport = WebSocketTransport(send, options)
    server = SocketServer(
        socket, serializer, transport, endpoint.pubsub, max_frame_size=options.max_frame_size
    )
    await _run_connection(endpoint, server, transport, receive, options.timeout)


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
