"""Presence entries and Phoenix's wire format for them (PHOENIX_PROTOCOL.md §5.1-§5.2).

This is the node-local view: who is tracked on which topic under which key,
with which metas. Each change returns the diff it causes, in the shape of a
``presence_diff`` payload: ``{"joins": {key: {"metas": [...]}}, "leaves": {...}}``.
A meta on the wire is the user's meta plus ``phx_ref`` (and ``phx_ref_prev``
after an update).

Invariants:

* One entry per (topic, owner, key); ``owner`` is any hashable id of the
  tracked process (a channel).
* ``list`` groups a topic's metas by key in tracking order.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

Metas = dict[str, Any]
Diff = dict[str, dict[str, dict[str, list[Metas]]]]


def empty_diff() -> Diff:
    return {"joins": {}, "leaves": {}}


class PresenceState:
    def __init__(self) -> None:
        # topic -> (owner, key) -> meta as sent on the wire (with phx_ref)
        self._topics: dict[str, dict[tuple[Hashable, str], Metas]] = {}

    def track(self, topic: str, owner: Hashable, key: str, meta: Metas, ref: str) -> Diff | None:
        """Add an entry; ``None`` when (topic, owner, key) is already tracked."""
        entries = self._topics.setdefault(topic, {})
        if (owner, key) in entries:
            return None
        wire = {**meta, "phx_ref": ref}
        entries[(owner, key)] = wire
        return {"joins": {key: {"metas": [wire]}}, "leaves": {}}

    def update(self, topic: str, owner: Hashable, key: str, meta: Metas, ref: str) -> Diff | None:
        """Replace an entry's meta; ``None`` when it is not tracked."""
        entries = self._topics.get(topic, {})
        old = entries.get((owner, key))
        if old is None:
            return None
        new = {**meta, "phx_ref": ref, "phx_ref_prev": old["phx_ref"]}
        entries[(owner, key)] = new
        return {"joins": {key: {"metas": [new]}}, "leaves": {key: {"metas": [old]}}}

    def untrack(self, topic: str, owner: Hashable, key: str) -> Diff | None:
        entries = self._topics.get(topic)
        old = entries.pop((owner, key), None) if entries is not None else None
        if old is None:
            return None
        if not entries:
            del self._topics[topic]
        return {"joins": {}, "leaves": {key: {"metas": [old]}}}

    def untrack_owner(self, owner: Hashable) -> dict[str, Diff]:
        """Remove every entry of ``owner``: the diff per topic."""
        diffs: dict[str, Diff] = {}
        for topic, entries in list(self._topics.items()):
            gone = [(k, meta) for (o, k), meta in entries.items() if o == owner]
            for key, meta in gone:
                del entries[(owner, key)]
                leaves = diffs.setdefault(topic, empty_diff())["leaves"]
                leaves.setdefault(key, {"metas": []})["metas"].append(meta)
            if not entries:
                del self._topics[topic]
        return diffs

    def list(self, topic: str) -> dict[str, dict[str, list[Metas]]]:
        grouped: dict[str, dict[str, list[Metas]]] = {}
        for (_, key), meta in self._topics.get(topic, {}).items():
            grouped.setdefault(key, {"metas": []})["metas"].append(meta)
        return grouped
