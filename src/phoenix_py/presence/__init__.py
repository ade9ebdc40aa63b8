"""Presence: who is on a topic, cluster-wide, in Phoenix's wire format (§5).

Usage in a channel, as in Phoenix (push the state after every join, from
``handle_info``, so that phoenix.js's ``Presence`` applies the diffs it buffers)::

    presence = Presence(endpoint.pubsub)   # before the endpoint starts

    class RoomChannel(Channel):
        async def join(self, topic, payload):
            self.send_info("after_join")
            return {}

        async def handle_info(self, message):
            presence.track(self, self.assigns["user"], {"online_at": time.time()})
            self.push("presence_state", presence.list(self.topic))

Every change is broadcast on the channel's topic as ``presence_diff``
``{"joins": {...}, "leaves": {...}}`` to this node's subscribers; each node
reports the changes it sees, its own at once and the others' as their
heartbeats arrive (``presence.tracker``). A tracked channel that stops, for any
reason, leaves. Override ``fetch`` to add fields to what ``list``,
``get_by_key`` and the diffs carry.
"""

from __future__ import annotations

import base64
import itertools
import os
import time
from typing import Any

from .._core.message import Broadcast
from .._core.presence_state import Diff, Keys
from ..channel import Channel
from ..errors import UsageError
from ..pubsub.base import PubSub
from ..telemetry import PRESENCE_DIFF
from .tracker import Tracker

__all__ = ["Presence", "Tracker"]

_unique = itertools.count()
_node_salt = os.urandom(2)


def new_ref() -> str:
    """A phx_ref: URL-safe base64 of a nanosecond time, a node salt and a counter (16 chars)."""
    counter = (next(_unique) % 65536).to_bytes(2, "big")
    raw = time.time_ns().to_bytes(8, "big") + _node_salt + counter
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Presence:
    """Tracks channels' presences on their topics and broadcasts the diffs.

    Args:
        pubsub: the endpoint's pubsub; the tracker starts and stops with it.
        name: nodes of one app share it; two ``Presence`` of one app need two names.
        broadcast_period, down_period, permdown_period: see ``Tracker``.
    """

    def __init__(
        self,
        pubsub: PubSub,
        *,
        name: str = "presence",
        broadcast_period: float = 1.5,
        down_period: float = 30.0,
        permdown_period: float = 1200.0,
    ) -> None:
        self.pubsub = pubsub
        self.tracker = Tracker(
            pubsub,
            self._broadcast,
            name=name,
            broadcast_period=broadcast_period,
            down_period=down_period,
            permdown_period=permdown_period,
        )
        pubsub.add_service(self.tracker)

    def track(
        self, channel: Channel, key: str | int, meta: dict[str, Any], *, topic: str | None = None
    ) -> str:
        """Track ``channel`` on its topic (or ``topic``) under ``key`` until it stops;
        returns the new phx_ref."""
        ref = new_ref()
        first = not self.tracker.is_tracking(channel)
        if not self.tracker.track(channel, topic or channel.topic, str(key), meta, ref):
            raise UsageError(f"{key!r} is already tracked for this channel; use update")
        if first:
            channel.on_exit(lambda: self.tracker.untrack_owner(channel))
        return ref

    def update(
        self, channel: Channel, key: str | int, meta: dict[str, Any], *, topic: str | None = None
    ) -> str:
        """Replace the meta of a tracked presence; returns the new phx_ref."""
        ref = new_ref()
        if not self.tracker.update(channel, topic or channel.topic, str(key), meta, ref):
            raise UsageError(f"{key!r} is not tracked for this channel; track it first")
        return ref

    def untrack(self, channel: Channel, key: str | int, *, topic: str | None = None) -> None:
        self.tracker.untrack(channel, topic or channel.topic, str(key))

    def list(self, topic: str) -> dict[str, Any]:
        """``{key: {"metas": [...]}}`` for ``topic`` across the cluster, through ``fetch``."""
        return self.fetch(topic, self.tracker.list(topic))

    def get_by_key(self, topic: str, key: str | int) -> Any:
        """The presence of one key (``{"metas": [...]}`` through ``fetch``), or
        ``[]`` (Phoenix's answer) when absent."""
        metas = self.tracker.metas(topic, str(key))
        if not metas:
            return []
        return self.fetch(topic, {str(key): {"metas": metas}})[str(key)]

    def keys(self, topic: str) -> Keys:
        """The keys present on ``topic`` across the cluster, in the order they came
        (``list(topic)`` without the metas: cheap on a big topic)."""
        return self.tracker.keys(topic)

    def fetch(self, topic: str, presences: dict[str, Any]) -> dict[str, Any]:
        """Override to enrich presences (for example with user records)."""
        return presences

    def _broadcast(self, topic: str, diff: Diff) -> None:
        payload = {
            "joins": self.fetch(topic, diff["joins"]),
            "leaves": self.fetch(topic, diff["leaves"]),
        }
        self.pubsub.local_broadcast(topic, Broadcast(topic, "presence_diff", payload))
        if PRESENCE_DIFF.handlers:
            counts = {"joins": len(diff["joins"]), "leaves": len(diff["leaves"])}
            PRESENCE_DIFF.emit({**counts, "size": self.tracker.count(topic)}, {"topic": topic})
