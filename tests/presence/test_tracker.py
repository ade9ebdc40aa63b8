"""Presence replication between nodes (PHOENIX_PROTOCOL.md §5.2, §5.5).

Two or three ``Tracker`` instances run on a ``MemoryHub`` cluster, with periods
short enough for a test (heartbeat 50 ms, down 300 ms, permdown 1 s). A dead
node is simulated by cancelling its heartbeat loop and detaching it from the
hub without a clean stop. The ``Presence`` API is driven with a tiny fake
channel. The titles follow PPS ``shard_replication_test.exs`` (§8.7).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest

from phoenix_py import MemoryAdapter, MemoryHub, PubSub
from phoenix_py._core.message import Broadcast
from phoenix_py._core.presence_state import Delta, Diff, Entry, Snapshot
from phoenix_py.errors import UsageError
from phoenix_py.presence import Presence, Tracker
from phoenix_py.presence.tracker import Goodbye, Heartbeat, Transfer, TransferRequest

ROOM = "room:1"
PERIODS: dict[str, float] = {"broadcast_period": 0.05, "down_period": 0.3, "permdown_period": 1.0}
TRACKER_TOPIC = "phx_presence:presence"


class Recorder:
    """A pubsub subscriber that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[Any] = []

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        self.received.append(message)


class Node:
    """One node: its pubsub and a tracker recording every diff it reports."""

    def __init__(self, name: str, hub: MemoryHub, **periods: float) -> None:
        self.name = name
        self.hub = hub
        self.pubsub = PubSub(MemoryAdapter(name, hub))
        self.diffs: list[tuple[str, Diff]] = []
        self.tracker = Tracker(
            self.pubsub, lambda topic, diff: self.diffs.append((topic, diff)), **periods
        )
        self.pubsub.add_service(self.tracker)  # created before pubsub.start()

    def list(self) -> dict[str, list[str]]:
        return refs(self.tracker.list(ROOM))

    def kill(self) -> None:
        """A dead node: no more heartbeats, unreachable, and no goodbye."""
        task = self.tracker._loop_task
        assert task is not None
        task.cancel()
        self.hub.nodes.pop(self.name)


def refs(presences: dict[str, Any]) -> dict[str, list[str]]:
    """``{key: sorted phx_refs}``: meta order is not significant."""
    return {key: sorted(m["phx_ref"] for m in p["metas"]) for key, p in presences.items()}


async def eventually(check: Callable[[], bool], timeout: float = 2.0) -> float:
    """Polls ``check`` until it holds; returns the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true after {timeout} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


async def settle() -> None:
    """Lets spawned pubsub sends run (memory delivery is synchronous)."""
    for _ in range(20):
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def cluster(*names: str, **periods: float) -> AsyncIterator[list[Node]]:
    hub = MemoryHub()
    nodes = [Node(name, hub, **(periods or PERIODS)) for name in names]
    try:
        for node in nodes:
            await node.pubsub.start()
        yield nodes
    finally:
        for node in nodes:
            await node.pubsub.stop()


async def start_node(name: str, hub: MemoryHub, nodes: list[Node]) -> Node:
    node = Node(name, hub, **PERIODS)
    nodes.append(node)  # the cluster stops it
    await node.pubsub.start()
    return node


class TestSection5_5Replication:
    def test_a_presence_tracked_on_a_appears_on_b_after_a_heartbeat(self) -> None:
        async def go() -> None:
            async with cluster("a", "b") as (a, b):
                assert a.tracker.track("chan-1", ROOM, "u1", {"name": "x"}, "A")
                # A reports its own change at once, B when the heartbeat arrives.
                meta = {"name": "x", "phx_ref": "A"}
                assert a.diffs == [(ROOM, {"joins": {"u1": {"metas": [meta]}}, "leaves": {}})]
                await eventually(lambda: b.list() == {"u1": ["A"]})
                assert b.diffs == [(ROOM, {"joins": {"u1": {"metas": [meta]}}, "leaves": {}})]
                assert b.tracker.list(ROOM) == a.tracker.list(ROOM)

        asyncio.run(go())

    def test_presences_of_both_nodes_are_seen_by_both(self) -> None:
        async def go() -> None:
            async with cluster("a", "b", "c") as nodes:
                for n, node in enumerate(nodes):
                    node.tracker.track(f"chan-{n}", ROOM, "u1", {}, f"R{n}")
                expected = {"u1": ["R0", "R1", "R2"]}
                await eventually(lambda: all(node.list() == expected for node in nodes))

        asyncio.run(go())

    def test_untrack_on_a_leaves_on_b(self) -> None:
        async def go() -> None:
            async with cluster("a", "b") as (a, b):
                a.tracker.track("chan-1", ROOM, "u1", {}, "A")
                a.tracker.track("chan-2", ROOM, "u1", {}, "B")
                await eventually(lambda: b.list() == {"u1": ["A", "B"]})
                a.tracker.untrack("chan-1", ROOM, "u1")
                await eventually(lambda: b.list() == {"u1": ["B"]})
                leave = {"joins": {}, "leaves": {"u1": {"metas": [{"phx_ref": "A"}]}}}
                assert b.diffs[-1] == (ROOM, leave)

        asyncio.run(go())

    def test_update_carries_phx_ref_prev_and_b_sees_a_join_and_a_leave(self) -> None:
        async def go() -> None:
            async with cluster("a", "b") as (a, b):
                a.tracker.track("chan-1", ROOM, "u2", {"name": "old"}, "A")
                await eventually(lambda: b.list() == {"u2": ["A"]})
                seen = len(b.diffs)
                assert a.tracker.update("chan-1", ROOM, "u2", {"name": "new"}, "B")
                await eventually(lambda: b.list() == {"u2": ["B"]})
                # The §5.1 example: one diff, joins new and leaves old, for the same key.
                update = {
                    "joins": {
                        "u2": {"metas": [{"name": "new", "phx_ref": "B", "phx_ref_prev": "A"}]}
                    },
                    "leaves": {"u2": {"metas": [{"name": "old", "phx_ref": "A"}]}},
                }
                assert b.diffs[seen:] == [(ROOM, update)]
                assert a.diffs[-1] == (ROOM, update)
                assert b.tracker.list(ROOM) == a.tracker.list(ROOM)

        asyncio.run(go())

    def test_a_node_that_joins_late_gets_earlier_presences_through_a_transfer(self) -> None:
        async def go() -> None:
            async with cluster("a", "b") as nodes:
                a, b = nodes
                a.tracker.track("chan-1", ROOM, "u1", {}, "A")
                b.tracker.track("chan-2", ROOM, "u2", {}, "B")
                await eventually(lambda: a.list() == b.list() == {"u1": ["A"], "u2": ["B"]})
                # Their deltas went out before c existed: only a transfer brings them.
                c = Node("c", a.hub, **PERIODS)
                nodes.append(c)
                wire = Recorder()
                c.pubsub.subscribe(TRACKER_TOPIC, wire)
                await c.pubsub.start()
                await eventually(lambda: c.list() == {"u1": ["A"], "u2": ["B"]})
                transfers = [m for m in wire.received if isinstance(m, Transfer)]
                assert {t.node for t in transfers} == {"a", "b"}
                joined = [
                    r for _, diff in c.diffs for rs in refs(diff["joins"]).values() for r in rs
                ]
                assert sorted(joined) == ["A", "B"]

        asyncio.run(go())

    def test_a_node_that_stops_cleanly_leaves_at_once(self) -> None:
        async def go() -> None:
            async with cluster("a", "b", "c") as (a, b, c):
                a.tracker.track("chan-1", ROOM, "u1", {}, "A")
                c.tracker.track("chan-2", ROOM, "u1", {}, "C")
                await eventually(lambda: b.list() == {"u1": ["A", "C"]})
                start = time.monotonic()
                await a.pubsub.stop()  # a Goodbye
                await eventually(lambda: b.list() == c.list() == {"u1": ["C"]})
                assert time.monotonic() - start < PERIODS["down_period"] / 3
                leave = {"joins": {}, "leaves": {"u1": {"metas": [{"phx_ref": "A"}]}}}
                assert b.diffs[-1] == (ROOM, leave)
                assert not b.tracker.state.knows(a.tracker.replica)

        asyncio.run(go())

    def test_a_silent_node_leaves_after_down_period_then_is_forgotten(self) -> None:
        async def go() -> None:
            async with cluster("a", "b") as (a, b):
                a.tracker.track("chan-1", ROOM, "u1", {}, "A")
                b.tracker.track("chan-2", ROOM, "u1", {}, "B")
                await eventually(lambda: b.list() == {"u1": ["A", "B"]})
                replica = a.tracker.replica
                seen = len(b.diffs)
                a.kill()
                took = await eventually(lambda: b.list() == {"u1": ["B"]})
                # Not before down_period (less the heartbeat that may have been due).
                assert took > PERIODS["down_period"] - 2 * PERIODS["broadcast_period"]
                leave = {"joins": {}, "leaves": {"u1": {"metas": [{"phx_ref": "A"}]}}}
                assert b.diffs[seen:] == [(ROOM, leave)]
                assert b.tracker.state.is_down(replica)
                assert len(b.tracker.state.entries(replica)) == 1  # hidden, kept
                # After permdown_period it is forgotten, with no second leave.
                await eventually(lambda: not b.tracker.state.knows(replica), timeout=3.0)
                assert b.diffs[seen:] == [(ROOM, leave)]
                assert b.list() == {"u1": ["B"]}

        asyncio.run(go())

    def test_a_silent_node_that_is_heard_again_joins_again(self) -> None:
        async def go() -> None:
            async with cluster("a", "b") as (a, b):
                a.tracker.track("chan-1", ROOM, "u1", {}, "A")
                await eventually(lambda: b.list() == {"u1": ["A"]})
                a.kill()
                await eventually(lambda: b.list() == {})
                seen = len(b.diffs)
                a.hub.nodes["a"] = a.pubsub
                a.tracker.tick()  # one heartbeat
                await eventually(lambda: b.list() == {"u1": ["A"]})
                join = {"joins": {"u1": {"metas": [{"phx_ref": "A"}]}}, "leaves": {}}
                assert b.diffs[seen:] == [(ROOM, join)]

        asyncio.run(go())

    def test_a_node_restarted_under_the_same_name_replaces_the_old_replica(self) -> None:
        async def go() -> None:
            async with cluster("a", "b") as nodes:
                a, b = nodes
                a.tracker.track("chan-1", ROOM, "u1", {}, "A")
                await eventually(lambda: b.list() == {"u1": ["A"]})
                old = a.tracker.replica
                a.kill()
                nodes.remove(a)
                start = time.monotonic()
                restarted = await start_node("a", a.hub, nodes)
                restarted.tracker.track("chan-9", ROOM, "u1", {}, "A2")
                await eventually(lambda: b.list() == {"u1": ["A2"]})
                # The old replica's presences left when the new one was heard, not at down.
                assert time.monotonic() - start < PERIODS["down_period"]
                assert not b.tracker.state.knows(old)

        asyncio.run(go())

    def test_a_diff_handler_that_raises_does_not_stop_replication(self) -> None:
        def boom(topic: str, diff: Diff) -> None:
            raise RuntimeError("handler bug")

        async def go() -> None:
            async with cluster("a", "b") as (a, b):
                b.tracker._on_diff = boom
                a.tracker.track("chan-1", ROOM, "u1", {}, "A")
                await eventually(lambda: b.list() == {"u1": ["A"]})
                a.tracker.track("chan-2", ROOM, "u2", {}, "B")
                await eventually(lambda: b.list() == {"u1": ["A"], "u2": ["B"]})

        asyncio.run(go())

    def test_a_presence_untracked_after_a_transfer_leaves_on_the_late_node(self) -> None:
        async def go() -> None:
            periods = {"broadcast_period": 10.0, "down_period": 20.0, "permdown_period": 30.0}
            async with cluster("a", **periods) as nodes:
                (a,) = nodes
                # The heartbeats are driven by hand, for a deterministic order.
                assert a.tracker._loop_task is not None
                a.tracker._loop_task.cancel()
                a.tracker.track("chan-1", ROOM, "u1", {}, "A")
                a.tracker.tick()  # delta (0, 1]: nobody hears it
                await settle()
                c = Node("c", a.hub, **periods)
                nodes.append(c)
                await c.pubsub.start()
                assert c.tracker._loop_task is not None
                c.tracker._loop_task.cancel()
                a.tracker.tick()  # clock 1, no delta: c asks a for a transfer
                a.tracker.track("chan-2", ROOM, "u2", {}, "B")  # before the answer
                await settle()
                assert c.list() == {"u1": ["A"], "u2": ["B"]}  # the snapshot at clock 2
                a.tracker.untrack("chan-2", ROOM, "u2")
                a.tracker.tick()  # delta (1, 3]: adds [], removes []
                await settle()
                a.tracker.tick()  # clock 3, no delta: c holds 3, no transfer heals it
                await settle()
                assert c.list() == a.list() == {"u1": ["A"]}

        asyncio.run(go())


class FakeChannel:
    """The part of a channel that Presence uses: identity, topic and on_exit."""

    def __init__(self, topic: str = ROOM) -> None:
        self.topic = topic
        self.monitors: list[Callable[[], None]] = []

    def on_exit(self, callback: Callable[[], None]) -> None:
        self.monitors.append(callback)

    def exit(self) -> None:
        for callback in self.monitors:
            callback()


def fake_channel(topic: str = ROOM) -> Any:
    return cast(Any, FakeChannel(topic))


class TestSection5_2PresenceApi:
    def test_diffs_are_broadcast_as_presence_diff_on_every_node(self) -> None:
        async def go() -> None:
            hub = MemoryHub()
            pubsubs = [PubSub(MemoryAdapter(name, hub)) for name in ("a", "b")]
            presences = [Presence(pubsub, **PERIODS) for pubsub in pubsubs]
            recorders = [Recorder(), Recorder()]
            for pubsub, recorder in zip(pubsubs, recorders, strict=True):
                pubsub.subscribe(ROOM, recorder)
                await pubsub.start()
            try:
                channel = fake_channel()
                ref = presences[0].track(channel, 1, {"name": "u1"})  # an int key
                assert len(ref) == 16  # §5.2: 12 bytes of URL-safe base64
                meta = {"name": "u1", "phx_ref": ref}
                join = Broadcast(
                    ROOM, "presence_diff", {"joins": {"1": {"metas": [meta]}}, "leaves": {}}
                )
                await eventually(lambda: recorders[1].received == [join])
                assert recorders[0].received == [join]
                assert presences[1].list(ROOM) == {"1": {"metas": [meta]}}
                assert presences[1].get_by_key(ROOM, 1) == {"metas": [meta]}
                assert presences[1].get_by_key(ROOM, "nobody") == []

                # The channel stops: its presences leave, on both nodes.
                channel.exit()
                leave = Broadcast(
                    ROOM, "presence_diff", {"joins": {}, "leaves": {"1": {"metas": [meta]}}}
                )
                await eventually(lambda: recorders[1].received == [join, leave])
                assert recorders[0].received == [join, leave]
                assert presences[1].list(ROOM) == {}
            finally:
                for pubsub in pubsubs:
                    await pubsub.stop()

        asyncio.run(go())

    def test_update_and_untrack_through_presence(self) -> None:
        presence = Presence(PubSub(), **PERIODS)
        recorder = Recorder()
        presence.pubsub.subscribe(ROOM, recorder)
        channel = fake_channel()
        old = presence.track(channel, "u1", {"status": "away"})
        new = presence.update(channel, "u1", {"status": "here"})
        assert new != old
        assert recorder.received[-1] == Broadcast(
            ROOM,
            "presence_diff",
            {
                "joins": {
                    "u1": {"metas": [{"status": "here", "phx_ref": new, "phx_ref_prev": old}]}
                },
                "leaves": {"u1": {"metas": [{"status": "away", "phx_ref": old}]}},
            },
        )
        presence.untrack(channel, "u1")
        assert presence.list(ROOM) == {}
        presence.untrack(channel, "u1")  # absent: nothing happens (Phoenix answers :ok)
        assert len(recorder.received) == 3

    def test_duplicate_track_raises_usage_error(self) -> None:
        presence = Presence(PubSub(), **PERIODS)
        channel = fake_channel()
        presence.track(channel, "u1", {})
        with pytest.raises(UsageError, match="already tracked"):
            presence.track(channel, "u1", {})
        presence.track(fake_channel(), "u1", {})  # another channel: a second meta
        assert len(presence.list(ROOM)["u1"]["metas"]) == 2

    def test_update_of_an_absent_presence_raises_usage_error(self) -> None:
        presence = Presence(PubSub(), **PERIODS)
        with pytest.raises(UsageError, match="not tracked"):
            presence.update(fake_channel(), "u1", {})

    def test_fetch_enriches_list_and_diffs(self) -> None:
        class Enriched(Presence):
            def fetch(self, topic: str, presences: dict[str, Any]) -> dict[str, Any]:
                return {key: {**p, "user": key.upper()} for key, p in presences.items()}

        presence = Enriched(PubSub(), **PERIODS)
        recorder = Recorder()
        presence.pubsub.subscribe(ROOM, recorder)
        ref = presence.track(fake_channel(), "u1", {})
        enriched = {"metas": [{"phx_ref": ref}], "user": "U1"}
        assert presence.list(ROOM) == {"u1": enriched}
        assert presence.get_by_key(ROOM, "u1") == enriched
        assert recorder.received[0].payload == {"joins": {"u1": enriched}, "leaves": {}}

    def test_presence_must_be_created_before_the_pubsub_starts(self) -> None:
        async def go() -> None:
            pubsub = PubSub()
            await pubsub.start()
            try:
                with pytest.raises(UsageError, match="before the endpoint starts"):
                    Presence(pubsub)
            finally:
                await pubsub.stop()

        asyncio.run(go())


class TestSection5_2LocalTracking:
    """The tracker's own bookkeeping, without a loop."""

    def make(self) -> tuple[Tracker, list[tuple[str, Diff]]]:
        diffs: list[tuple[str, Diff]] = []
        tracker = Tracker(PubSub(), lambda topic, diff: diffs.append((topic, diff)), **PERIODS)
        return tracker, diffs

    def test_tracking_the_same_owner_topic_and_key_twice_is_refused(self) -> None:
        tracker, diffs = self.make()
        assert tracker.track("chan-1", ROOM, "u1", {}, "A")
        assert not tracker.track("chan-1", ROOM, "u1", {}, "B")
        assert tracker.track("chan-2", ROOM, "u1", {}, "C")
        assert tracker.track("chan-1", "room:2", "u1", {}, "D")
        assert refs(tracker.list(ROOM)) == {"u1": ["A", "C"]}
        assert len(diffs) == 3

    def test_update_of_an_absent_presence_is_refused(self) -> None:
        tracker, diffs = self.make()
        assert not tracker.update("chan-1", ROOM, "u1", {}, "A")
        tracker.track("chan-1", ROOM, "u1", {}, "A")
        assert not tracker.update("chan-1", ROOM, "u2", {}, "B")
        assert not tracker.update("chan-2", ROOM, "u1", {}, "B")
        assert len(diffs) == 1

    def test_phx_ref_prev_is_the_previous_update(self) -> None:
        tracker, diffs = self.make()
        tracker.track("chan-1", ROOM, "u1", {}, "A")
        tracker.update("chan-1", ROOM, "u1", {}, "B")
        tracker.update("chan-1", ROOM, "u1", {"n": 2}, "C")
        assert diffs[-1] == (
            ROOM,
            {
                "joins": {"u1": {"metas": [{"n": 2, "phx_ref": "C", "phx_ref_prev": "B"}]}},
                "leaves": {"u1": {"metas": [{"phx_ref": "B", "phx_ref_prev": "A"}]}},
            },
        )

    def test_untrack_owner_drops_every_presence_of_the_owner(self) -> None:
        tracker, diffs = self.make()
        tracker.track("chan-1", ROOM, "u1", {}, "A")
        tracker.track("chan-1", "room:2", "u1", {}, "B")
        tracker.track("chan-2", ROOM, "u1", {}, "C")
        tracker.untrack_owner("chan-1")
        assert refs(tracker.list(ROOM)) == {"u1": ["C"]}
        assert tracker.list("room:2") == {}
        assert sorted((topic, refs(d["leaves"])["u1"][0]) for topic, d in diffs[3:]) == [
            (ROOM, "A"),
            ("room:2", "B"),
        ]
        tracker.untrack_owner("chan-1")
        tracker.untrack("chan-1", ROOM, "u1")
        assert len(diffs) == 5

    def test_own_messages_are_ignored(self) -> None:
        tracker, diffs = self.make()
        tracker.track("chan-1", ROOM, "u1", {}, "A")
        delta = tracker.state.cut_delta()
        tracker.deliver(Heartbeat(tracker.replica, tracker.node, 1, delta), {})
        tracker.deliver(Goodbye(tracker.replica), {})
        assert refs(tracker.list(ROOM)) == {"u1": ["A"]}
        assert len(diffs) == 1

    @pytest.mark.parametrize(
        "periods",
        [
            {"broadcast_period": 1.0, "down_period": 1.5, "permdown_period": 10.0},
            {"broadcast_period": 1.0, "down_period": 10.0, "permdown_period": 10.0},
        ],
    )
    def test_periods_are_checked(self, periods: dict[str, float]) -> None:
        with pytest.raises(ValueError, match="broadcast_period"):
            Tracker(PubSub(), lambda topic, diff: None, **periods)

    def test_replication_messages_travel_through_the_node_codec(self) -> None:
        tracker, _ = self.make()
        codec = tracker.pubsub.codec
        entry = Entry(ROOM, "u1", {"phx_ref": "A", "n": [1, 2]})
        messages = [
            Heartbeat("a|1", "a", 2, Delta("a|1", 0, 2, [(1, entry)], [])),
            Heartbeat("a|1", "a", 2, None),
            TransferRequest("b|2", "b"),
            Transfer("a", Snapshot("a|1", 2, [(1, entry)])),
            Goodbye("a|1"),
        ]
        for message in messages:
            assert codec.decode(codec.encode("a", TRACKER_TOPIC, message)) == (
                "a",
                TRACKER_TOPIC,
                message,
            )
