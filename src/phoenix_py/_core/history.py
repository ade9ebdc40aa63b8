"""A topic's message history, without I/O: offsets, the join's ``since``, recovery.

Each broadcast kept in a history gets the topic's next offset (1, 2, ...)
within an epoch, a string that changes whenever the history was lost, so
that offsets never name two messages. A client that comes back names the
last message it saw (``since``); it is *recovered* when the history still
holds every message after it, and gets them, in order.

Invariants of ``TopicLog``:

* ``entries`` holds consecutive offsets ending at ``last`` (empty when
  ``last`` is 0 or everything expired or was trimmed), at most ``size``.
* An entry older than ``ttl`` seconds is never handed out.
"""

from __future__ import annotations

import secrets
from collections import deque
from enum import Enum
from typing import Any, NamedTuple

from .message import Publication

__all__ = [
    "INVALID_SINCE",
    "Admission",
    "Cursor",
    "InvalidSince",
    "Position",
    "Recovery",
    "TopicLog",
    "join_reply_fields",
    "new_epoch",
    "parse_since",
]

#: The join error for a malformed ``since`` (CONTRACT.md, ``history:*``).
INVALID_SINCE = {"reason": "invalid since"}


class Position(NamedTuple):
    """A place in a topic's history: the offset of a message within an epoch."""

    offset: int
    epoch: str


class Recovery(NamedTuple):
    """What a join asking for ``since`` gets.

    ``position`` is the topic's last offset when the history was read;
    ``messages`` (those after ``since``, in order) is empty unless
    ``recovered``.
    """

    position: Position
    recovered: bool
    messages: list[Publication]


class InvalidSince(ValueError):
    """A join's ``since`` is not ``{"offset": <int ≥ 0>, "epoch": <str>}``."""


def new_epoch() -> str:
    return secrets.token_hex(8)


def parse_since(payload: Any) -> Position | None:
    """The ``since`` of a join payload, ``None`` when it has none.

    Raises ``InvalidSince`` for anything but an object with a non-negative
    integer ``offset`` and a string ``epoch`` (booleans and floats are not
    integers, even ``3.0``).
    """
    if not isinstance(payload, dict) or "since" not in payload:
        return None
    since = payload["since"]
    if not isinstance(since, dict):
        raise InvalidSince(f"since must be an object, got {type(since).__name__}")
    offset, epoch = since.get("offset"), since.get("epoch")
    if type(offset) is not int or offset < 0:
        raise InvalidSince(f"since.offset must be a non-negative integer, got {offset!r}")
    if not isinstance(epoch, str):
        raise InvalidSince(f"since.epoch must be a string, got {epoch!r}")
    return Position(offset, epoch)


class _Entry(NamedTuple):
    time: float
    publication: Publication


class TopicLog:
    """The kept messages of one topic, on one node (the in-memory history)."""

    __slots__ = ("entries", "epoch", "last", "size", "touched", "ttl")

    def __init__(self, size: int, ttl: float, now: float, epoch: str | None = None) -> None:
        self.size = size
        self.ttl = ttl
        self.epoch = epoch or new_epoch()
        self.last = 0
        self.entries: deque[_Entry] = deque(maxlen=size)
        #: When it was last written or read (the store forgets idle topics).
        self.touched = now

    def append(
        self, topic: str, event: str, payload: Any, sender: str | None, now: float
    ) -> Publication:
        self.last += 1
        publication = Publication(topic, event, payload, self.last, self.epoch, sender)
        self.entries.append(_Entry(now, publication))
        self.touched = now
        return publication

    def position(self) -> Position:
        return Position(self.last, self.epoch)

    def recover(self, since: Position | None, now: float) -> Recovery:
        """The messages after ``since``, if this log still holds all of them."""
        self.touched = now
        self._expire(now)
        position = self.position()
        if since is None or since.epoch != self.epoch or since.offset > self.last:
            return Recovery(position, False, [])
        missed = self.last - since.offset
        if missed > len(self.entries):
            return Recovery(position, False, [])
        kept = list(self.entries)[len(self.entries) - missed :] if missed else []
        return Recovery(position, True, [entry.publication for entry in kept])

    def _expire(self, now: float) -> None:
        entries, deadline = self.entries, now - self.ttl
        while entries and entries[0].time < deadline:
            entries.popleft()


def join_reply_fields(recovery: Recovery, since: Position | None) -> dict[str, Any]:
    """What a join reply gains: ``offset`` and ``epoch``, and ``recovered``
    when the join asked for ``since``."""
    fields: dict[str, Any] = {}
    if since is not None:
        fields["recovered"] = recovery.recovered
    fields["offset"], fields["epoch"] = recovery.position
    return fields


class Admission(Enum):
    """What a subscriber's ``Cursor`` makes of a message."""

    NEW = "new"  # the next one: send it
    SEEN = "seen"  # sent already, or its own broadcast_from: skip it
    GAP = "gap"  # messages before it never arrived: recover them first


class Cursor:
    """Where one subscriber is in a topic's history: the last message it was sent.

    ``admit`` lets through the next message, once: a message arrives both in a
    recovery's read and live when it was published while the read ran, and
    only its first arrival counts. A message further on than the next one is
    a ``GAP`` (the node lost its pubsub subscription for a while): the cursor
    stays, and ``gap_since`` says what to recover. A new epoch starting at
    offset 1 is the history starting again (expired, or lost by its store).
    """

    __slots__ = ("epoch", "offset", "sender")

    def __init__(self) -> None:
        self.epoch = ""
        self.offset = 0
        #: The name this subscriber's ``broadcast_from`` messages carry (made on use).
        self.sender: str | None = None

    def move_to(self, position: Position) -> None:
        self.offset, self.epoch = position

    def admit(self, publication: Publication) -> Admission:
        """What ``publication`` is to the subscriber; the cursor moves past it
        unless it is a gap (or seen already)."""
        offset = publication.offset
        if publication.epoch == self.epoch:
            if offset <= self.offset:
                return Admission.SEEN
            if offset != self.offset + 1:
                return Admission.GAP
        elif offset != 1:
            return Admission.GAP
        else:
            self.epoch = publication.epoch
        self.offset = offset
        if publication.sender is not None and publication.sender == self.sender:
            return Admission.SEEN  # its own broadcast_from: passed, not sent
        return Admission.NEW

    def gap_since(self, publication: Publication) -> Position:
        """Where to recover from to reach ``publication``, which was a ``GAP``."""
        if publication.epoch == self.epoch:
            return Position(self.offset, self.epoch)
        return Position(0, publication.epoch)  # from the start of the new epoch
