"""A server WebSocket connection: an ``asyncio.Protocol`` around websockets' sans-I/O protocol.

The handshake goes through the ASGI app (routing, ``connect``, refusals;
``_ws_asgi``); after it the connection is either served as a plain ASGI
WebSocket or adopted by phoenix_py through the ``types.DIRECT_WRITE`` scope
extension (``types.DirectConnection``): messages then go straight to
phoenix_py's callbacks, and phoenix_py writes whole pre-built frames to the
transport. ``phoenix_py.uvicorn`` hands this class to uvicorn.

Bytes are parsed with websockets' documented sans-I/O API only: a
``ServerProtocol`` for the opening handshake (``receive_data``,
``events_received``, ``accept``, ``reject``, ``send_response``,
``data_to_send``), then a ``Protocol`` in the OPEN state for the frames
(``send_text``, ``send_binary``, ``send_close``, ``send_ping``), so that
nothing of the handshake stays alive with an idle connection.

Choices, on purpose:

* permessage-deflate is declined: a frame written on the direct path is
  built once for every subscriber of a broadcast, which a compression
  context per connection would forbid; phoenix.js messages are small.
* no WebSocket pings on an adopted connection: phoenix.js heartbeats, and the
  socket's idle timeout closes a silent one (Phoenix sends no pings either).
  A plain ASGI connection is pinged every ``ping_interval`` seconds (``_ws_asgi``).

Invariants:

* Client messages are handed over in arrival order, none after a close.
* The end is told exactly once: ``on_close`` when adopted, else the ASGI
  ``websocket.disconnect``; an exception in a callback is logged and never
  reaches the event loop.
* The connection is in ``connections`` from ``connection_made`` to
  ``connection_lost``; its ASGI task is in ``tasks`` while it runs.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import logging
from collections.abc import Callable, MutableSet
from dataclasses import dataclass, field
from typing import Any, cast

from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Protocol, Side, State
from websockets.server import ServerProtocol

from ._ws_asgi import AsgiSession, make_scope

logger = logging.getLogger("phoenix_py.websocket")
# websockets logs every open and close at INFO; keep that out of the server's log
# (lower this logger's level to see websockets' own lines).
_protocol_logger = logging.getLogger("phoenix_py.websocket.frames")
_protocol_logger.setLevel(logging.WARNING)

_CLOSE_TIMEOUT = 10.0  # seconds to wait for the client's close frame


@dataclass(slots=True)
class ServerContext:
    """What connections need from the server that runs them (one per server).

    Args:
        app: the ASGI application.
        root_path: the ASGI ``root_path``.
        max_size: the largest client message in bytes (websockets closes 1009 beyond).
        max_queue: messages an ASGI app may leave unread before reading pauses.
        ping_interval, ping_timeout: keepalive of plain ASGI connections, seconds.
        state: the lifespan state, copied into each scope.
        connections, tasks: the server's live connections and tasks (it waits
            for both to empty when it stops).
        default_headers: the server's headers for each response, as byte pairs.
        access_logger: where accepted and refused handshakes are logged (INFO).
    """

    app: Any
    root_path: str = ""
    max_size: int | None = 16 * 1024 * 1024
    max_queue: int = 32
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    state: dict[str, Any] = field(default_factory=dict)
    connections: MutableSet[Any] = field(default_factory=set)
    tasks: MutableSet[asyncio.Task[None]] = field(default_factory=set)
    default_headers: Callable[[], list[tuple[bytes, bytes]]] = list
    access_logger: logging.Logger = logger


class WebSocketConnection(asyncio.Protocol):
    """One server WebSocket connection; see the module docs."""

    __slots__ = (
        "_close_sent",
        "_close_timer",
        "_context",
        "_early",
        "_ended",
        "_fragments",
        "_fragments_binary",
        "_frames",
        "_handshake",
        "_loop",
        "_lost",
        "_on_close",
        "_on_message",
        "_on_read",
        "_on_writable",
        "_paused_writing",
        "_response",
        "_session",
        "_transport",
        "_writable_waiters",
        "label",
    )

    def __init__(self, context: ServerContext) -> None:
        self._context = context
        self._loop = asyncio.get_event_loop()
        self._transport: asyncio.Transport | None = None
        self._handshake: ServerProtocol | None = ServerProtocol(
            max_size=context.max_size, logger=_protocol_logger
        )
        self._response: Response | None = None  # the 101 the app has yet to confirm
        self._early: list[bytes] | None = None  # bytes after the request, before the accept
        self._frames: Protocol | None = None  # after the handshake
        self._session: AsgiSession | None = None  # until adopted
        self._fragments: list[bytes] | None = None  # of a message sent in several frames
        self._fragments_binary = False
        self._ended = False  # the end was told
        self._lost = False
        self._close_sent = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._paused_writing = False
        self._writable_waiters: list[asyncio.Future[None]] | None = None
        self._on_message: Callable[[str | bytes, bool], None] | None = None
        self._on_close: Callable[[], None] | None = None
        self._on_writable: Callable[[], None] | None = None
        self._on_read: Callable[[], None] | None = None
        self.label = "-"

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._context.connections.add(self)

    def data_received(self, data: bytes) -> None:
        frames = self._frames
        if frames is not None:
            frames.receive_data(data)
            self._handle_frames(frames)
            if self._on_read is not None:
                self._guarded(self._on_read)
        elif self._response is not None:  # the client did not wait for the 101
            self._early = [*(self._early or ()), data]
        elif self._handshake is not None:
            self._receive_handshake(self._handshake, data)

    def eof_received(self) -> bool | None:
        if self._frames is not None:
            self._frames.receive_eof()
            self._handle_frames(self._frames)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._cancel_close_timer()
        close = self._frames.close_rcvd if self._frames is not None else None
        self._end(close.code if close is not None else 1006)
        self._context.connections.discard(self)
        self._wake_writers()

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        self._wake_writers()
        if self._on_writable is not None:
            self._guarded(self._on_writable)

    def shutdown(self) -> None:
        """The server stops: close an open connection with 1012, refuse a pending one."""
        if self._frames is not None:
            self._send_close(1012, "server shutting down")
        elif self._handshake is not None:
            self._send_response(self._handshake.reject(503, "Server shutting down\n"))
        self._close_transport()

    # The handshake

    def _receive_handshake(self, handshake: ServerProtocol, data: bytes) -> None:
        handshake.receive_data(data)
        for event in handshake.events_received():
            if isinstance(event, Request):
                self._start(handshake, event)
                return
        if handshake.handshake_exc is not None:  # not an HTTP request we can read
            output = b"".join(handshake.data_to_send())
            if not output:
                output = handshake.reject(400, "Invalid WebSocket request\n").serialize()
            self._write(output)
            self._close_transport()

    def _start(self, handshake: ServerProtocol, request: Request) -> None:
        response = handshake.accept(request)
        if response.status_code != 101:  # not a valid upgrade: answered without the app
            self._send_response(response)
            self._close_transport()
            return
        self._response = response
        transport = self._transport
        if transport is None:  # data before connection_made: asyncio never does this
            return
        context = self._context
        client = _host_port(transport.get_extra_info("peername"))
        scope = make_scope(
            request,
            scheme="wss" if transport.get_extra_info("sslcontext") else "ws",
            server=_host_port(transport.get_extra_info("sockname")),
            client=client,
            root_path=context.root_path,
            state=context.state,
            connection=self,
        )
        self.label = f'{_address(client)} - "WebSocket {request.path}"'
        self._session = session = AsgiSession(
            self, context.max_queue, context.ping_interval, context.ping_timeout
        )
        task = self._loop.create_task(session.run(context.app, scope))
        context.tasks.add(task)
        task.add_done_callback(context.tasks.discard)

    # _ws_asgi.Wire

    @property
    def open(self) -> bool:
        return self._frames is not None and not self._close_sent and not self._lost

    @property
    def answered(self) -> bool:
        return self._response is None

    @property
    def adopted(self) -> bool:
        return self._session is None and self._frames is not None

    def accept(self, headers: list[tuple[bytes, bytes]], subprotocol: str | None) -> None:
        response = self._response
        if response is None:
            return
        del response.headers["Date"]
        for name, value in [*self._context.default_headers(), *headers]:
            response.headers[name.decode("latin-1")] = value.decode("latin-1")
        if subprotocol:
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
        self._send_response(response)
        self._context.access_logger.info("%s [accepted]", self.label)
        # The frames from now on; the handshake's objects are not kept.
        self._frames = Protocol(
            Side.SERVER, state=State.OPEN, max_size=self._context.max_size, logger=_protocol_logger
        )
        self._handshake = self._response = None
        early, self._early = self._early or (), None
        for data in early:
            self.data_received(data)

    def refuse(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        if self._handshake is None:
            return
        response_headers = Headers(
            [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
        )
        response_headers.setdefault("Date", email.utils.formatdate(usegmt=True))
        response_headers.setdefault("Connection", "close")
        response_headers.setdefault("Content-Length", str(len(body)))
        response_headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        self._send_response(Response(status, _phrase(status), response_headers, body))
        self._context.access_logger.info("%s %d", self.label, status)
        self._handshake = self._response = None
        self._close_sent = True
        self._close_transport()
        self._end(1006)

    def send_message(self, data: bytes, binary: bool) -> None:
        frames = self._frames
        if frames is not None and self.open:
            if binary:
                frames.send_binary(data)
            else:
                frames.send_text(data)
            self._flush_frames(frames)

    def ping(self, payload: bytes) -> None:
        frames = self._frames
        if frames is not None and self.open:
            frames.send_ping(payload)
            self._flush_frames(frames)

    def pause_reading(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    async def writable(self) -> bool:
        while self._paused_writing and not self._lost:
            waiter = self._loop.create_future()
            self._writable_waiters = [*(self._writable_waiters or ()), waiter]
            await waiter
        return not self._lost

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake (``DirectConnection`` and ``Wire``)."""
        self._send_close(code, reason)

    def _send_response(self, response: Response) -> None:
        handshake = self._handshake
        if handshake is not None:
            handshake.send_response(response)
            self._write(b"".join(handshake.data_to_send()))

    # Frames

    def _handle_frames(self, frames: Protocol) -> None:
        control = False
        # A protocol in the OPEN state only yields frames.
        for event in cast("list[Frame]", frames.events_received()):
            opcode = event.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                if event.fin:  # the common case: a message in one frame
                    self._message(_bytes(event), opcode is Opcode.BINARY)
                else:
                    self._fragments_binary = opcode is Opcode.BINARY
                    self._fragments = [_bytes(event)]
            elif opcode is Opcode.CONT:
                parts = self._fragments = [*(self._fragments or ()), _bytes(event)]
                if event.fin:
                    self._fragments = None
                    self._message(b"".join(parts), self._fragments_binary)
            elif opcode is Opcode.PONG:
                if self._session is not None:
                    self._session.pong(_bytes(event))
            else:  # PING (websockets queued the pong) or CLOSE (it queued the answer)
                control = True
                if opcode is Opcode.CLOSE:
                    close = frames.close_rcvd
                    self._end(close.code if close is not None else 1005)
        if control or frames.parser_exc is not None:
            self._flush_frames(frames)

    def _message(self, data: bytes, binary: bool) -> None:
        if self._close_sent or self._ended:
            return
        if binary:
            self._deliver(data, True)
            return
        try:
            text = data.decode()
        except UnicodeDecodeError:
            self._send_close(1007, "invalid UTF-8")
            self._end(1007)
            return
        self._deliver(text, False)

    def _deliver(self, message: str | bytes, binary: bool) -> None:
        on_message = self._on_message
        if on_message is not None:
            try:
                on_message(message, binary)
            except Exception:  # a bug of the adopter must not reach the event loop
                logger.exception("%s: handling a message failed; closing with 1011", self.label)
                self._send_close(1011, "internal error")
        elif self._session is not None:
            self._session.push(message, binary)

    def _flush_frames(self, frames: Protocol) -> None:
        for chunk in frames.data_to_send():
            if chunk:
                self._write(chunk)
            else:  # websockets asks the server to close the TCP connection
                self._close_transport()
        if frames.parser_exc is not None:
            sent = frames.close_sent
            self._close_sent = True
            self._end(sent.code if sent is not None else 1002)
            self._close_transport()

    def _send_close(self, code: int, reason: str) -> None:
        frames = self._frames
        if frames is None or self._close_sent or frames.state is not State.OPEN:
            return
        self._close_sent = True
        frames.send_close(code, reason)
        self._flush_frames(frames)
        self.resume_reading()  # to read the client's close frame
        self._close_timer = self._loop.call_later(_CLOSE_TIMEOUT, self._close_transport)

    # The direct path (types.DirectConnection)

    @property
    def writing_paused(self) -> bool:
        return self._paused_writing

    def adopt(
        self,
        on_message: Callable[[str | bytes, bool], None],
        on_close: Callable[[], None],
        on_writable: Callable[[], None],
        on_read: Callable[[], None],
    ) -> None:
        session, self._session = self._session, None
        self._on_message, self._on_close, self._on_writable = on_message, on_close, on_writable
        self._on_read = on_read
        if session is not None:  # what arrived between the accept and now
            for data, binary in session.detach():
                self._deliver(data, binary)
            self._guarded(on_read)
        if self._ended:
            self._guarded(on_close)
        self.resume_reading()

    def write_frames(self, data: bytes) -> int:
        transport = self._transport
        if transport is None or self._close_sent or self._lost or transport.is_closing():
            return -1
        transport.write(data)
        return transport.get_write_buffer_size()

    def buffered_bytes(self) -> int:
        transport = self._transport
        return 0 if transport is None else transport.get_write_buffer_size()

    # Helpers

    def _end(self, code: int) -> None:
        if self._ended:
            return
        self._ended = True
        on_close, self._on_close, self._on_message = self._on_close, None, None
        self._on_read = None
        if on_close is not None:
            self._guarded(on_close)
        elif self._session is not None:
            self._session.disconnected(code)

    def _guarded(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            logger.exception("%s: a connection callback failed", self.label)

    def _wake_writers(self) -> None:
        waiters, self._writable_waiters = self._writable_waiters or (), None
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    def _close_transport(self) -> None:
        self._cancel_close_timer()
        if self._transport is not None:
            self._transport.close()

    def _cancel_close_timer(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None


def _bytes(frame: Frame) -> bytes:
    data = frame.data
    return data if isinstance(data, bytes) else bytes(data)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _host_port(address: Any) -> tuple[str, int] | None:
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]), int(address[1])
    return None


def _address(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "-"
