"""What the browser keeps: a rendered tree that merges diffs as the 1.2 client does.

The test toolkit (``live.testing``) holds one ``ClientTree`` per view: the join's
``rendered``, then every diff merged by the client's rules (``rendered.js``:
a subtree carrying ``"s"`` replaces the old one, anything else merges into
it; keyed comprehensions move entries by old index when ``"km"`` says so and
drop those past ``"kc"``). Stream entries are not kept in the tree, as the
client does not keep them either: like the DOM, the tree keeps their HTML by
``dom_id`` per stream, applying inserts (at a position, with a limit, update
only), deletes and resets.
"""

from __future__ import annotations

import copy
from typing import Any


class ClientTree:
    """One view's rendered tree, as the client holds it, and its HTML."""

    def __init__(self, rendered: dict[str, Any]) -> None:
        self.rendered: dict[str, Any] = {}
        self.components: dict[str, Any] = {}
        self.streams: dict[str, list[tuple[str, str]]] = {}  # ref -> [(dom_id, html)]
        self.merge(rendered)

    def merge(self, diff: dict[str, Any]) -> None:
        diff = copy.deepcopy(diff)
        for key in ("r", "e", "t"):
            diff.pop(key, None)
        components = diff.pop("c", None)
        self.rendered = _merge(self.rendered, diff)
        if components:
            for cid, component in components.items():
                self.components[cid] = _merge(self.components.get(cid, {}), component)
        self._apply_streams(self.rendered)

    def html(self) -> str:
        parts: list[str] = []
        self._write(self.rendered, parts)
        return "".join(parts)

    def orphan_cids(self) -> list[int]:
        """Components the client holds that no rendered part shows any more (the
        client then sends ``cids_will_destroy`` and ``cids_destroyed`` for them)."""
        shown: set[int] = set()
        pending = [self.rendered]
        while pending:
            node = pending.pop()
            if isinstance(node, bool):
                continue
            if isinstance(node, int):
                if node not in shown:
                    shown.add(node)
                    pending.append(self.components.get(str(node), {}))
            elif isinstance(node, dict):
                pending.extend(value for key, value in node.items() if key != "s")
            elif isinstance(node, list):
                pending.extend(node)
        return sorted(int(cid) for cid in self.components if int(cid) not in shown)

    def prune(self, cids: list[int]) -> None:
        for cid in cids:
            self.components.pop(str(cid), None)

    # Streams, kept as the DOM keeps them

    def _apply_streams(self, node: Any) -> None:
        if isinstance(node, dict):
            stream = node.get("stream")
            if stream is not None and "k" in node:
                self._apply_stream(node, stream)
            for key, value in list(node.items()):
                if key not in ("s", "stream"):
                    self._apply_streams(value)

    def _apply_stream(self, node: dict[str, Any], stream: list[Any]) -> None:
        ref, inserts, deletes = stream[0], stream[1], stream[2]
        kept = self.streams.setdefault(ref, [])
        if len(stream) > 3 and stream[3]:
            kept.clear()
        for dom_id in deletes:
            kept[:] = [item for item in kept if item[0] != dom_id]
        entries = node["k"]
        for position, (dom_id, at, limit, update_only) in enumerate(inserts):
            parts: list[str] = []
            self._entry(node["s"], entries[str(position)], parts)
            html = "".join(parts)
            existing = [index for index, item in enumerate(kept) if item[0] == dom_id]
            if existing:
                kept[existing[0]] = (dom_id, html)
            elif not update_only:
                if at == -1 or at >= len(kept):
                    kept.append((dom_id, html))
                else:
                    kept.insert(max(at, 0), (dom_id, html))
            if limit is not None:
                kept[:] = kept[:limit] if limit >= 0 else kept[limit:]
        node["k"] = {"kc": 0}
        node["ref"] = ref
        del node["stream"]

    # HTML

    def _write(self, node: Any, parts: list[str]) -> None:
        if isinstance(node, str):
            parts.append(node)
        elif isinstance(node, int):
            self._write(self.components[str(node)], parts)
        elif "k" in node:
            if "ref" in node:
                parts.extend(html for _, html in self.streams.get(node["ref"], []))
            for position in range(node["k"]["kc"]):
                self._entry(node["s"], node["k"][str(position)], parts)
        else:
            self._entry(node["s"], node, parts)

    def _entry(self, statics: list[str], dynamics: dict[str, Any], parts: list[str]) -> None:
        for index, static in enumerate(statics[:-1]):
            parts.append(static)
            self._write(dynamics[str(index)], parts)
        parts.append(statics[-1])


def _merge(target: Any, source: dict[str, Any]) -> Any:
    if "s" in source or not isinstance(target, dict):
        return source
    _merge_into(target, source)
    return target


def _merge_into(target: dict[str, Any], source: dict[str, Any]) -> None:
    if "k" in source:
        _merge_keyed(target, source)
        return
    for key, value in source.items():
        old = target.get(key)
        if isinstance(value, dict) and "s" not in value and isinstance(old, dict):
            _merge_into(old, value)
        else:
            target[key] = value


def _merge_keyed(target: dict[str, Any], source: dict[str, Any]) -> None:
    keyed = source["k"]
    old = copy.deepcopy(target["k"]) if keyed.get("km") else target["k"]
    entries = target["k"]
    for index, entry in keyed.items():
        if index in ("kc", "km"):
            continue
        if isinstance(entry, list):
            entries[index] = copy.deepcopy(old[str(entry[0])])
            _merge_into(entries[index], entry[1])
        elif isinstance(entry, int):
            entries[index] = copy.deepcopy(old[str(entry)])
        else:
            _merge_into(entries.setdefault(index, {}), entry)
    for index in range(keyed["kc"], entries.get("kc", 0)):
        entries.pop(str(index), None)
    entries["kc"] = keyed["kc"]
    if "stream" in source:
        target["stream"] = source["stream"]
