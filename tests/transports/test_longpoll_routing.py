"""LongPoll without sticky sessions: two nodes of one in-memory cluster, in one
event loop, each serving HTTP through httpx's ASGI transport. A request that
reaches the node not holding its session is answered through the pubsub as if
local (PHOENIX_PROTOCOL.md §4.2); a dead owner means a missing session."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from phoenix_py import (
    Channel,
    ChannelReply,
    Endpoint,
    LongPollOptions,
    MemoryAdapter,
    MemoryHub,
    PubSub,
    Socket,
    reply_with,
)
from phoenix_py.pubsub.codec import NodeCodec
from phoenix_py.transports._longpoll_routing import (
    PollAnswer,
    PollRequest,
    PublishAnswer,
    PublishRequest,
    RequestAccepted,
    SessionMissing,
)

pytestmark = pytest.mark.anyio

SECRET = "a secret shared by both nodes of the test cluster"
WINDOW = 0.3
PUBSUB_TIMEOUT = 0.3
NDJSON = {"content-type": "application/x-ndjson"}


class RoomChannel(Channel):
    async def join(self, topic: str, payload: Any) -> dict[str, Any]:
        return {"node": self.socket.assigns["node"]}

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "shout":
            await self.broadcast("shout", payload)
        return reply_with("ok", payload)


def node_socket(node: str) -> type[Socket]:
    class NodeSocket(Socket):
        channels = (("room:*", RoomChannel),)

        async def connect(self, params: dict[str, Any], connect_info: Any) -> bool:
            self.assigns["node"] = node
            return True

    NodeSocket.__qualname__ = "NodeSocket"  # one handler: same token namespace on every node
    return NodeSocket


@dataclass
class Node:
    name: str
    endpoint: Endpoint
    http: httpx.AsyncClient

    async def get(self, token: str | None = None) -> Any:
        params = {"vsn": "2.0.0", **({"token": token} if token else {})}
        response = await self.http.get("/socket/longpoll", params=params)
        assert response.status_code == 200
        return response.json()

    async def post(self, token: str, *frames: Any) -> Any:
        body = "\n".join(json.dumps(frame) for frame in frames)
        response = await self.http.post(
            "/socket/longpoll",
            params={"vsn": "2.0.0", "token": token},
            content=body,
            headers=NDJSON,
        )
        assert response.status_code == 200
        return response.json()


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[Node, Node]]:
    hub = MemoryHub()
    options = LongPollOptions(window=WINDOW, pubsub_timeout=PUBSUB_TIMEOUT)
    made = []
    for name in ("a", "b"):
        endpoint = Endpoint(PubSub(MemoryAdapter(name, hub)), secret_key=SECRET)
        app = Starlette(
            routes=[Mount("/socket", app=endpoint.socket_app(node_socket(name), longpoll=options))]
        )
        await endpoint.startup()
        transport = httpx.ASGITransport(app=app)
        made.append(
            Node(name, endpoint, httpx.AsyncClient(transport=transport, base_url="http://t"))
        )
    try:
        yield made[0], made[1]
    finally:
        for node in made:
            await node.http.aclose()
            await node.endpoint.shutdown(grace=0.5)


def decoded(body: Any) -> list[Any]:
    return [json.loads(message) for message in body["messages"]]


async def test_requests_on_either_node_reach_the_session(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    token = (await a.get())["token"]  # the session lives on a
    assert await b.post(token, ["1", "1", "room:1", "phx_join", {}]) == {"status": 200}
    body = await b.get(token)
    assert (body["status"], body["token"]) == (200, token)
    assert decoded(body) == [
        ["1", "1", "room:1", "phx_reply", {"response": {"node": "a"}, "status": "ok"}]
    ]
    assert await a.post(token, ["1", "2", "room:1", "shout", {"n": 1}]) == {"status": 200}
    assert [m[3] for m in decoded(await b.get(token))] == ["shout", "phx_reply"]
    assert b.endpoint.socket_count == 0  # nothing was created on b
    assert a.endpoint.socket_count == 1


async def test_a_forwarded_poll_waits_for_the_window(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    token = (await a.get())["token"]
    started = time.monotonic()
    assert await b.get(token) == {"status": 204, "token": token, "messages": []}
    assert WINDOW - 0.05 <= time.monotonic() - started < WINDOW + PUBSUB_TIMEOUT


async def test_a_session_missing_on_a_live_owner_is_known_at_once(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    token = (await a.get())["token"]
    [server] = a.endpoint._sockets
    server.close(1001, "gone")
    started = time.monotonic()
    assert await b.post(token, [None, "1", "phoenix", "heartbeat", {}]) == {"status": 410}
    body = await b.get(token)
    assert body["status"] == 410 and body["token"] != token  # a new session, on b
    assert time.monotonic() - started < PUBSUB_TIMEOUT
    assert b.endpoint.socket_count == 1


async def test_a_dead_owner_means_a_missing_session_after_the_pubsub_timeout(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    token = (await a.get())["token"]
    await a.endpoint.pubsub.adapter.stop()  # a leaves the cluster without a word
    started = time.monotonic()
    assert await b.post(token, [None, "1", "phoenix", "heartbeat", {}]) == {"status": 410}
    assert PUBSUB_TIMEOUT - 0.05 <= time.monotonic() - started < PUBSUB_TIMEOUT + 0.3
    body = await b.get(token)
    assert body["status"] == 410 and body["token"] != token


async def test_the_owner_answers_only_for_sessions_it_signed(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    token = (await a.get())["token"]
    version, payload, mac = token.split(".")
    forged = f"{version}.{payload}.{mac[:-4]}AAAA"
    assert await b.post(forged, [None, "1", "phoenix", "heartbeat", {}]) == {"status": 410}


@pytest.mark.parametrize(
    "message",
    [
        PollRequest("r1", "node-b", "s1"),
        PublishRequest("r2", "node-b", "s1", [(b'["1","1","t","e",{}]', False), (b"\x00", True)]),
        RequestAccepted("r3"),
        SessionMissing("r4"),
        PollAnswer("r5", ['["1","1","t","phx_reply",{}]']),
        PublishAnswer("r6", 408),
    ],
)
def test_messages_travel_through_the_node_codec(message: Any) -> None:
    pubsub = PubSub()
    Endpoint(pubsub).socket_app(node_socket("a"), longpoll=True)  # registers the types
    assert pubsub.codec.decode(pubsub.codec.encode("node-a", "phx_longpoll", message)) == (
        "node-a",
        "phx_longpoll",
        message,
    )
    with pytest.raises(TypeError, match="register"):
        NodeCodec().encode("node-a", "phx_longpoll", message)
