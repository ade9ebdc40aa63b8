"""The Redis adapter against a real redis-server: several PubSub nodes, one cluster."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from phoenix_py import Broadcast, PubSub
from phoenix_py.pubsub.redis import RedisAdapter

from ..redis_server import RedisServer, redis_server


class Recorder:
    def __init__(self) -> None:
        self.received: list[Any] = []

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        self.received.append(message)


@pytest.fixture()
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


async def nodes(url: str, count: int, **options: Any) -> list[PubSub]:
    started = [PubSub(RedisAdapter(url, node_name=f"n{i}", **options)) for i in range(count)]
    for pubsub in started:
        await pubsub.start()
    return started


async def eventually(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def test_broadcast_reaches_every_node_once_in_order(redis: RedisServer) -> None:
    async def go() -> None:
        a, b, c = await nodes(redis.url, 3)
        recorders = [Recorder() for _ in range(3)]
        for pubsub, recorder in zip((a, b, c), recorders, strict=True):
            pubsub.subscribe("room:1", recorder)
        await asyncio.sleep(0.1)  # SUBSCRIBE reaches Redis
        for n in range(50):
            await a.broadcast("room:1", Broadcast("room:1", "n", {"n": n, "bin": b"\x00"}))
        expected = [Broadcast("room:1", "n", {"n": n, "bin": b"\x00"}) for n in range(50)]
        await eventually(lambda: all(len(r.received) == 50 for r in recorders))
        await asyncio.sleep(0.1)
        assert [r.received for r in recorders] == [expected] * 3
        for pubsub in (a, b, c):
            await pubsub.stop()

    asyncio.run(go())


def test_direct_broadcast_and_broadcast_from(redis: RedisServer) -> None:
    async def go() -> None:
        a, b, c = await nodes(redis.url, 3)
        sender, on_a, on_b, on_c = Recorder(), Recorder(), Recorder(), Recorder()
        a.subscribe("t", sender)
        a.subscribe("t", on_a)
        b.subscribe("t", on_b)
        c.subscribe("t", on_c)
        await asyncio.sleep(0.1)
        await a.direct_broadcast("n2", "t", Broadcast("t", "direct", {}))
        await a.broadcast_from(sender, "t", Broadcast("t", "from", {}))
        await eventually(lambda: len(on_c.received) == 2 and len(on_b.received) == 1)
        await asyncio.sleep(0.1)
        assert [m.event for m in on_c.received] == ["direct", "from"]
        assert [m.event for m in on_b.received] == ["from"]
        assert [m.event for m in on_a.received] == ["from"]
        assert sender.received == []
        for pubsub in (a, b, c):
            await pubsub.stop()

    asyncio.run(go())


def test_a_node_receives_only_topics_it_has_subscribers_for(redis: RedisServer) -> None:
    async def go() -> None:
        a, b = await nodes(redis.url, 2)
        seen_by_b: list[str] = []
        adapter_b = b.adapter
        assert isinstance(adapter_b, RedisAdapter)
        original = adapter_b._receive

        def spy(data: bytes) -> None:
            seen_by_b.append(b.codec.decode(data)[1])
            original(data)

        adapter_b._receive = spy  # type: ignore[method-assign]
        recorder = Recorder()
        b.subscribe("wanted", recorder)
        await asyncio.sleep(0.1)
        await a.broadcast("unwanted", Broadcast("unwanted", "e", {}))
        await a.broadcast("wanted", Broadcast("wanted", "e", {}))
        await eventually(lambda: len(recorder.received) == 1)
        b.unsubscribe("wanted", recorder)
        await asyncio.sleep(0.1)
        await a.broadcast("wanted", Broadcast("wanted", "e", {}))
        await asyncio.sleep(0.2)
        assert seen_by_b == ["wanted"]  # Redis routed nothing else to b
        for pubsub in (a, b):
            await pubsub.stop()

    asyncio.run(go())


def test_redis_down_and_back_heals_without_restarting(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="phoenix_py.pubsub.redis")

    async def go() -> None:
        a, b = await nodes(redis.url, 2, max_backoff=0.3)
        local, remote = Recorder(), Recorder()
        a.subscribe("t", local)
        b.subscribe("t", remote)
        await asyncio.sleep(0.1)
        redis.stop()
        # Meanwhile the local subscribers are still served; remote delivery is lost.
        await a.broadcast("t", Broadcast("t", "during", {}))
        assert [m.event for m in local.received] == ["during"]
        await asyncio.sleep(0.5)
        redis.start()
        adapters = [a.adapter, b.adapter]
        await eventually(lambda: all(ad.connected.is_set() for ad in adapters))  # type: ignore[attr-defined]
        await asyncio.sleep(0.2)
        await a.broadcast("t", Broadcast("t", "after", {}))
        await eventually(lambda: [m.event for m in remote.received][-1:] == ["after"])
        assert "during" not in [m.event for m in remote.received]
        for pubsub in (a, b):
            await pubsub.stop()

    asyncio.run(go())
    messages = [r.getMessage() for r in caplog.records]
    assert any("Redis connection lost" in m for m in messages)
    assert any("Redis connection back" in m for m in messages)


def test_starts_and_serves_locally_when_redis_is_down() -> None:
    async def go() -> None:
        dead = RedisServer()  # never started: nothing listens on its port
        pubsub = PubSub(RedisAdapter(dead.url, max_backoff=0.2))
        await pubsub.start()
        recorder = Recorder()
        pubsub.subscribe("t", recorder)
        await pubsub.broadcast("t", Broadcast("t", "local", {}))
        assert [m.event for m in recorder.received] == ["local"]
        await pubsub.stop()

    asyncio.run(go())


def test_junk_on_the_channel_is_ignored(redis: RedisServer) -> None:
    async def go() -> None:
        import redis.asyncio as aioredis

        (a,) = await nodes(redis.url, 1)
        recorder = Recorder()
        a.subscribe("t", recorder)
        await asyncio.sleep(0.1)
        client = aioredis.Redis.from_url(redis.url)
        await client.publish("phx:t:t", b"\xffnot msgpack")
        await client.aclose()
        await a.broadcast("t", Broadcast("t", "fine", {}))
        await asyncio.sleep(0.2)
        assert [m.event for m in recorder.received] == ["fine"]
        await a.stop()

    asyncio.run(go())


def test_a_burst_beyond_max_pending_waits_instead_of_dropping(redis: RedisServer) -> None:
    async def go() -> None:
        a, b = await nodes(redis.url, 2, max_pending=100)
        recorder = Recorder()
        b.subscribe("burst", recorder)
        await asyncio.sleep(0.1)
        for n in range(3000):  # never yields on its own: only backpressure lets Redis keep up
            await a.broadcast("burst", Broadcast("burst", "n", {"n": n}))
        await eventually(lambda: len(recorder.received) == 3000, timeout=15)
        assert [m.payload["n"] for m in recorder.received] == list(range(3000))
        for pubsub in (a, b):
            await pubsub.stop()

    asyncio.run(go())
