"""Presence: who is on a topic, in Phoenix's wire format (PHOENIX_PROTOCOL.md §5).

Usage in a channel, as in Phoenix (push the state after every join, from
``handle_info``, so that phoenix.js's ``Presence`` applies the diffs it buffers)::

    presence = Presence(endpoint.pubsub)

    class RoomChannel(Channel):
        async def join(self, topic, payload):
            self.send_info("after_join")
            return {}

        async def handle_info(self, message):
            presence.track(self, self.assigns["user"], {"online_at": time.time()})
            self.push("presence_state", presence.list(self.topic))

Every change is broadcast on the channel's topic as ``presence_diff``
``{"joins": {...}, "leaves": {...}}``. A tracked channel that stops, for any
reason, leaves. Override ``fetch`` to add fields to what ``list`` and the diffs
carry.

This tracker is node-local: each node reports the presences it tracks.
"""

from __future__ import annotations

import base64
import itertools
import os
import time
from typing import Any

from .._core.message import Broadcast
from .._core.presence_state import Diff, PresenceState
from ..channel import Channel
from ..errors import UsageError
from ..pubsub.base import PubSub

__all__ = ["Presence"]

_unique = itertools.count()
_node_salt = os.urandom(2)


def new_ref() -> str:
    """A phx_ref: URL-safe base64 of a nanosecond time, a node salt and a counter (16 chars)."""
    raw = (
        time.time_ns().to_bytes(8, "big") + _node_salt + (next(_unique) % 65536).to_bytes(2, "big")
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Presence:
    """Tracks channels' presences on their topics and broadcasts the diffs."""

    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub
        self._state = PresenceState()

    def track(self, channel: Channel, key: str | int, meta: dict[str, Any]) -> str:
        """Track ``channel`` on its topic under ``key``; returns the new phx_ref."""
        ref = new_ref()
        diff = self._state.track(channel.topic, channel._server, str(key), meta, ref)
        if diff is None:
            raise UsageError(f"{key!r} is already tracked for this channel; use update")
        channel._server.on_exit(self._owner_exited)
        self._broadcast(channel.topic, diff)
        return ref

    def update(self, channel: Channel, key: str | int, meta: dict[str, Any]) -> str:
        """Replace the meta of a tracked presence; returns the new phx_ref."""
        ref = new_ref()
        diff = self._state.update(channel.topic, channel._server, str(key), meta, ref)
        if diff is None:
            raise UsageError(f"{key!r} is not tracked for this channel; track it first")
        self._broadcast(channel.topic, diff)
        return ref

    def untrack(self, channel: Channel, key: str | int) -> None:
        diff = self._state.untrack(channel.topic, channel._server, str(key))
        if diff is not None:
            self._broadcast(channel.topic, diff)

    def list(self, topic: str) -> dict[str, Any]:
        """``{key: {"metas": [...]}}`` for ``topic``, through ``fetch``."""
        return self.fetch(topic, self._state.list(topic))

    def get_by_key(self, topic: str, key: str | int) -> Any:
        """The presence of one key (``{"metas": [...]}`` through ``fetch``), or
        ``[]`` (Phoenix's answer) when absent."""
        found = self._state.list(topic).get(str(key))
        if found is None:
            return []
        return self.fetch(topic, {str(key): found})[str(key)]

    def fetch(self, topic: str, presences: dict[str, Any]) -> dict[str, Any]:
        """Override to enrich presences (for example with user records)."""
        return presences

    def _owner_exited(self, owner: Any) -> None:
        for topic, diff in self._state.untrack_owner(owner).items():
            self._broadcast(topic, diff)

    def _broadcast(self, topic: str, diff: Diff) -> None:
        payload = {
            "joins": self.fetch(topic, diff["joins"]),
            "leaves": self.fetch(topic, diff["leaves"]),
        }
        self.pubsub.local_broadcast(topic, Broadcast(topic, "presence_diff", payload))
