"""The PubSub contract, run against every adapter (only in-memory for now)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from phoenix_py import Broadcast, MemoryAdapter, MemoryHub, PubSub
from phoenix_py._core.serializer import V1_JSON, V2_JSON, Frame, Serializer


class Recorder:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self.received: list[Any] = []

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        self.received.append(message)


class CountingSerializer:
    """Wraps a serializer and counts fastlane encodings."""

    def __init__(self, inner: Serializer) -> None:
        self.inner = inner
        self.encoded = 0

    def fastlane(self, broadcast: Broadcast) -> Frame:
        self.encoded += 1
        return self.inner.fastlane(broadcast)


class FastlaneSubscriber:
    """Encodes through the per-dispatch cache, as channel subscribers do."""

    def __init__(self, serializer: CountingSerializer) -> None:
        self.serializer = serializer
        self.frames: list[Frame] = []

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        frame = cache.get(self.serializer)
        if frame is None:
            frame = cache[self.serializer] = self.serializer.fastlane(message)
        self.frames.append(frame)


def cluster(size: int) -> list[PubSub]:
    hub = MemoryHub()
    return [PubSub(MemoryAdapter(f"node{n}", hub)) for n in range(size)]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_broadcast_reaches_local_subscribers_in_order() -> None:
    pubsub = PubSub()
    a, b = Recorder(), Recorder()
    pubsub.subscribe("t", a)
    pubsub.subscribe("t", b)
    pubsub.subscribe("t", a)  # at most once

    async def go() -> None:
        for n in range(3):
            await pubsub.broadcast("t", n)

    run(go())
    assert a.received == [0, 1, 2] and b.received == [0, 1, 2]


def test_broadcast_from_skips_the_sender_only() -> None:
    pubsub = PubSub()
    sender, other = Recorder(), Recorder()
    pubsub.subscribe("t", sender)
    pubsub.subscribe("t", other)
    run(pubsub.broadcast_from(sender, "t", "hi"))
    assert (sender.received, other.received) == ([], ["hi"])


def test_unsubscribe_and_counts() -> None:
    pubsub = PubSub()
    a = Recorder()
    pubsub.subscribe("t", a)
    pubsub.subscribe("u", a)
    assert pubsub.subscriber_count() == 2 and pubsub.subscriber_count("t") == 1
    pubsub.unsubscribe("t", a)
    pubsub.unsubscribe("t", a)  # unknown: no error
    run(pubsub.broadcast("t", "lost"))
    assert a.received == [] and pubsub.topics() == ["u"]


def test_encoded_once_per_serializer_whatever_the_subscriber_count() -> None:
    pubsub = PubSub()
    v1, v2 = CountingSerializer(V1_JSON), CountingSerializer(V2_JSON)
    subscribers = [FastlaneSubscriber(v1 if n % 3 == 0 else v2) for n in range(1000)]
    for subscriber in subscribers:
        pubsub.subscribe("room:1", subscriber)
    run(pubsub.broadcast("room:1", Broadcast("room:1", "ev", {"a": 1})))
    assert (v1.encoded, v2.encoded) == (1, 1)
    assert all(len(s.frames) == 1 for s in subscribers)
    # every V2 subscriber got the very same frame object: no copy per subscriber
    assert len({id(s.frames[0]) for s in subscribers}) == 2


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    class Broken:
        def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
            raise RuntimeError("boom")

    pubsub = PubSub()
    good = Recorder()
    pubsub.subscribe("t", Broken())
    pubsub.subscribe("t", good)
    run(pubsub.broadcast("t", 1))
    assert good.received == [1]


def test_cluster_broadcast_local_broadcast_and_direct_broadcast() -> None:
    nodes = cluster(3)
    recorders = [Recorder(p.node_name) for p in nodes]
    for pubsub, recorder in zip(nodes, recorders, strict=True):
        pubsub.subscribe("t", recorder)

    async def go() -> None:
        for pubsub in nodes:
            await pubsub.start()
        await nodes[0].broadcast("t", "all")
        nodes[0].local_broadcast("t", "local")
        await nodes[0].direct_broadcast("node2", "t", "direct")
        await nodes[1].broadcast_from(recorders[1], "t", "from1")
        for pubsub in nodes:
            await pubsub.stop()

    run(go())
    assert recorders[0].received == ["all", "local", "from1"]
    assert recorders[1].received == ["all"]
    assert recorders[2].received == ["all", "direct", "from1"]
    assert [p.node_name for p in nodes] == ["node0", "node1", "node2"]


@pytest.mark.parametrize("size", [1, 2])
def test_stopped_node_no_longer_receives(size: int) -> None:
    nodes = cluster(size)
    recorder = Recorder()
    nodes[-1].subscribe("t", recorder)

    async def go() -> None:
        for pubsub in nodes:
            await pubsub.start()
        await nodes[-1].stop()
        await nodes[0].broadcast("t", "after stop")

    run(go())
    # A single node still dispatches locally; a stopped remote node gets nothing.
    assert recorder.received == (["after stop"] if size == 1 else [])


@pytest.mark.parametrize("size", [1, 2])
def test_memory_subscribed_returns_at_once(size: int) -> None:
    nodes = cluster(size)
    recorder = Recorder()
    nodes[0].subscribe("t", recorder)

    async def go() -> None:
        for pubsub in nodes:
            await pubsub.start()
        for topic in ("t", "never:watched"):
            step = nodes[0].subscribed(topic)
            with pytest.raises(StopIteration):  # finished on its first step: it never suspends
                step.send(None)
        await nodes[-1].broadcast("t", "after")  # the last node's broadcast reaches it
        for pubsub in nodes:
            await pubsub.stop()

    run(go())
    assert recorder.received == ["after"]
