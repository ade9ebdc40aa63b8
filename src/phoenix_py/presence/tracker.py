"""The process around ``TrackerState``: replication over the pubsub (§5.5).

Each node's tracker subscribes to ``phx_presence:<name>`` and, every
``broadcast_period`` (1.5 s), broadcasts a heartbeat carrying its clock and the
delta of its local changes since the last one. A receiver merges the delta; a
gap (a lost heartbeat, a node it has just met) makes it ask that node for a
snapshot with a ``direct_broadcast``. So there is no central store: each node
owns its presences and everyone converges on them.

Failure handling, with Phoenix's defaults:

* no heartbeat from a replica for ``down_period`` (30 s): its presences leave
  (hidden, kept); a heartbeat brings them back;
* none for ``permdown_period`` (20 min): they are forgotten;
* a node that stops cleanly sends a goodbye, and its presences leave at once;
* a node that restarts under the same name is a new replica: the old one's
  presences leave when the new one is first heard.

Invariants: the tracker never raises into the pubsub; messages from its own
replica are ignored; every change of the visible state is reported once to
``on_diff``, per topic.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable, Coroutine, Hashable
from typing import Any

import msgspec

from .._core.presence_state import (
    Delta,
    Diff,
    Diffs,
    Entry,
    Keys,
    Meta,
    Metas,
    Presences,
    Snapshot,
    TrackerState,
)
from ..pubsub.base import PubSub

logger = logging.getLogger("phoenix_py.presence")


class Heartbeat(msgspec.Struct, frozen=True, tag=True, array_like=True):
    replica: str
    node: str
    clock: int
    delta: Delta | None


class TransferRequest(msgspec.Struct, frozen=True, tag=True, array_like=True):
    replica: str
    node: str


class Transfer(msgspec.Struct, frozen=True, tag=True, array_like=True):
    node: str
    snapshot: Snapshot


class Goodbye(msgspec.Struct, frozen=True, tag=True, array_like=True):
    replica: str


class Tracker:
    """Replicates one node's presences to the cluster and merges everyone else's.

    Args:
        pubsub: the node's pubsub (its adapter reaches the other nodes).
        on_diff: called with ``(topic, diff)`` for every visible change.
        name: the tracker's name; nodes of one app use the same.
        broadcast_period, down_period, permdown_period: seconds (see above).
    """

    def __init__(
        self,
        pubsub: PubSub,
        on_diff: Callable[[str, Diff], None],
        *,
        name: str = "presence",
        broadcast_period: float = 1.5,
        down_period: float = 30.0,
        permdown_period: float = 1200.0,
    ) -> None:
        if not broadcast_period * 2 <= down_period < permdown_period:
            raise ValueError("need broadcast_period * 2 <= down_period < permdown_period")
        self.pubsub = pubsub
        self.topic = f"phx_presence:{name}"
        self.node = pubsub.node_name
        self.replica = f"{self.node}|{secrets.token_hex(6)}"
        self.state = TrackerState(self.replica)
        self.broadcast_period = broadcast_period
        self.down_period = down_period
        self.permdown_period = permdown_period
        self._on_diff = on_diff
        self._owners: dict[Hashable, dict[tuple[str, str], int]] = {}
        self._nodes: dict[str, str] = {}  # replica -> node name
        self._last_seen: dict[str, float] = {}
        self._transfer_asked: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        pubsub.codec.register(Heartbeat, TransferRequest, Transfer, Goodbye)

    # Lifecycle

    async def start(self) -> None:
        self.pubsub.subscribe(self.topic, self)
        self._loop_task = asyncio.get_running_loop().create_task(self._heartbeats())

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            self._loop_task = None
        self.pubsub.unsubscribe(self.topic, self)
        await self.pubsub.broadcast(self.topic, Goodbye(self.replica))
        for task in list(self._tasks):
            task.cancel()

    async def _heartbeats(self) -> None:
        # The first beat comes after a random 0-25 % of the period, to stagger nodes.
        await asyncio.sleep(random.uniform(0, self.broadcast_period / 4))
        while True:
            try:
                self.tick()
            except Exception:
                logger.exception("presence heartbeat failed")
            await asyncio.sleep(self.broadcast_period)

    def tick(self) -> None:
        """One heartbeat: publish the delta, then detect silent replicas."""
        heartbeat = Heartbeat(self.replica, self.node, self.state.clock, self.state.cut_delta())
        self._spawn(self.pubsub.broadcast(self.topic, heartbeat))
        now = time.monotonic()
        for replica in self.state.replicas():
            silent = now - self._last_seen.get(replica, now)
            if silent > self.permdown_period:
                logger.info("presence replica %s silent for %.0f s: forgotten", replica, silent)
                self._forget(replica)
            elif silent > self.down_period and not self.state.is_down(replica):
                logger.info("presence replica %s silent for %.0f s: down", replica, silent)
                self._emit(self.state.set_down(replica, True))

    # Local presences

    def track(self, owner: Hashable, topic: str, key: str, meta: Meta, ref: str) -> bool:
        """Track ``owner`` on ``topic`` under ``key``; False if it already is."""
        owned = self._owners.setdefault(owner, {})
        if (topic, key) in owned:
            return False
        clock, diffs = self.state.add(Entry(topic, key, {**meta, "phx_ref": ref}))
        owned[(topic, key)] = clock
        self._emit(diffs)
        return True

    def update(self, owner: Hashable, topic: str, key: str, meta: Meta, ref: str) -> bool:
        """Replace the meta (a leave of the old, a join of the new); False if absent."""
        owned = self._owners.get(owner, {})
        clock = owned.get((topic, key))
        old = self.state.local_entry(clock) if clock is not None else None
        if clock is None or old is None:
            return False
        leaves = self.state.remove(clock)
        new = {**meta, "phx_ref": ref, "phx_ref_prev": old.meta["phx_ref"]}
        owned[(topic, key)], joins = self.state.add(Entry(topic, key, new))
        self._emit({topic: {"joins": joins[topic]["joins"], "leaves": leaves[topic]["leaves"]}})
        return True

    def untrack(self, owner: Hashable, topic: str, key: str) -> None:
        owned = self._owners.get(owner, {})
        clock = owned.pop((topic, key), None)
        if clock is not None:
            self._emit(self.state.remove(clock))
        if not owned:
            self._owners.pop(owner, None)

    def is_tracking(self, owner: Hashable) -> bool:
        """Whether ``owner`` has any presence tracked here."""
        return owner in self._owners

    def untrack_owner(self, owner: Hashable) -> None:
        """Drop every presence of ``owner`` (its channel stopped)."""
        for clock in self._owners.pop(owner, {}).values():
            self._emit(self.state.remove(clock))

    def list(self, topic: str) -> Presences:
        return self.state.list(topic)

    def metas(self, topic: str, key: str) -> Metas:
        return self.state.metas(topic, key)

    def keys(self, topic: str) -> Keys:
        return self.state.keys(topic)

    def count(self, topic: str) -> int:
        return self.state.count(topic)

    # From the pubsub

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        if isinstance(message, Heartbeat):
            if message.replica != self.replica:
                self._heartbeat(message)
        elif isinstance(message, TransferRequest):
            if message.replica != self.replica:
                reply = Transfer(self.node, self.state.snapshot())
                self._spawn(self.pubsub.direct_broadcast(message.node, self.topic, reply))
        elif isinstance(message, Transfer):
            if message.snapshot.replica != self.replica:
                self._meet(message.snapshot.replica, message.node)
                self._transfer_asked.pop(message.snapshot.replica, None)
                self._emit(self.state.apply_snapshot(message.snapshot))
        elif isinstance(message, Goodbye) and message.replica != self.replica:
            self._forget(message.replica)

    def _heartbeat(self, heartbeat: Heartbeat) -> None:
        replica = heartbeat.replica
        self._meet(replica, heartbeat.node)
        self._last_seen[replica] = time.monotonic()
        if self.state.is_down(replica):
            logger.info("presence replica %s is back", replica)
            self._emit(self.state.set_down(replica, False))
        needs_transfer = heartbeat.clock > self.state.clock_of(replica)
        if heartbeat.delta is not None:
            diffs, needs_transfer = self.state.merge(heartbeat.delta)
            self._emit(diffs)
        if needs_transfer:
            self._ask_transfer(replica, heartbeat.node)

    def _meet(self, replica: str, node: str) -> None:
        """Record a replica; a new one from a known node replaces the old (restart)."""
        if self.state.knows(replica):
            return
        for old, old_node in list(self._nodes.items()):
            if old_node == node and old != replica:
                logger.info("presence node %s restarted: replica %s replaced", node, old)
                self._forget(old)
        self.state.add_replica(replica)
        self._nodes[replica] = node
        self._last_seen[replica] = time.monotonic()

    def _ask_transfer(self, replica: str, node: str) -> None:
        now = time.monotonic()
        if now - self._transfer_asked.get(replica, -1e9) < self.broadcast_period:
            return  # one request per period per replica
        self._transfer_asked[replica] = now
        request = TransferRequest(self.replica, self.node)
        self._spawn(self.pubsub.direct_broadcast(node, self.topic, request))

    def _forget(self, replica: str) -> None:
        self._nodes.pop(replica, None)
        self._last_seen.pop(replica, None)
        self._transfer_asked.pop(replica, None)
        self._emit(self.state.remove_replica(replica))

    def _emit(self, diffs: Diffs) -> None:
        for topic, diff in diffs.items():
            try:
                self._on_diff(topic, diff)
            except Exception:
                logger.exception("presence diff handler failed for %r", topic)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop: a test driving the tracker by hand
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
