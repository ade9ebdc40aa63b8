"""The three things that travel on a Phoenix socket (PHOENIX_PROTOCOL.md §2.1).

Invariants:

* ``topic`` and ``event`` are ``str``; ``ref`` and ``join_ref`` are whatever the
  client sent (phoenix.js sends decimal strings) or ``None``, echoed unchanged.
* A ``bytes`` payload is a binary payload (V2 binary frames); anything else is
  a JSON value.
"""

from __future__ import annotations

from typing import Any

import msgspec

Ref = str | int | None


class Message(msgspec.Struct, frozen=True):
    """A message from the client, or a push from the server to the client."""

    topic: str
    event: str
    payload: Any
    ref: Ref = None
    join_ref: Ref = None


class Reply(msgspec.Struct, frozen=True):
    """A ``phx_reply`` to the client message whose ``ref`` it carries."""

    topic: str
    status: str
    payload: Any
    ref: Ref = None
    join_ref: Ref = None


class Broadcast(msgspec.Struct, frozen=True, tag=True, array_like=True):
    """An event for every subscriber of a topic; it carries no refs."""

    topic: str
    event: str
    payload: Any

    @property
    def ref(self) -> str | None:
        """What goes in the frame's ``ref`` slot: nothing for a plain broadcast."""
        return None


class Publication(Broadcast, frozen=True, tag=True, array_like=True):
    """A broadcast kept in a topic's history (``phoenix_py.history``).

    ``offset`` numbers it within the history's ``epoch``; subscribers receive
    ``"<offset>:<epoch>"`` in the ref slot (phoenix.js hands it to ``channel.on``
    callbacks). ``sender`` names the channel that sent it with
    ``broadcast_from``, which skips it. The field order is part of the Redis
    history's wire (``pubsub/redis_history.py``): offset and epoch are encoded
    by Redis, after the payload and before the sender.
    """

    offset: int = 0
    epoch: str = ""
    sender: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.offset}:{self.epoch}"
