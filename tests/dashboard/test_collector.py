"""The dashboard's numbers from telemetry events, without a network: the events are
emitted as the library's call sites emit them, and the clocks are the test's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from phoenix_py import Broadcast, Channel
from phoenix_py import telemetry as t
from phoenix_py.dashboard import NodeBoard, StatsCollector
from phoenix_py.dashboard._window import SlidingWindow


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RoomChannel(Channel):
    pass


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def collector(clock: Clock) -> Iterator[StatsCollector]:
    stats = StatsCollector(
        top=2,
        window=5,
        recent=2,
        ignore_topics=("phoenix_py:dashboard",),
        clock=clock,
        wall_clock=lambda: 1_700_000_000.0,
    )
    stats.attach()
    try:
        yield stats
    finally:
        stats.detach()


def connected(transport: str, result: str = "ok") -> None:
    t.SOCKET_CONNECTED.emit({"duration": 10}, {"transport": transport, "result": result})


def closed(transport: str) -> None:
    t.SOCKET_CLOSED.emit({"duration": 10}, {"transport": transport, "code": 1000, "reason": ""})


def joined(topic: str, result: str = "ok") -> None:
    t.CHANNEL_JOINED.emit(
        {"duration": 5},
        {"result": result, "topic": topic, "route": "room:*", "channel": RoomChannel},
    )


def left(topic: str) -> None:
    metadata = {"topic": topic, "route": "room:*", "channel": RoomChannel, "reason": "leave"}
    t.CHANNEL_LEFT.emit({}, metadata)


def test_sockets_per_transport_go_up_and_down(collector: StatsCollector) -> None:
    connected("websocket")
    connected("websocket")
    connected("longpoll")
    connected("websocket", result="error")
    closed("websocket")
    snapshot = collector.snapshot("a")
    assert snapshot["sockets"] == {"longpoll": 1, "websocket": 1}
    assert snapshot["refused"] == 1
    closed("longpoll")
    closed("longpoll")  # a socket from before the collector attached never goes below zero
    assert collector.snapshot("a")["sockets"] == {"websocket": 1}


def test_channels_per_route_and_the_top_topics(collector: StatsCollector) -> None:
    for topic in ["room:a", "room:a", "room:a", "room:b", "room:b", "room:c"]:
        joined(topic)
    joined("room:d", result="error")
    left("room:c")
    snapshot = collector.snapshot("a")
    assert snapshot["channels"] == {"room:* (RoomChannel)": 5}
    assert snapshot["topics"] == [["room:a", 3], ["room:b", 2]]  # top=2
    assert snapshot["topic_count"] == 2
    for _ in range(3):
        left("room:a")
    # A topic without channels leaves the table: memory follows what is live.
    assert collector.topics == {"room:b": 2}


def test_presence_per_topic_is_the_last_diffs_size(collector: StatsCollector) -> None:
    t.PRESENCE_DIFF.emit({"joins": 3, "leaves": 0, "size": 3}, {"topic": "room:a"})
    t.PRESENCE_DIFF.emit({"joins": 1, "leaves": 0, "size": 1}, {"topic": "room:b"})
    t.PRESENCE_DIFF.emit({"joins": 0, "leaves": 1, "size": 2}, {"topic": "room:a"})
    snapshot = collector.snapshot("a")
    assert snapshot["presences"] == [["room:a", 2], ["room:b", 1]]
    t.PRESENCE_DIFF.emit({"joins": 0, "leaves": 1, "size": 0}, {"topic": "room:b"})
    assert collector.snapshot("a")["presence_topic_count"] == 1


def test_rates_and_latency_per_second_and_their_expiry(
    collector: StatsCollector, clock: Clock
) -> None:
    for _ in range(3):
        t.MESSAGE_IN.emit({"bytes": 10}, {"transport": "websocket"})
    t.MESSAGE_OUT.emit({"bytes": 10}, {"kind": "push", "topic": "room:a"})
    t.BROADCAST.emit({"duration": 4000, "subscribers": 10}, {"topic": "room:a", "event": "x"})
    t.BROADCAST.emit({"duration": 2000, "subscribers": 30}, {"topic": "room:a", "event": "x"})
    t.BROADCAST.emit({"duration": 9000, "subscribers": 1}, {"topic": "phoenix_py:dashboard"})
    # The current second is still filling: the series end with the last complete one.
    assert collector.snapshot("a")["series"]["messages_in"] == [0, 0, 0, 0, 0]
    clock.now += 1
    t.MESSAGE_IN.emit({"bytes": 10}, {"transport": "websocket"})
    clock.now += 1
    series = collector.snapshot("a")["series"]
    assert series["messages_in"] == [0, 0, 0, 3, 1]
    assert series["messages_out"] == [0, 0, 0, 1, 0]
    assert series["broadcasts"] == [0, 0, 0, 2, 0]  # the dashboard's own topic is not counted
    assert series["deliveries"] == [0, 0, 0, 40, 0]
    assert series["latency_mean_us"] == [0, 0, 0, 3.0, 0]
    assert series["latency_max_us"] == [0, 0, 0, 4.0, 0]
    clock.now += 4
    assert collector.snapshot("a")["series"]["messages_in"] == [1, 0, 0, 0, 0]
    clock.now += 1
    assert collector.snapshot("a")["series"]["messages_in"] == [0, 0, 0, 0, 0]


def test_slow_consumers_limits_and_pubsub_errors_keep_the_recent_ones(
    collector: StatsCollector,
) -> None:
    for frames in (1, 2, 3):
        t.SLOW_CONSUMER.emit(
            {"queued_frames": frames, "queued_bytes": frames * 100},
            {"transport": "websocket", "action": "disconnect"},
        )
    t.LIMIT_REACHED.emit({}, {"limit": "join_rate", "transport": "websocket"})
    t.LIMIT_REACHED.emit({}, {"limit": "join_rate", "transport": "websocket"})
    secret = ConnectionError("Error connecting to redis://:hunter2@redis:6379")
    t.PUBSUB_ERROR.emit({}, {"adapter": "redis", "operation": "publish", "error": secret})
    snapshot = collector.snapshot("a")
    assert [slow["queued_frames"] for slow in snapshot["slow_consumers"]] == [3, 2]  # recent=2
    assert snapshot["slow_consumers"][0] == {
        "at": 1_700_000_000.0,
        "transport": "websocket",
        "action": "disconnect",
        "queued_frames": 3,
        "queued_bytes": 300,
    }
    assert snapshot["limits"] == {"join_rate": 2}
    assert snapshot["pubsub_errors"] == {"redis publish": 1}
    assert snapshot["recent_errors"] == [
        {
            "at": 1_700_000_000.0,
            "adapter": "redis",
            "operation": "publish",
            "error": "ConnectionError",
        }
    ]
    assert "hunter2" not in repr(snapshot)


def test_memory_and_uptime(collector: StatsCollector, clock: Clock) -> None:
    clock.now += 90
    snapshot = collector.snapshot("node-a")
    assert snapshot["node"] == "node-a" and snapshot["uptime"] == 90
    assert snapshot["memory"] > 1_000_000  # a Python process's resident memory


def test_detached_it_counts_nothing(clock: Clock) -> None:
    stats = StatsCollector(clock=clock)
    stats.attach()
    stats.detach()
    connected("websocket")
    assert stats.snapshot("a")["sockets"] == {}
    assert t.handlers(t.SOCKET_CONNECTED.name) == []


def test_a_window_covers_exactly_its_seconds() -> None:
    clock = Clock(10.0)
    window = SlidingWindow(3, clock)
    for value in (1.0, 5.0):
        window.add(value)
    clock.now = 12.5
    window.add(2.0)
    clock.now = 13.0
    assert window.counts() == [2, 0, 1]
    assert window.sums() == [6.0, 0.0, 2.0]
    assert window.means() == [3.0, 0.0, 2.0]
    assert window.maxima() == [5.0, 0.0, 2.0]
    clock.now = 14.0
    assert window.counts() == [0, 1, 0]


def snapshot_message(node: str) -> Broadcast:
    payload: dict[str, Any] = {"node": node}
    return Broadcast("phoenix_py:dashboard", "snapshot", payload)


def test_the_board_forgets_a_node_that_stops_publishing() -> None:
    clock = Clock()
    board = NodeBoard(expire_after=3.0, clock=clock)
    board.deliver(snapshot_message("b"), {})
    board.deliver(snapshot_message("a"), {})
    board.deliver(Broadcast("phoenix_py:dashboard", "other", {"node": "c"}), {})
    clock.now += 2
    board.deliver(snapshot_message("a"), {})
    assert [(node["node"], node["age"]) for node in board.nodes()] == [("a", 0.0), ("b", 2.0)]
    clock.now += 2
    assert [node["node"] for node in board.nodes()] == ["a"]
