"""uvicorn's WebSocket protocol with phoenix_py's direct path (the fanout fast path).

Run an app with it::

    import uvicorn
    from phoenix_py.uvicorn import WebSocketProtocol

    uvicorn.run(app, ws=WebSocketProtocol, ws_ping_interval=None)

It is uvicorn's default protocol (``websockets-sansio``) that also offers the
connection to phoenix_py through an ASGI scope extension. phoenix_py then
adopts the open connection: uvicorn calls it for each message and the ASGI
coroutine returns (no task, queue or coroutine stack waits per connection),
and each broadcast's pre-built WebSocket frame is written straight to the
socket's asyncio transport, once per event-loop pass, instead of one ASGI
``send`` per frame and subscriber. The handshake, frame parsing, pings and
the close handshake stay uvicorn's. Without this class, or under another
server, phoenix_py uses plain ASGI. (``ws_ping_interval=None``: phoenix.js
heartbeats, and the socket's idle timeout closes silent connections.)

Tied to uvicorn's ``WebSocketsSansIOProtocol`` internals; tested with the
uvicorn version ``pyproject.toml`` allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .transports.websocket import DIRECT_WRITE

__all__ = ["WebSocketProtocol"]


class _Inbox:
    """The part of ``asyncio.Queue`` uvicorn's protocol uses, for one reader.

    An ``asyncio.Queue`` holds four deques (about 3 kB) per connection; this
    holds a list and, while the app waits, one future.
    """

    __slots__ = ("_items", "_waiter", "consumer")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None
        self.consumer: Callable[[Any], None] | None = None  # set: events bypass the queue

    def put_nowait(self, item: Any) -> None:
        if self.consumer is not None:
            self.consumer(item)
            return
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def take_all(self) -> list[Any]:
        items, self._items = self._items, []
        return items


class _WritableFlag:
    """The part of ``asyncio.Event`` uvicorn's protocol uses for ``writable``, minus its deque."""

    __slots__ = ("_waiters", "value")

    def __init__(self) -> None:
        self.value = True
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self.value

    def set(self) -> None:
        self.value = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self.value = False

    async def wait(self) -> None:
        while not self.value:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """``uvicorn.run(app, ws=WebSocketProtocol)``: see the module's docstring."""

    _on_writable: Callable[[], None] | None = None
    _on_message: Callable[[str | bytes, bool], None] | None = None
    _on_close: Callable[[], None] | None = None
    queue: _Inbox  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lighter stand-ins for the asyncio objects uvicorn makes per connection.
        self.queue = _Inbox()
        self.writable = _WritableFlag()  # type: ignore[assignment]

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][DIRECT_WRITE] = {"connection": self}

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept":
            # The handshake's request and response are not read again: free them.
            del self.request, self.response

    @property
    def writing_paused(self) -> bool:
        return not self.writable.value  # type: ignore[attr-defined]

    def write_frames(self, data: bytes) -> int:
        transport = self.transport
        if self.close_sent or self.disconnected or transport.is_closing():
            return -1
        transport.write(data)
        return transport.get_write_buffer_size()

    def buffered_bytes(self) -> int:
        return self.transport.get_write_buffer_size()

    def on_writable(self, callback: Callable[[], None] | None) -> None:
        self._on_writable = callback

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._on_writable is not None:
            self._on_writable()

    # Adoption: phoenix_py reads the connection itself and the ASGI app returns.

    def adopt(
        self, on_message: Callable[[str | bytes, bool], None], on_close: Callable[[], None]
    ) -> None:
        self._on_message, self._on_close = on_message, on_close
        for event in self.queue.take_all():  # what arrived before the app adopted
            self._deliver_event(event)
        self.queue.consumer = self._deliver_event
        # The handshake's scope (headers and all) is not read again; keep what
        # uvicorn's log lines name a connection by.
        scope: dict[str, Any] = dict(self.scope)
        kept = ("type", "client", "root_path", "path", "query_string")
        self.scope = {key: scope[key] for key in kept if key in scope}  # type: ignore[assignment]
        if self.read_paused and not self.transport.is_closing():
            self.read_paused = False
            self.transport.resume_reading()

    def _deliver_event(self, event: Any) -> None:
        if event["type"] == "websocket.receive":
            if self._on_message is not None:
                text = event.get("text")
                self._on_message(event.get("bytes", b"") if text is None else text, text is None)
        elif event["type"] == "websocket.disconnect":
            on_close, self._on_close, self._on_message = self._on_close, None, None
            if on_close is not None:
                on_close()

    def send_receive_event_to_app(self) -> None:
        on_message = self._on_message
        if on_message is None:
            super().send_receive_event_to_app()
            return
        # Adopted: one call per message, no event dict, no pause/resume of reading.
        frames, self.frames = self.frames, []
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        if self.close_sent:
            return
        if self.curr_msg_data_type == "bytes":
            on_message(data, True)
            return
        try:
            text = data.decode()
        except UnicodeDecodeError:
            self.conn.send_close(1007, "invalid UTF-8")
            self.handle_parser_exception()
            return
        on_message(text, False)

    async def run_asgi(self) -> None:
        # uvicorn's, except that an adopted connection stays open when the app returns.
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self._on_close is None and self.close_timer is None:
            self.transport.close()
