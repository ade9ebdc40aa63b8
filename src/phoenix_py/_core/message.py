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
