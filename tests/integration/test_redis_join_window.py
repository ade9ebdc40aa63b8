"""A join reply means the cluster routes the topic here: no window after it.

Node A serves the contract app (``examples/contract/app.py``, Redis namespace
``contract``) under a real uvicorn; node B is a ``PubSub(RedisAdapter(...))``
in the test process on the same real redis-server. A client joins 200 fresh
topics on A one after another, and as soon as it has a topic's ok join reply,
B broadcasts on that topic. Meanwhile three other clients keep A busy with
``echo`` pushes. Every one of the 200 broadcasts must reach the client: A
replies to a join only once Redis has confirmed its SUBSCRIBE
(``PubSub.subscribed``). Before that guarantee, the SUBSCRIBE could still be
on its way when B's publish reached Redis, and the broadcast was lost (1 to
23 of the 200 in every run, when this test was written).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from examples.contract.app import ContractSocket, create_app
from phoenix_py import Broadcast, PubSub
from phoenix_py.pubsub.redis import RedisAdapter

from ..redis_server import RedisServer, redis_server
from .servers import ThreadedServer, serve

TOPICS = 200
FLOODERS = 3  # clients keeping node A busy
FLOOD_BATCH = 10  # echo pushes in flight from each of them


@pytest.fixture()
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture()
def node_a(redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedServer]:
    """The contract app on Redis, without its admission limits: 200 joined topics on
    one socket, and a flood of pushes on another, are what this test is made of."""
    monkeypatch.setattr(ContractSocket, "max_channels", TOPICS)
    monkeypatch.setattr(ContractSocket, "join_rate", None)
    monkeypatch.setattr(ContractSocket, "message_rate", None)
    with serve(create_app(redis.url)) as server:
        yield server


async def flood(url: str, stop: asyncio.Event) -> int:
    """Keep node A busy: ``echo`` pushes in batches, each batch's replies read back."""
    sent = 0
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps(["1", "1", "room:flood", "phx_join", {}]))
        await ws.recv()
        while not stop.is_set():
            for _ in range(FLOOD_BATCH):
                sent += 1
                await ws.send(json.dumps(["1", str(sent), "room:flood", "echo", {"n": sent}]))
            for _ in range(FLOOD_BATCH):
                await ws.recv()
    return sent


def test_a_broadcast_right_after_the_join_reply_is_not_lost(
    redis: RedisServer, node_a: ThreadedServer
) -> None:
    async def scenario() -> None:
        node_b = PubSub(RedisAdapter(redis.url, namespace="contract", node_name="node-b"))
        await node_b.start()
        stop = asyncio.Event()
        flooding = asyncio.gather(*(flood(node_a.url(), stop) for _ in range(FLOODERS)))
        prefix = f"room:window-{uuid.uuid4().hex[:8]}"
        topics = [f"{prefix}-{n}" for n in range(TOPICS)]
        received: set[str] = set()
        try:
            async with websockets.connect(node_a.url()) as ws:

                async def frame() -> Any:
                    raw = await asyncio.wait_for(ws.recv(), 5)
                    message = json.loads(raw)
                    if message[3] == "window":  # a broadcast from node B
                        received.add(message[2])
                    return message

                for n, topic in enumerate(topics):
                    ref = str(n + 1)
                    await ws.send(json.dumps([ref, ref, topic, "phx_join", {}]))
                    while (reply := await frame())[1] != ref:
                        pass
                    assert reply[3:] == [
                        "phx_reply",
                        {"status": "ok", "response": {"topic": topic, "user": None}},
                    ]
                    await node_b.broadcast(topic, Broadcast(topic, "window", {"n": n}))
                assert not flooding.done(), "the flooding clients stopped before the joins did"
                # The last broadcasts may still be on their way.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(3):
                        while len(received) < TOPICS:
                            await frame()
        finally:
            stop.set()
            echoes = sum(await flooding)
            await node_b.stop()
        missing = [topic for topic in topics if topic not in received]
        assert missing == [], (
            f"{len(missing)} of {TOPICS} broadcasts made right after the join reply were "
            f"lost (the flooding clients sent {echoes} echo pushes meanwhile)"
        )
        assert echoes > TOPICS  # node A was busy the whole time

    asyncio.run(scenario())
