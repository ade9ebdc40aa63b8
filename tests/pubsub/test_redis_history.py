"""Histories on a real redis-server: one numbering for the cluster, in order on every node."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from phoenix_py import PubSub
from phoenix_py._core.message import Publication
from phoenix_py.errors import HistoryUnavailable, UsageError
from phoenix_py.history import History, Position
from phoenix_py.pubsub.redis import RedisAdapter
from phoenix_py.pubsub.redis_history import RedisHistory

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


async def cluster(url: str, count: int, **options: Any) -> list[History]:
    histories = []
    for n in range(count):
        adapter = RedisAdapter(url, node_name=f"n{n}", namespace="t")
        pubsub = PubSub(adapter)
        histories.append(History(pubsub, store=RedisHistory(adapter, timeout=1.0), **options))
        await pubsub.start()
    return histories


async def stop(histories: list[History]) -> None:
    for history in histories:
        await history.pubsub.stop()


async def eventually(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_broadcasts_from_two_nodes_reach_every_node_in_offset_order_once(
    redis: RedisServer,
) -> None:
    async def go() -> None:
        histories = await cluster(redis.url, 2)
        recorders = [Recorder(), Recorder()]
        for history, recorder in zip(histories, recorders, strict=True):
            history.pubsub.subscribe("h:1", recorder)
            await history.pubsub.subscribed("h:1")

        async def publish(history: History, name: str) -> None:
            for n in range(200):
                await history.broadcast("h:1", "e", {"from": name, "n": n})

        await asyncio.gather(publish(histories[0], "a"), publish(histories[1], "b"))
        await eventually(lambda: all(len(r.received) == 400 for r in recorders))
        for recorder in recorders:
            offsets = [p.offset for p in recorder.received]
            assert offsets == list(range(1, 401))  # no gap, no duplicate, in order
            for name in "ab":  # each publisher's own order kept
                mine = [p.payload["n"] for p in recorder.received if p.payload["from"] == name]
                assert mine == list(range(200))
        # the origin node got its own messages too, once, through Redis
        assert recorders[0].received == recorders[1].received
        await stop(histories)

    asyncio.run(go())


def test_a_node_recovers_what_another_node_kept(redis: RedisServer) -> None:
    async def go() -> None:
        a, b = await cluster(redis.url, 2)
        start = await b.recover("h:2", None)
        assert start.position.offset == 0 and start.position.epoch
        for n in range(10):
            await a.broadcast("h:2", "e", {"n": n}, sender="x" if n == 3 else None)
        recovery = await b.recover("h:2", Position(4, start.position.epoch))
        assert recovery.recovered and recovery.position == Position(10, start.position.epoch)
        assert [(p.offset, p.payload) for p in recovery.messages] == [
            (n + 1, {"n": n}) for n in range(4, 10)
        ]
        assert all(isinstance(p, Publication) and p.topic == "h:2" for p in recovery.messages)
        # nothing missed: recovered with nothing to send
        assert await b.recover("h:2", Position(10, start.position.epoch)) == (
            recovery._replace(messages=[])
        )
        await stop([a, b])

    asyncio.run(go())


def test_a_reconnect_storm_of_recoveries_waits_for_connections_instead_of_failing(
    redis: RedisServer,
) -> None:
    """1,000 rejoins at once: each recovery waits for one of the few pooled
    connections (redis-py's plain pool refused the 101st: "Too many connections")."""

    async def go() -> None:
        [a] = await cluster(redis.url, 1)
        for n in range(5):
            await a.broadcast("h:storm", "e", {"n": n})
        epoch = (await a.recover("h:storm", None)).position.epoch
        recoveries = await asyncio.gather(
            *(a.recover("h:storm", Position(2, epoch)) for _ in range(1_000))
        )
        assert all(recovery.recovered for recovery in recoveries)
        assert {tuple(p.offset for p in recovery.messages) for recovery in recoveries} == {
            (3, 4, 5)
        }
        await stop([a])

    asyncio.run(go())


def test_trimmed_and_expired_histories_are_not_recovered(redis: RedisServer) -> None:
    async def go() -> None:
        [short] = await cluster(redis.url, 1, size=5, ttl=0.3)
        for n in range(10):
            epoch = (await short.broadcast("h:3", "e", {"n": n})).epoch
        trimmed = await short.recover("h:3", Position(4, epoch))
        assert not trimmed.recovered and trimmed.messages == []
        kept = await short.recover("h:3", Position(5, epoch))
        assert kept.recovered and [p.offset for p in kept.messages] == [6, 7, 8, 9, 10]
        await asyncio.sleep(0.5)
        assert not (await short.recover("h:3", Position(9, epoch))).recovered
        # the epoch outlives the messages: a client that missed nothing is recovered
        assert (await short.recover("h:3", Position(10, epoch))).recovered
        await stop([short])

    asyncio.run(go())


def test_a_redis_restart_without_persistence_starts_a_new_epoch(redis: RedisServer) -> None:
    async def go() -> None:
        [history] = await cluster(redis.url, 1)
        old = await history.broadcast("h:4", "e", {})
        redis.stop()
        with pytest.raises(HistoryUnavailable):
            await history.broadcast("h:4", "e", {})
        with pytest.raises(HistoryUnavailable):
            await history.recover("h:4", old)
        redis.start()
        recovery = await history.recover("h:4", old)
        assert not recovery.recovered
        assert recovery.position.offset == 0 and recovery.position.epoch != old.epoch
        new = await history.broadcast("h:4", "e", {})
        assert new == Position(1, recovery.position.epoch)
        await stop([history])

    asyncio.run(go())


def test_a_redis_history_needs_the_pubsubs_own_adapter() -> None:
    adapter = RedisAdapter("redis://127.0.0.1:1/0")
    with pytest.raises(UsageError, match="RedisAdapter of the PubSub"):
        History(PubSub(RedisAdapter("redis://127.0.0.1:1/0")), store=RedisHistory(adapter))


def test_a_channel_whose_node_lost_its_subscription_gets_what_it_missed(
    redis: RedisServer,
) -> None:
    from redis.asyncio import Redis

    from ..test_history_channel import Client

    async def go() -> None:
        a, b = await cluster(redis.url, 2)
        watcher = Recorder()  # a plain subscriber on node A: it misses what A misses
        a.pubsub.subscribe("feed:5", watcher)
        client = Client(a)
        epoch = (await client.join("feed:5", {}))["response"]["epoch"]
        await b.broadcast("feed:5", "shout", {"n": 0})
        await eventually(lambda: len(client.shouts()) == 1)

        admin = Redis.from_url(redis.url)
        await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        for n in range(1, 11):  # before node A resubscribes (after 0.1 s at least)
            await b.broadcast("feed:5", "shout", {"n": n})
        await asyncio.sleep(0.5)
        assert a.pubsub.adapter.connected.is_set()  # resubscribed
        await b.broadcast("feed:5", "shout", {"n": 11})
        await eventually(lambda: len(client.shouts()) == 12)
        assert [p.payload["n"] for p in watcher.received] == [0, 11]  # the node missed 1..10
        assert client.shouts() == [(f"{n + 1}:{epoch}", {"n": n}) for n in range(12)]
        await admin.aclose()
        await stop([a, b])

    asyncio.run(go())
