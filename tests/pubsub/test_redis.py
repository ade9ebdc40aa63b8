"""The Redis adapter against a real redis-server: several PubSub nodes, one cluster."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest

from phoenix_py import Broadcast, PubSub
from phoenix_py.errors import UsageError
from phoenix_py.pubsub.redis import RedisAdapter

from ..redis_server import RedisServer, redis_server

pytestmark = pytest.mark.slow


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


# subscribed(): a SUBSCRIBE confirmed by Redis before a join reply leaves


def adapter_of(pubsub: PubSub) -> RedisAdapter:
    adapter = pubsub.adapter
    assert isinstance(adapter, RedisAdapter)
    return adapter


def hold_confirmations(adapter: RedisAdapter) -> list[bytes | str]:
    """Keep the confirmations the listener reads from reaching the adapter; returns them."""
    held: list[bytes | str] = []
    adapter._confirm = held.append  # type: ignore[method-assign]
    return held


def release(adapter: RedisAdapter, held: list[bytes | str], count: int = 1) -> None:
    for _ in range(count):
        RedisAdapter._confirm(adapter, held.pop(0))


def no_pending(adapter: RedisAdapter) -> bool:
    return adapter._confirmations == {} and not adapter._commands


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_subscribed_waits_until_redis_confirms(redis: RedisServer) -> None:
    async def go() -> None:
        a, b = await nodes(redis.url, 2)
        recorder = Recorder()
        assert redis.process is not None
        redis.process.send_signal(signal.SIGSTOP)  # Redis receives the SUBSCRIBE, answers nothing
        try:
            a.subscribe("room:1", recorder)
            waiting = asyncio.ensure_future(a.subscribed("room:1"))
            await asyncio.sleep(0.3)
            assert not waiting.done()
        finally:
            redis.process.send_signal(signal.SIGCONT)
        await asyncio.wait_for(waiting, 2)
        # Confirmed: a broadcast made on another node from now on reaches a.
        await b.broadcast("room:1", Broadcast("room:1", "first", {}))
        await eventually(lambda: [m.event for m in recorder.received] == ["first"])
        assert no_pending(adapter_of(a))
        for pubsub in (a, b):
            await pubsub.stop()

    asyncio.run(go())


def test_subscribed_returns_at_once_when_nothing_is_pending(redis: RedisServer) -> None:
    async def go() -> None:
        (a,) = await nodes(redis.url, 1)
        recorder = Recorder()
        await asyncio.wait_for(a.subscribed("never:watched"), 0.01)
        a.subscribe("t", recorder)
        await a.subscribed("t")
        second = Recorder()
        a.subscribe("t", second)  # not a first subscriber: no SUBSCRIBE
        await asyncio.wait_for(a.subscribed("t"), 0.01)
        held = hold_confirmations(adapter_of(a))
        a.unsubscribe("t", recorder)
        a.unsubscribe("t", second)
        a.subscribe("u", recorder)
        a.unsubscribe("u", recorder)  # watched and unwatched before Redis confirmed
        await asyncio.wait_for(a.subscribed("u"), 0.01)
        await eventually(lambda: len(held) == 1)  # the confirmation of u's SUBSCRIBE
        release(adapter_of(a), held)
        assert no_pending(adapter_of(a))
        await a.stop()

    asyncio.run(go())


def test_after_watch_unwatch_watch_only_the_last_subscribe_counts(redis: RedisServer) -> None:
    async def go() -> None:
        a, b = await nodes(redis.url, 2)
        adapter = adapter_of(a)
        held = hold_confirmations(adapter)
        recorder = Recorder()
        a.subscribe("t", recorder)  # SUBSCRIBE
        a.unsubscribe("t", recorder)  # UNSUBSCRIBE
        a.subscribe("t", recorder)  # SUBSCRIBE
        assert adapter._commands == deque(
            [("subscribe", "phx:t:t"), ("unsubscribe", "phx:t:t"), ("subscribe", "phx:t:t")]
        )
        waiting = asyncio.ensure_future(a.subscribed("t"))
        await eventually(lambda: len(held) == 2)  # Redis confirmed both SUBSCRIBEs
        assert held == [b"phx:t:t", b"phx:t:t"]
        release(adapter, held)  # the first: not enough
        await settle()
        assert not waiting.done()
        release(adapter, held)  # the last one
        await asyncio.wait_for(waiting, 1)
        assert no_pending(adapter)
        await b.broadcast("t", Broadcast("t", "routed", {}))  # and Redis routes t to a
        await eventually(lambda: [m.event for m in recorder.received] == ["routed"])
        for pubsub in (a, b):
            await pubsub.stop()

    asyncio.run(go())


def test_a_resubscription_after_a_reconnect_confirms(redis: RedisServer) -> None:
    async def go() -> None:
        (a,) = await nodes(redis.url, 1, max_backoff=0.2)
        adapter = adapter_of(a)
        a.subscribe("t", Recorder())
        await a.subscribed("t")
        redis.stop()
        await eventually(lambda: not adapter.connected.is_set())
        assert no_pending(adapter)
        a.subscribe("during", Recorder())  # watched while Redis is away
        await asyncio.wait_for(a.subscribed("during"), 0.01)  # local subscribers only
        held = hold_confirmations(adapter)
        redis.start()
        await eventually(adapter.connected.is_set)
        waiting = asyncio.ensure_future(a.subscribed("during"))
        await eventually(lambda: sorted(held) == [b"phx:n:n0", b"phx:t:during", b"phx:t:t"])
        await settle()
        assert not waiting.done()
        release(adapter, held, count=3)
        await asyncio.wait_for(waiting, 1)
        assert no_pending(adapter)
        await a.stop()

    asyncio.run(go())


def test_dead_redis_returns_at_once_and_broadcasts_do_not_raise() -> None:
    async def go() -> None:
        dead = RedisServer()  # never started: nothing listens on its port
        pubsub = PubSub(RedisAdapter(dead.url, max_backoff=0.2))
        await pubsub.start()
        recorder = Recorder()
        pubsub.subscribe("t", recorder)
        await asyncio.wait_for(pubsub.subscribed("t"), 0.01)
        await pubsub.broadcast("t", Broadcast("t", "local", {}))
        await pubsub.direct_broadcast("elsewhere", "t", Broadcast("t", "direct", {}))
        assert [m.event for m in recorder.received] == ["local"]
        assert no_pending(adapter_of(pubsub))
        await pubsub.stop()

    asyncio.run(go())


def test_redis_lost_while_waiting_releases_the_waiter(redis: RedisServer) -> None:
    async def go() -> None:
        (a,) = await nodes(redis.url, 1, max_backoff=0.2)
        adapter = adapter_of(a)
        held = hold_confirmations(adapter)
        a.subscribe("t", Recorder())
        waiting = asyncio.ensure_future(a.subscribed("t"))
        await eventually(lambda: len(held) == 1)
        await settle()
        assert not waiting.done()
        redis.stop()
        await asyncio.wait_for(waiting, 1)  # well before subscribe_timeout
        assert no_pending(adapter)
        await a.broadcast("t", Broadcast("t", "during", {}))  # does not raise
        await a.stop()

    asyncio.run(go())


def test_subscribed_gives_up_after_the_timeout_with_a_warning(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="phoenix_py.pubsub.redis")

    async def go() -> None:
        (a,) = await nodes(redis.url, 1, subscribe_timeout=0.2)
        assert redis.process is not None
        redis.process.send_signal(signal.SIGSTOP)  # answers nothing, connection kept
        try:
            a.subscribe("t", Recorder())
            started = asyncio.get_running_loop().time()
            await asyncio.wait_for(a.subscribed("t"), 2)
            elapsed = asyncio.get_running_loop().time() - started
        finally:
            redis.process.send_signal(signal.SIGCONT)
        assert 0.15 < elapsed < 1.0
        await eventually(lambda: no_pending(adapter_of(a)))  # the late confirmation
        await a.stop()

    asyncio.run(go())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("has not confirmed the subscription to 't' within 0.2 s" in m for m in warnings)


def test_many_watch_unwatch_cycles_leave_nothing_pending(redis: RedisServer) -> None:
    async def go() -> None:
        a, b = await nodes(redis.url, 2)
        adapter = adapter_of(a)
        recorders = [Recorder() for _ in range(50)]
        for cycle in range(40):
            for n, recorder in enumerate(recorders):
                a.subscribe(f"room:{n}", recorder)
                if (cycle + n) % 3:
                    await asyncio.sleep(0)  # some SUBSCRIBEs leave before the UNSUBSCRIBE
                a.unsubscribe(f"room:{n}", recorder)
            if cycle % 10 == 0:
                await asyncio.gather(*(a.subscribed(f"room:{n}") for n in range(50)))
        for n, recorder in enumerate(recorders):
            a.subscribe(f"room:{n}", recorder)
        await asyncio.gather(*(a.subscribed(f"room:{n}") for n in range(50)))
        for n in range(50):
            await b.broadcast(f"room:{n}", Broadcast(f"room:{n}", "e", {}))
        await eventually(lambda: all(len(r.received) == 1 for r in recorders))
        await eventually(lambda: no_pending(adapter))
        assert adapter._channels == {f"phx:t:room:{n}" for n in range(50)}
        for pubsub in (a, b):
            await pubsub.stop()

    asyncio.run(go())


def test_using_the_adapter_before_start_names_the_fix() -> None:
    async def go() -> None:
        adapter = RedisAdapter("redis://127.0.0.1:1/0")
        with pytest.raises(UsageError, match="start its PubSub first"):
            await adapter.broadcast("t", Broadcast("t", "e", {}))
        await adapter.subscribed("t")  # nothing pending: never raises

    asyncio.run(go())


def test_publishes_an_outage_and_junk_are_reported_to_telemetry(redis: RedisServer) -> None:
    from phoenix_py import telemetry

    seen: list[tuple[Any, dict[str, Any], dict[str, Any]]] = []
    names = [telemetry.PUBSUB_PUBLISH.name, telemetry.PUBSUB_ERROR.name]
    telemetry.attach("redis-test", names, lambda n, m, md, _: seen.append((n, m, dict(md))))

    def errors() -> set[str]:
        return {md["operation"] for n, _, md in seen if n == telemetry.PUBSUB_ERROR.name}

    async def go() -> None:
        import redis.asyncio as aioredis

        (a,) = await nodes(redis.url, 1, max_backoff=0.2)
        a.subscribe("t", Recorder())
        await a.subscribed("t")
        await a.broadcast("t", Broadcast("t", "one", {}))
        await eventually(lambda: any(n == telemetry.PUBSUB_PUBLISH.name for n, _, _ in seen))
        client = aioredis.Redis.from_url(redis.url)
        await client.publish("phx:t:t", b"\xffnot msgpack")
        await client.aclose()
        await eventually(lambda: "decode" in errors())
        redis.stop()
        await eventually(lambda: "connection" in errors())
        await a.broadcast("t", Broadcast("t", "lost", {}))
        await eventually(lambda: "publish" in errors())
        await a.stop()

    try:
        asyncio.run(go())
    finally:
        telemetry.detach("redis-test")
    [published, *_] = [m for n, m, _ in seen if n == telemetry.PUBSUB_PUBLISH.name]
    assert published["messages"] == 1 and published["duration"] > 0
    assert all(md["adapter"] == "redis" for _, _, md in seen)
