"""The replicated presence state of one node (phoenix_pubsub's ``Tracker.State``).

Every node is a *replica* (its node name plus a boot id, so a restarted node is
a new replica). Only a replica changes its own entries: each add or remove
ticks its clock, and an entry is named by its *dot* ``(replica, clock)``. So a
replica's entries are a function of its own history, and another node holds a
copy of them "as of clock c" (``context[replica] = c``).

Replication (PHOENIX_PROTOCOL.md §5.5):

* ``cut_delta`` returns the local changes since the last cut: the clock range
  ``(start, end]``, the entries added and the clocks removed.
* ``merge`` applies a remote delta when it starts at or before what is held
  (``start <= context``): adds newer than the context are taken, removes are
  applied, and the context moves to ``end``. A delta that starts after the
  context means something was missed: ``merge`` applies nothing and answers
  ``needs_transfer``, and the node asks that replica for a ``snapshot``.
* ``apply_snapshot`` replaces a replica's entries when the snapshot is newer.

Applying the same delta twice, or an old one, changes nothing; deltas of
different replicas commute. So replicas that receive every replica's changes,
in any order, with transfers for the gaps, end with the same entries
(``tests/core/test_presence_state.py`` checks this with hypothesis).

A replica can be *down* (no heartbeat for a while): its entries are kept but
hidden from ``list`` and reported as leaves; when it comes back they are
reported as joins. ``remove_replica`` forgets it (permdown, graceful stop).

Every change returns ``Diffs``: per topic, ``{"joins": {key: {"metas": [..]}},
"leaves": {...}}``, the ``presence_diff`` payload of §5.1.
"""

from __future__ import annotations

from typing import Any

import msgspec

Meta = dict[str, Any]
Presences = dict[str, dict[str, list[Meta]]]
Metas = list[Meta]
Keys = list[str]
Diff = dict[str, Presences]
Diffs = dict[str, Diff]


class Entry(msgspec.Struct, frozen=True, array_like=True):
    topic: str
    key: str
    meta: Meta  # as on the wire: the user's meta plus phx_ref (and phx_ref_prev)


class Delta(msgspec.Struct, frozen=True, array_like=True):
    replica: str
    start: int  # the receiver must hold this replica through ``start``
    end: int
    adds: list[tuple[int, Entry]]
    removes: list[int]


class Snapshot(msgspec.Struct, frozen=True, array_like=True):
    replica: str
    clock: int
    entries: list[tuple[int, Entry]]


class _DiffBuilder:
    def __init__(self) -> None:
        self.diffs: Diffs = {}

    def add(self, side: str, entry: Entry) -> None:
        diff = self.diffs.setdefault(entry.topic, {"joins": {}, "leaves": {}})
        diff[side].setdefault(entry.key, {"metas": []})["metas"].append(entry.meta)


class TrackerState:
    """One node's view of every replica's presence entries."""

    def __init__(self, replica: str) -> None:
        self.replica = replica
        self.clock = 0
        self._entries: dict[str, dict[int, Entry]] = {replica: {}}
        self._context: dict[str, int] = {replica: 0}
        # topic -> key -> (replica, clock) -> entry: a key's metas without a scan
        self._by_topic: dict[str, dict[str, dict[tuple[str, int], Entry]]] = {}
        self._down: set[str] = set()
        self._delta_start = 0
        self._delta_adds: dict[int, Entry] = {}
        self._delta_removes: list[int] = []

    # Local changes

    def add(self, entry: Entry) -> tuple[int, Diffs]:
        """Add a local entry; returns its clock (to remove it later) and the diff."""
        self.clock += 1
        self._put(self.replica, self.clock, entry)
        self._context[self.replica] = self.clock
        self._delta_adds[self.clock] = entry
        builder = _DiffBuilder()
        builder.add("joins", entry)
        return self.clock, builder.diffs

    def remove(self, clock: int) -> Diffs:
        """Remove a local entry by its clock."""
        entry = self._entries[self.replica].get(clock)
        if entry is None:
            return {}
        self.clock += 1
        self._context[self.replica] = self.clock
        self._drop(self.replica, clock)
        self._delta_adds.pop(clock, None)
        # Listed even when added since the last cut: a snapshot taken in between
        # may have carried the entry to another node.
        self._delta_removes.append(clock)
        builder = _DiffBuilder()
        builder.add("leaves", entry)
        return builder.diffs

    def cut_delta(self) -> Delta | None:
        """The local changes since the last cut, or ``None`` when there are none."""
        if self.clock == self._delta_start:
            return None
        delta = Delta(
            self.replica,
            self._delta_start,
            self.clock,
            list(self._delta_adds.items()),
            self._delta_removes,
        )
        self._delta_start = self.clock
        self._delta_adds, self._delta_removes = {}, []
        return delta

    def snapshot(self) -> Snapshot:
        return Snapshot(self.replica, self.clock, list(self._entries[self.replica].items()))

    # Remote changes

    def knows(self, replica: str) -> bool:
        return replica in self._context

    def clock_of(self, replica: str) -> int:
        return self._context.get(replica, 0)

    def replicas(self) -> Keys:
        return [replica for replica in self._context if replica != self.replica]

    def add_replica(self, replica: str) -> None:
        if replica not in self._context:
            self._context[replica] = 0
            self._entries[replica] = {}

    def merge(self, delta: Delta) -> tuple[Diffs, bool]:
        """Apply a remote delta: (diffs, needs_transfer)."""
        replica = delta.replica
        if replica == self.replica:
            return {}, False
        self.add_replica(replica)
        held = self._context[replica]
        if delta.start > held:
            return {}, True
        if delta.end <= held:
            return {}, False
        builder = _DiffBuilder()
        visible = replica not in self._down
        for clock in delta.removes:
            entry = self._entries[replica].get(clock)
            if entry is not None:
                self._drop(replica, clock)
                if visible:
                    builder.add("leaves", entry)
        for clock, entry in delta.adds:
            if clock > held and clock not in self._entries[replica]:
                self._put(replica, clock, entry)
                if visible:
                    builder.add("joins", entry)
        self._context[replica] = delta.end
        return builder.diffs, False

    def apply_snapshot(self, snapshot: Snapshot) -> Diffs:
        """Replace a replica's entries with a newer snapshot of them."""
        replica = snapshot.replica
        if replica == self.replica:
            return {}
        self.add_replica(replica)
        if snapshot.clock <= self._context[replica]:
            return {}
        builder = _DiffBuilder()
        visible = replica not in self._down
        new = dict(snapshot.entries)
        for clock, entry in list(self._entries[replica].items()):
            if clock not in new:
                self._drop(replica, clock)
                if visible:
                    builder.add("leaves", entry)
        for clock, entry in new.items():
            if clock not in self._entries[replica]:
                self._put(replica, clock, entry)
                if visible:
                    builder.add("joins", entry)
        self._context[replica] = snapshot.clock
        return builder.diffs

    def set_down(self, replica: str, down: bool) -> Diffs:
        """Hide (down) or show again (up) a replica's entries."""
        if replica == self.replica or replica not in self._context:
            return {}
        if down == (replica in self._down):
            return {}
        if down:
            self._down.add(replica)
        else:
            self._down.discard(replica)
        builder = _DiffBuilder()
        for entry in self._entries[replica].values():
            builder.add("leaves" if down else "joins", entry)
        return builder.diffs

    def is_down(self, replica: str) -> bool:
        return replica in self._down

    def remove_replica(self, replica: str) -> Diffs:
        """Forget a replica and its entries (permdown or graceful stop)."""
        if replica == self.replica or replica not in self._context:
            return {}
        builder = _DiffBuilder()
        was_visible = replica not in self._down
        for clock, entry in list(self._entries[replica].items()):
            self._drop(replica, clock)
            if was_visible:
                builder.add("leaves", entry)
        del self._entries[replica], self._context[replica]
        self._down.discard(replica)
        return builder.diffs

    # Views

    def list(self, topic: str) -> Presences:
        """``{key: {"metas": [...]}}`` of the visible entries on ``topic``."""
        grouped: Presences = {}
        for key, entries in self._by_topic.get(topic, {}).items():
            metas = self._visible_metas(entries)
            if metas:
                grouped[key] = {"metas": metas}
        return grouped

    def metas(self, topic: str, key: str) -> Metas:
        """The visible metas of one key on ``topic`` (``[]``: not present)."""
        return self._visible_metas(self._by_topic.get(topic, {}).get(key, {}))

    def count(self, topic: str) -> int:
        """How many keys are present on ``topic`` (no list built while every replica is up)."""
        if not self._down:
            return len(self._by_topic.get(topic, ()))
        return len(self.keys(topic))

    def keys(self, topic: str) -> Keys:
        """The keys present on ``topic``, without building their metas."""
        down = self._down
        return [
            key
            for key, entries in self._by_topic.get(topic, {}).items()
            if not down or any(replica not in down for replica, _ in entries)
        ]

    def _visible_metas(self, entries: dict[tuple[str, int], Entry]) -> Metas:
        down = self._down
        return [entry.meta for (replica, _), entry in entries.items() if replica not in down]

    def entries(self, replica: str) -> dict[int, Entry]:
        """A replica's entries by clock (a copy)."""
        return dict(self._entries.get(replica, {}))

    def local_entry(self, clock: int) -> Entry | None:
        return self._entries[self.replica].get(clock)

    # Indexes

    def _put(self, replica: str, clock: int, entry: Entry) -> None:
        self._entries[replica][clock] = entry
        by_key = self._by_topic.setdefault(entry.topic, {})
        by_key.setdefault(entry.key, {})[(replica, clock)] = entry

    def _drop(self, replica: str, clock: int) -> None:
        entry = self._entries[replica].pop(clock)
        by_key = self._by_topic[entry.topic]
        key_entries = by_key[entry.key]
        del key_entries[(replica, clock)]
        if not key_entries:
            del by_key[entry.key]
            if not by_key:
                del self._by_topic[entry.topic]
