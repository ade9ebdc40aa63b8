"""The ASGI side of a server WebSocket connection: the scope, ``receive`` and ``send``.

``_ws_connection.WebSocketConnection`` parses the bytes; this runs the ASGI
app for one connection and turns its messages into calls on the connection
(``Wire``): ``websocket.accept``, a refusal (``websocket.close`` before the
accept: 403, or a ``websocket.http.response`` denial), ``websocket.send`` and
``websocket.close``. Received messages wait in a bounded inbox until the app
reads them; reading pauses while it is full. The connection is pinged every
``ping_interval`` seconds, and closed (1011) when a pong does not come back
within ``ping_timeout``, until phoenix_py adopts it (``detach``).

Invariants:

* The first event ``receive`` returns is ``websocket.connect``; the last is
  ``websocket.disconnect``, repeated for any later call.
* A handshake the app neither accepted nor refused is answered with 500.
* ``send`` on a connection that has closed raises ``ClientDisconnected``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from typing import Any, Protocol
from urllib.parse import unquote

from websockets.http11 import Request

from .types import DIRECT_WRITE

logger = logging.getLogger("phoenix_py.websocket")


class ClientDisconnected(OSError):
    """ASGI ``send`` on a connection that has closed (the spec asks for an OSError)."""


class Wire(Protocol):
    """What the ASGI side calls on the connection (``WebSocketConnection``)."""

    label: str

    @property
    def open(self) -> bool:
        """Accepted, and neither closing nor lost: messages may be sent."""
        ...

    @property
    def answered(self) -> bool:
        """The handshake was answered (accepted or refused)."""
        ...

    @property
    def adopted(self) -> bool:
        """phoenix_py took the connection over (the direct path)."""
        ...

    def accept(self, headers: list[tuple[bytes, bytes]], subprotocol: str | None) -> None:
        """Answer the handshake with 101."""
        ...

    def refuse(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """Answer the handshake with an HTTP response and close."""
        ...

    def send_message(self, data: bytes, binary: bool) -> None:
        """Send one text (UTF-8 ``data``) or binary message."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake."""
        ...

    def ping(self, payload: bytes) -> None:
        """Send a ping frame."""
        ...

    def pause_reading(self) -> None:
        """Stop reading from the client until ``resume_reading``."""
        ...

    def resume_reading(self) -> None:
        """Read from the client again."""
        ...

    async def writable(self) -> bool:
        """Wait while the client is behind; ``False`` once the connection is lost."""
        ...


def make_scope(
    request: Request,
    *,
    scheme: str,
    server: tuple[str, int] | None,
    client: tuple[str, int] | None,
    root_path: str,
    state: dict[str, Any],
    connection: Any,
) -> dict[str, Any]:
    """The ASGI ``websocket`` scope of a handshake ``request`` (spec 2.4), offering
    ``connection`` under ``DIRECT_WRITE`` for phoenix_py to adopt."""
    raw_path, _, query = request.path.partition("?")
    subprotocols = [
        token.strip()
        for header in request.headers.get_all("Sec-WebSocket-Protocol")
        for token in header.split(",")
        if token.strip()
    ]
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": scheme,
        "server": server,
        "client": client,
        "root_path": root_path,
        "path": root_path + unquote(raw_path),
        "raw_path": (root_path + raw_path).encode("ascii", "replace"),
        "query_string": query.encode("ascii", "replace"),
        "headers": [
            (name.lower().encode("ascii"), _header_bytes(value))
            for name, value in request.headers.raw_items()
        ],
        "subprotocols": subprotocols,
        "state": dict(state),
        "extensions": {"websocket.http.response": {}, DIRECT_WRITE: {"connection": connection}},
    }


class AsgiSession:
    """One connection's ASGI app call; see the module docs.

    Args:
        wire: the connection.
        max_queue: received messages the app may leave unread before reading pauses.
        ping_interval, ping_timeout: keepalive, seconds; ``None`` or 0: off.
    """

    def __init__(
        self,
        wire: Wire,
        max_queue: int,
        ping_interval: float | None,
        ping_timeout: float | None,
    ) -> None:
        self._wire = wire
        self._max_queue = max_queue
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_payload: bytes | None = None
        self._detached = False
        self._inbox: deque[dict[str, Any]] = deque([{"type": "websocket.connect"}])
        self._waiter: asyncio.Future[None] | None = None  # while the app waits in receive
        self._paused = False
        self._disconnected = False
        self._denial: tuple[int, list[tuple[bytes, bytes]], list[bytes]] | None = None

    # From the connection

    def push(self, data: str | bytes, binary: bool) -> None:
        """A message from the client, for the app's next ``receive``."""
        if binary:
            self._inbox.append({"type": "websocket.receive", "bytes": data})
        else:
            self._inbox.append({"type": "websocket.receive", "text": data})
        self._wake()
        if len(self._inbox) >= self._max_queue and not self._paused:
            self._paused = True
            self._wire.pause_reading()

    def disconnected(self, code: int) -> None:
        self._stop_pings()
        if not self._disconnected:
            self._disconnected = True
            self._inbox.append({"type": "websocket.disconnect", "code": code})
            self._wake()

    def pong(self, payload: bytes) -> None:
        if self._ping_payload is not None and payload == self._ping_payload:
            self._ping_payload = None
            self._stop_pings()
            self._schedule_ping()

    def detach(self) -> list[tuple[str | bytes, bool]]:
        """phoenix_py adopts the connection: no more pings; the received messages
        the app has not read, for the adopter."""
        self._detached = True
        self._stop_pings()
        taken: list[tuple[str | bytes, bool]] = []
        kept: deque[dict[str, Any]] = deque()
        for event in self._inbox:
            if event["type"] == "websocket.receive":
                text = event.get("text")
                taken.append((event["bytes"], True) if text is None else (text, False))
            else:
                kept.append(event)
        self._inbox = kept
        return taken

    # The app

    async def run(self, app: Any, scope: dict[str, Any]) -> None:
        try:
            await app(scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except Exception:
            logger.exception("%s: exception in ASGI application", self._wire.label)
            self._end(1011)
            return
        self._end(1000)

    def _end(self, code: int) -> None:
        wire = self._wire
        if not wire.answered:
            if code == 1000:
                logger.error("%s: ASGI app returned without accepting or refusing", wire.label)
            wire.refuse(500, [], b"Internal Server Error\n")
        elif not wire.adopted:
            wire.close(code, "")  # the app is done with the connection

    async def receive(self) -> dict[str, Any]:
        while not self._inbox:
            if self._disconnected:
                return {"type": "websocket.disconnect", "code": 1006}
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        event = self._inbox.popleft()
        if self._paused and len(self._inbox) < self._max_queue // 2:
            self._paused = False
            self._wire.resume_reading()
        return event

    async def send(self, message: dict[str, Any]) -> None:
        wire = self._wire
        if not await wire.writable():
            raise ClientDisconnected(f"{wire.label}: the connection is closed")
        kind = message["type"]
        if not wire.answered:
            if self._denial is not None:
                self._denial_body(self._denial, message)
            elif kind == "websocket.accept":
                wire.accept(list(message.get("headers", [])), message.get("subprotocol"))
                # On the next pass, unless phoenix_py adopts the connection first.
                asyncio.get_running_loop().call_soon(self._schedule_ping)
            elif kind == "websocket.close":
                wire.refuse(403, [], b"")
            elif kind == "websocket.http.response.start":
                self._denial = (message["status"], list(message.get("headers", [])), [])
            else:
                raise RuntimeError(f"ASGI message {kind!r} before websocket.accept")
            return
        if not wire.open:
            raise ClientDisconnected(f"{wire.label}: the connection is closing")
        if kind == "websocket.send":
            data = message.get("bytes")
            if data is not None:
                wire.send_message(data, True)
            else:
                wire.send_message(message["text"].encode(), False)
        elif kind == "websocket.close":
            wire.close(message.get("code", 1000), message.get("reason") or "")
        else:
            raise RuntimeError(f"ASGI message {kind!r} on an open WebSocket")

    def _denial_body(
        self, denial: tuple[int, list[tuple[bytes, bytes]], list[bytes]], message: dict[str, Any]
    ) -> None:
        if message["type"] != "websocket.http.response.body":
            raise RuntimeError(f"ASGI message {message['type']!r} in a denial response")
        status, headers, body = denial
        body.append(message.get("body", b""))
        if not message.get("more_body", False):
            self._wire.refuse(status, headers, b"".join(body))

    # Keepalive

    def _schedule_ping(self) -> None:
        interval = self._ping_interval
        if interval and not self._detached and not self._disconnected:
            self._ping_timer = asyncio.get_running_loop().call_later(interval, self._ping)

    def _ping(self) -> None:
        if not self._wire.open:
            return
        self._ping_payload = os.urandom(4)
        self._wire.ping(self._ping_payload)
        if self._ping_timeout:
            loop = asyncio.get_running_loop()
            self._ping_timer = loop.call_later(self._ping_timeout, self._ping_timed_out)
        else:
            self._ping_payload = None
            self._schedule_ping()

    def _ping_timed_out(self) -> None:
        if self._ping_payload is not None:
            self._wire.close(1011, "keepalive ping timeout")

    def _stop_pings(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        self._ping_payload = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _header_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")  # websockets >= 17 decodes headers as latin-1
    except UnicodeEncodeError:
        return value.encode("ascii", "surrogateescape")  # earlier: surrogate escapes
