"""The direct write path (``phoenix_py.uvicorn.WebSocketProtocol``) against a real uvicorn,
side by side with plain ASGI where both must behave the same.

Under the direct path an open connection is adopted: uvicorn's protocol calls
phoenix_py for each message, the ASGI coroutine returns, and frames go out as
pre-built bytes once per event-loop pass. These tests pin what that must not
change: order (frames behind a slow join), close codes, cleanup, large frames;
and what it is for: no task per connection.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from examples.contract.app import create_app
from phoenix_py import Channel, ChannelReply, ConnectInfo, Endpoint, Socket, ok
from phoenix_py._socket_server import SocketServer

from ..waiting import eventually
from .servers import WS_MODES, ThreadedServer, serve


def masked(payload: bytes, opcode: int = 0x1) -> bytes:
    """One client frame (clients must mask)."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if len(payload) < 126:
        header = bytes([0x80 | opcode, 0x80 | len(payload)])
    else:
        header = bytes([0x80 | opcode, 0x80 | 126]) + len(payload).to_bytes(2, "big")
    return header + mask + body


def open_raw(port: int) -> socket.socket:
    """A raw client socket past the 101 response."""
    raw = socket.create_connection(("127.0.0.1", port))
    raw.settimeout(5)
    raw.sendall(
        f"GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while not response.endswith(b"\r\n\r\n"):
        response += raw.recv(1)
    assert b" 101 " in response.split(b"\r\n")[0]
    return raw


class SlowJoinChannel(Channel):
    async def join(self, topic: str, payload: Any) -> dict[str, Any]:
        await asyncio.sleep(0.3)
        return {"joined": topic}

    async def handle_in(self, event: str, payload: Any) -> ChannelReply:
        return ok({"echo": payload})


class SlowJoinSocket(Socket):
    channels = (("slow:*", SlowJoinChannel),)

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        return True


@pytest.mark.parametrize("ws", WS_MODES)
def test_frames_behind_a_slow_join_wait_for_it(ws: str) -> None:
    """As in Phoenix, the socket handles a join before the next frame: the push
    and the heartbeat sent during a 0.3 s join are answered after its reply."""
    endpoint = Endpoint()
    app = endpoint.socket_app(SlowJoinSocket, check_origin=False)

    async def scenario(port: int) -> list[Any]:
        async with websockets.connect(f"ws://127.0.0.1:{port}/websocket?vsn=2.0.0") as client:
            await client.send(json.dumps(["1", "1", "slow:a", "phx_join", {}]))
            await client.send(json.dumps(["1", "2", "slow:a", "ping", {"n": 1}]))
            await client.send(json.dumps([None, "3", "phoenix", "heartbeat", {}]))
            return [json.loads(await asyncio.wait_for(client.recv(), 5)) for _ in range(3)]

    with serve(app, ws) as server:
        frames = asyncio.run(scenario(server.port))
    assert frames[0] == [
        "1",
        "1",
        "slow:a",
        "phx_reply",
        {"response": {"joined": "slow:a"}, "status": "ok"},
    ]
    # The push goes on to the channel's mailbox, the heartbeat is the socket's: either may be first.
    assert sorted(frames[1:], key=lambda f: f[1]) == [
        ["1", "2", "slow:a", "phx_reply", {"response": {"echo": {"n": 1}}, "status": "ok"}],
        [None, "3", "phoenix", "phx_reply", {"response": {}, "status": "ok"}],
    ]


@pytest.mark.parametrize("ws", WS_MODES)
def test_invalid_utf8_text_closes_with_1007(ws: str) -> None:
    with serve(create_app(), ws) as server:
        raw = open_raw(server.port)
        try:
            raw.sendall(masked(b'["1","1","room:x",\xff]'))
            close = b""
            while len(close) < 4:
                chunk = raw.recv(4096)
                assert chunk, "closed without a close frame"
                close += chunk
        finally:
            raw.close()
    assert close[0] == 0x88  # a close frame
    assert int.from_bytes(close[2:4], "big") == 1007


def test_an_idle_direct_connection_has_no_task_and_cleans_up() -> None:
    """20 joined sockets: no task each under the direct path (one each under ASGI);
    after the clients leave, no socket, subscription or task remains."""
    clients_count = 20

    async def scenario(server: ThreadedServer) -> tuple[int, int, int, int]:
        endpoint: Endpoint = server.app.state.endpoint
        baseline = server.task_count()
        subscriptions = endpoint.pubsub.subscriber_count()  # the presence tracker's own
        clients = []
        for n in range(clients_count):
            client = await websockets.connect(server.url())
            await client.send(json.dumps(["1", "1", f"room:idle{n}", "phx_join", {}]))
            await asyncio.wait_for(client.recv(), 5)
            clients.append(client)
        await asyncio.sleep(0.2)
        tasks_while_open = server.task_count() - baseline
        sockets_while_open = len(endpoint._sockets)
        for client in clients:
            await client.close()
        for _ in range(100):
            await asyncio.sleep(0.05)
            if not endpoint._sockets and server.task_count() <= baseline:
                break
        left = len(endpoint._sockets) + endpoint.pubsub.subscriber_count() - subscriptions
        return tasks_while_open, sockets_while_open, left, server.task_count() - baseline

    results = {}
    for ws in WS_MODES:
        with serve(create_app(), ws) as server:
            results[ws] = asyncio.run(scenario(server))
    assert results["direct"][:2] == (0, clients_count)
    assert results["asgi"][0] >= clients_count
    assert results["direct"][2:] == (0, 0)
    assert results["asgi"][2:] == (0, 0)


@pytest.mark.parametrize("size", [100, 200, 70_000])
def test_broadcasts_of_every_length_encoding_arrive_intact(size: int) -> None:
    """7-bit, 16-bit and 64-bit payload lengths in the pre-built frame, with a
    websockets client checking the framing."""

    async def scenario(server: ThreadedServer) -> list[Any]:
        async with (
            websockets.connect(server.url(), max_size=None) as a,
            websockets.connect(server.url(), max_size=None) as b,
        ):
            for client in (a, b):
                await client.send(json.dumps(["1", "1", "room:sizes", "phx_join", {}]))
                await asyncio.wait_for(client.recv(), 5)
            body = "y" * size
            await a.send(json.dumps(["1", "2", "room:sizes", "shout", {"body": body}]))
            received = []
            while len(received) < 1:
                frame = json.loads(await asyncio.wait_for(b.recv(), 5))
                if frame[3] == "shout":
                    received.append(frame)
            return received

    with serve(create_app()) as server:
        (frame,) = asyncio.run(scenario(server))
    assert frame == [None, None, "room:sizes", "shout", {"body": "y" * size}]


def test_a_closed_connection_ignores_later_writes() -> None:
    """A broadcast racing a client's disconnect is dropped, not an error."""

    async def scenario(server: ThreadedServer) -> int:
        endpoint: Endpoint = server.app.state.endpoint
        client = await websockets.connect(server.url())
        await client.send(json.dumps(["1", "1", "room:race", "phx_join", {}]))
        await asyncio.wait_for(client.recv(), 5)
        await client.close()
        for n in range(50):
            server.call(endpoint.broadcast("room:race", "shout", {"n": n}))
        with pytest.raises(ConnectionClosed):
            await client.recv()
        await eventually(lambda: not endpoint._sockets)
        return len(endpoint._sockets)

    with serve(create_app()) as server:
        assert asyncio.run(scenario(server)) == 0


def test_an_error_handling_a_frame_closes_that_socket_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug below the adopted connection's callback must not reach uvicorn's
    data_received: that socket closes with 1011, the others carry on."""
    feed = SocketServer.feed

    def failing_feed(self: SocketServer, data: bytes | str, *, binary: bool) -> None:
        if data == "boom":
            raise RuntimeError("a bug")
        feed(self, data, binary=binary)

    monkeypatch.setattr(SocketServer, "feed", failing_feed)

    async def scenario(server: ThreadedServer) -> tuple[int | None, Any]:
        async with (
            websockets.connect(server.url()) as broken,
            websockets.connect(server.url()) as healthy,
        ):
            await broken.send("boom")
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(broken.recv(), 5)
            await healthy.send(json.dumps([None, "1", "phoenix", "heartbeat", {}]))
            reply = json.loads(await asyncio.wait_for(healthy.recv(), 5))
            return (closed.value.rcvd.code if closed.value.rcvd else None), reply

    with serve(create_app()) as server:
        code, reply = asyncio.run(scenario(server))
    assert code == 1011
    assert reply == [None, "1", "phoenix", "phx_reply", {"response": {}, "status": "ok"}]
