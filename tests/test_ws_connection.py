"""``_ws_connection.WebSocketConnection`` without a network: a websockets
``ClientProtocol`` (a real peer's state machine) on one side, an in-memory
transport on the other, an ASGI app in between.

Covers the handshake through ASGI (accept, refusals, denial responses, an app
that never answers), messages both ways, fragmentation, control frames, the
close handshake, bad input (invalid UTF-8, an oversized message), adoption
by phoenix_py (the direct path), shutdown, keepalive pings, and that a
failing callback never leaks the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from phoenix_py._ws_asgi import ClientDisconnected
from phoenix_py._ws_connection import ServerContext, WebSocketConnection
from phoenix_py.types import DIRECT_WRITE

pytestmark = pytest.mark.anyio

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class MemoryTransport(asyncio.Transport):
    """Records what the server writes; closing it tells the protocol, as asyncio does."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False
        self.reading = True
        self.protocol: asyncio.Protocol | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closing, "write after close"
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            assert self.protocol is not None
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.9", 5555), "sockname": ("127.0.0.1", 4000)}.get(name, default)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_write_buffer_size(self) -> int:
        return 0


class Peer:
    """A client (websockets' ClientProtocol) wired to a server connection in memory."""

    def __init__(self, app: App, **context: Any) -> None:
        self.connections: set[Any] = set()
        self.context = ServerContext(
            app=app,
            connections=self.connections,
            default_headers=lambda: [(b"server", b"test")],
            **context,
        )
        self.server = WebSocketConnection(self.context)
        self.transport = MemoryTransport()
        self.transport.protocol = self.server
        self.uri = parse_uri("ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0")
        self.client = ClientProtocol(self.uri)
        self.server.connection_made(self.transport)

    def handshake(self, *, offer_deflate: bool = False, subprotocols: tuple[str, ...] = ()) -> None:
        if subprotocols:
            self.client = ClientProtocol(self.uri, subprotocols=[*subprotocols])
        request = self.client.connect()
        if offer_deflate:
            request.headers["Sec-WebSocket-Extensions"] = "permessage-deflate"
        self.client.send_request(request)
        self.to_server()

    def to_server(self, chunks: list[int] | None = None) -> None:
        data = b"".join(self.client.data_to_send())
        if chunks is None:
            self.server.data_received(data)
            return
        start = 0
        for size in chunks:  # the same bytes, cut where the network might
            if start < len(data):
                self.server.data_received(data[start : start + size])
            start += size
        if start < len(data):
            self.server.data_received(data[start:])

    def from_server(self) -> list[Any]:
        data, self.transport.written = bytes(self.transport.written), bytearray()
        self.client.receive_data(data)
        return list(self.client.events_received())


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def echo_app(received: list[dict[str, Any]]) -> App:
    """Accepts (echoing the first subprotocol), records every event, echoes messages."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        subprotocols = scope["subprotocols"]
        await send(
            {"type": "websocket.accept", "subprotocol": subprotocols[0] if subprotocols else None}
        )
        while True:
            event = await receive()
            received.append(event)
            if event["type"] == "websocket.disconnect":
                return
            if "text" in event:
                await send({"type": "websocket.send", "text": event["text"]})
            else:
                await send({"type": "websocket.send", "bytes": event["bytes"]})

    return app


class TestHandshake:
    async def test_accept_gives_101_without_compression_and_with_the_subprotocol(self) -> None:
        peer = Peer(echo_app([]))
        peer.handshake(offer_deflate=True, subprotocols=("phoenix", "other"))
        await settle()
        [response] = peer.from_server()
        assert isinstance(response, Response) and response.status_code == 101
        assert response.headers["Sec-WebSocket-Protocol"] == "phoenix"
        assert response.headers["server"] == "test"
        assert "Sec-WebSocket-Extensions" not in response.headers  # deflate declined
        assert peer.client.handshake_exc is None and peer.client.state is State.OPEN

    async def test_scope(self) -> None:
        scopes: list[dict[str, Any]] = []

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            scopes.append(scope)
            await send({"type": "websocket.close"})

        peer = Peer(app, root_path="/root", state={"db": 1})
        peer.handshake(subprotocols=("a", "b"))
        await settle()
        [scope] = scopes
        assert scope["type"] == "websocket"
        assert scope["path"] == "/root/socket/websocket"
        assert scope["query_string"] == b"vsn=2.0.0"
        assert scope["client"] == ("127.0.0.9", 5555)
        assert scope["server"] == ("127.0.0.1", 4000)
        assert scope["subprotocols"] == ["a", "b"]
        assert scope["state"] == {"db": 1}
        assert (b"host", b"127.0.0.1:4000") in scope["headers"]
        assert scope["extensions"][DIRECT_WRITE]["connection"] is peer.server

    @pytest.mark.parametrize(
        ("messages", "status", "body"),
        [
            ([{"type": "websocket.close"}], 403, b""),
            (
                [
                    {"type": "websocket.http.response.start", "status": 401, "headers": []},
                    {"type": "websocket.http.response.body", "body": b"no", "more_body": True},
                    {"type": "websocket.http.response.body", "body": b"pe"},
                ],
                401,
                b"nope",
            ),
            ([], 500, b"Internal Server Error\n"),
        ],
        ids=["close-before-accept", "denial-response", "no-answer"],
    )
    async def test_refusals(self, messages: list[dict[str, Any]], status: int, body: bytes) -> None:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            for message in messages:
                await send(message)

        peer = Peer(app)
        peer.handshake()
        await settle()
        [response] = peer.from_server()
        assert (response.status_code, response.body) == (status, body)
        assert peer.transport.closing and peer.connections == set()

    async def test_an_app_that_raises_gets_a_500(self, caplog: pytest.LogCaptureFixture) -> None:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            raise RuntimeError("boom")

        peer = Peer(app)
        peer.handshake()
        await settle()
        [response] = peer.from_server()
        assert response.status_code == 500
        assert "exception in ASGI application" in caplog.text

    async def test_a_request_that_is_no_upgrade_is_answered_without_the_app(self) -> None:
        called: list[Any] = []

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            called.append(scope)

        peer = Peer(app)
        peer.server.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await settle()
        assert peer.transport.written.startswith(b"HTTP/1.1 426 ")
        assert called == [] and peer.transport.closing

    async def test_frames_sent_before_the_101_are_kept(self) -> None:
        received: list[dict[str, Any]] = []
        peer = Peer(echo_app(received))
        peer.handshake()  # the app has not run yet: the 101 is not sent
        peer.client.state = State.OPEN  # a client that does not wait for it
        peer.client.send_text(b"early")
        peer.to_server()
        await settle()
        assert received == [{"type": "websocket.receive", "text": "early"}]


class TestMessages:
    async def test_echo_text_and_binary(self) -> None:
        received: list[dict[str, Any]] = []
        peer = Peer(echo_app(received))
        peer.handshake()
        await settle()
        peer.from_server()
        peer.client.send_text("héllo".encode())
        peer.client.send_binary(b"\x00\x01")
        peer.to_server()
        await settle()
        frames = peer.from_server()
        assert [(f.opcode, f.data) for f in frames] == [
            (Opcode.TEXT, "héllo".encode()),
            (Opcode.BINARY, b"\x00\x01"),
        ]
        assert received == [
            {"type": "websocket.receive", "text": "héllo"},
            {"type": "websocket.receive", "bytes": b"\x00\x01"},
        ]

    @settings(max_examples=60, deadline=None)
    @given(
        messages=st.lists(
            st.tuples(st.binary(max_size=300), st.booleans(), st.integers(1, 4)),
            min_size=1,
            max_size=8,
        ),
        chunks=st.lists(st.integers(1, 64), max_size=40),
    )
    def test_any_fragmentation_and_any_cut_give_the_same_messages(
        self, messages: list[tuple[bytes, bool, int]], chunks: list[int]
    ) -> None:
        """Messages sent in 1-4 frames each, the byte stream cut anywhere."""

        async def go() -> list[dict[str, Any]]:
            received: list[dict[str, Any]] = []
            peer = Peer(echo_app(received))
            peer.handshake()
            await settle()
            peer.from_server()
            for data, binary, parts in messages:
                payload = data if binary else data.hex().encode()
                size = max(1, -(-len(payload) // parts))
                pieces = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
                for index, piece in enumerate(pieces):
                    fin = index == len(pieces) - 1
                    if index:
                        peer.client.send_continuation(piece, fin=fin)
                    elif binary:
                        peer.client.send_binary(piece, fin=fin)
                    else:
                        peer.client.send_text(piece, fin=fin)
            peer.to_server(chunks)
            await settle()
            return received

        received = asyncio.run(go())
        expected = [
            {"type": "websocket.receive", "bytes": data}
            if binary
            else {"type": "websocket.receive", "text": data.hex()}
            for data, binary, _ in messages
        ]
        assert received == expected

    async def test_a_ping_is_answered_with_a_pong(self) -> None:
        peer = Peer(echo_app([]))
        peer.handshake()
        await settle()
        peer.from_server()
        peer.client.send_ping(b"hi")
        peer.to_server()
        [pong] = peer.from_server()
        assert (pong.opcode, pong.data) == (Opcode.PONG, b"hi")

    async def test_the_client_closes(self) -> None:
        received: list[dict[str, Any]] = []
        peer = Peer(echo_app(received))
        peer.handshake()
        await settle()
        peer.from_server()
        peer.client.send_close(4000, "bye")
        peer.to_server()
        await settle()
        assert received == [{"type": "websocket.disconnect", "code": 4000}]
        [close] = peer.from_server()
        assert close.opcode is Opcode.CLOSE and peer.transport.closing
        assert peer.connections == set()

    @pytest.mark.parametrize(
        ("send", "code"),
        [
            (lambda client: client.send_text(b"\xff\xfe"), 1007),
            (lambda client: client.send_binary(b"x" * 2000), 1009),
        ],
        ids=["invalid-utf8", "too-big"],
    )
    async def test_bad_input_closes_with_a_code(
        self, send: Callable[[ClientProtocol], None], code: int
    ) -> None:
        received: list[dict[str, Any]] = []
        peer = Peer(echo_app(received), max_size=1000)
        peer.handshake()
        await settle()
        peer.from_server()
        send(peer.client)
        peer.to_server()
        await settle()
        frames = [event for event in peer.from_server() if isinstance(event, Frame)]
        assert frames[-1].opcode is Opcode.CLOSE
        assert int.from_bytes(frames[-1].data[:2], "big") == code
        assert received == [{"type": "websocket.disconnect", "code": code}]

    async def test_send_after_the_close_raises(self) -> None:
        errors: list[BaseException] = []

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1000})
            try:
                await send({"type": "websocket.send", "text": "late"})
            except ClientDisconnected as exc:
                errors.append(exc)

        peer = Peer(app)
        peer.handshake()
        await settle()
        assert len(errors) == 1

    async def test_an_app_that_returns_closes_with_1000(self) -> None:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})

        peer = Peer(app)
        peer.handshake()
        await settle()
        close = peer.from_server()[-1]
        assert close.opcode is Opcode.CLOSE and close.data[:2] == (1000).to_bytes(2, "big")


class TestKeepalive:
    async def test_pings_then_closes_without_a_pong(self) -> None:
        peer = Peer(echo_app([]), ping_interval=0.02, ping_timeout=0.02)
        peer.handshake()
        await settle()
        peer.from_server()
        await asyncio.sleep(0.03)
        [ping] = peer.from_server()
        assert ping.opcode is Opcode.PING
        await asyncio.sleep(0.05)  # no pong
        [close] = peer.from_server()
        assert close.opcode is Opcode.CLOSE and close.data[:2] == (1011).to_bytes(2, "big")

    async def test_a_pong_keeps_it_open(self) -> None:
        peer = Peer(echo_app([]), ping_interval=0.02, ping_timeout=0.05)
        peer.handshake()
        await settle()
        peer.from_server()
        for _ in range(3):
            await asyncio.sleep(0.03)
            events = peer.from_server()
            assert [event.opcode for event in events] == [Opcode.PING]
            peer.to_server()  # the client's automatic pong
        assert not peer.transport.closing


def adopting_app(log: list[Any], *, fail_on_close: bool = False) -> App:
    """Accepts and adopts the connection, as phoenix_py's socket transport does."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        connection = scope["extensions"][DIRECT_WRITE]["connection"]

        def on_close() -> None:
            log.append("closed")
            if fail_on_close:
                raise RuntimeError("a bug in on_close")

        connection.adopt(
            lambda data, binary: log.append((data, binary)),
            on_close,
            lambda: log.append("w"),
            lambda: log.append("read"),
        )
        log.append(connection)

    return app


class TestDirectPath:
    async def test_adopted_messages_writes_and_close(self) -> None:
        log: list[Any] = []
        peer = Peer(adopting_app(log), ping_interval=0.01)
        peer.handshake()
        await settle()
        peer.from_server()
        connection = log.pop()
        log.clear()  # what adopt itself reported
        peer.client.send_text(b"one")
        peer.client.send_binary(b"two")
        peer.to_server()
        assert log == [("one", False), (b"two", True), "read"]
        log.remove("read")
        # Whole server frames, written as they are (what Frame.wire holds).
        assert connection.write_frames(b"\x81\x02hi") == 0
        [frame] = peer.from_server()
        assert (frame.opcode, frame.data) == (Opcode.TEXT, b"hi")
        await asyncio.sleep(0.03)
        assert peer.from_server() == []  # no pings once adopted
        connection.close(1001, "idle")
        [close] = peer.from_server()
        assert close.data[:2] == (1001).to_bytes(2, "big")
        assert connection.write_frames(b"\x81\x00") == -1
        peer.to_server()  # the client answers the close
        await settle()
        assert log[-1] == "closed" and log.count("closed") == 1
        assert peer.connections == set()

    async def test_a_failing_on_close_never_leaks_the_connection(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        log: list[Any] = []
        peer = Peer(adopting_app(log, fail_on_close=True))
        peer.handshake()
        await settle()
        peer.server.connection_lost(ConnectionResetError())
        assert "closed" in log
        assert peer.connections == set()  # the server's shutdown does not wait on it
        assert "a connection callback failed" in caplog.text

    async def test_a_failing_on_message_closes_that_connection_with_1011(self) -> None:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})

            def on_message(data: str | bytes, binary: bool) -> None:
                raise ValueError("a bug")

            connection = scope["extensions"][DIRECT_WRITE]["connection"]
            connection.adopt(on_message, lambda: None, lambda: None, lambda: None)

        peer = Peer(app)
        peer.handshake()
        await settle()
        peer.from_server()
        peer.client.send_text(b"x")
        peer.to_server()  # the error does not reach data_received's caller
        [close] = peer.from_server()
        assert close.data[:2] == (1011).to_bytes(2, "big")

    async def test_shutdown_closes_with_1012(self) -> None:
        log: list[Any] = []
        peer = Peer(adopting_app(log))
        peer.handshake()
        await settle()
        peer.from_server()
        peer.server.shutdown()
        [close] = peer.from_server()
        assert close.data[:2] == (1012).to_bytes(2, "big")
        assert peer.transport.closing
        await settle()
        assert log.count("closed") == 1 and peer.connections == set()

    async def test_shutdown_during_the_handshake_answers_503(self) -> None:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await asyncio.sleep(10)

        peer = Peer(app)
        peer.handshake()
        peer.server.shutdown()
        [response] = peer.from_server()
        assert response.status_code == 503


def test_logs_stay_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """websockets' per-connection INFO lines ("connection open") are not the server's."""
    caplog.set_level(logging.INFO)

    async def go() -> None:
        peer = Peer(echo_app([]))
        peer.handshake()
        await settle()

    asyncio.run(go())
    assert "connection open" not in caplog.text
