"""How a joined channel follows its topic's ``History`` (part of ``ChannelServer``).

Invariants:

* The client is sent each kept message once, in offset order: what the join
  recovered first (after the reply), then the live stream, each through the
  ``Cursor``.
* A live message past the next offset is a gap (this node's pubsub lost its
  subscription for a while, or its store restarted): live messages are held
  while the missing ones are read from the history, then those are sent, then
  the held ones. When the history no longer has them, the channel stops with
  an error (phoenix.js rejoins, with ``since``, and hears ``recovered:
  false``): a subscriber never skips a message silently.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from ._core.history import Admission, Cursor, Position, join_reply_fields
from ._core.message import Publication
from .history import History, HistoryUnavailable

__all__ = ["HistoryFollower"]

logger = logging.getLogger("phoenix_py.channel")

_senders = itertools.count(1)  # names a channel's broadcast_from on a history topic


class HistoryFollower:
    """One channel's place in its topic's history.

    ``send(publication, cache)`` forwards a message to the client, ``lost(reason)``
    stops the channel with an error, ``spawn`` runs a recovery in the background.
    """

    __slots__ = (
        "_gave_up",
        "_held",
        "_recovered",
        "cursor",
        "history",
        "lost",
        "send",
        "spawn",
        "topic",
    )

    def __init__(
        self,
        history: History,
        topic: str,
        send: Callable[[Publication, dict[Any, Any]], None],
        lost: Callable[[str], None],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.history = history
        self.topic = topic
        self.send = send
        self.lost = lost
        self.spawn = spawn
        self.cursor = Cursor()
        self._recovered: list[Publication] | None = None  # to send after the join reply
        self._held: list[Publication] | None = None  # live messages while a gap is filled
        self._gave_up = False  # a gap could not be filled: the channel is stopping

    async def start(self, since: Position | None) -> dict[str, Any]:
        """Read the history after subscribing; the join reply's extra fields.
        Raises ``HistoryUnavailable``."""
        recovery = await self.history.recover(self.topic, since)
        self.cursor.move_to(recovery.position)
        self._recovered = recovery.messages
        return join_reply_fields(recovery, since)

    def release(self) -> None:
        """The join reply is out: send what the join recovered."""
        recovered, self._recovered = self._recovered, None
        for publication in recovered or ():
            self.send(publication, {})

    def take(self, publication: Publication, cache: dict[Any, Any]) -> None:
        """A live message on the topic."""
        if self._gave_up:
            return
        if self._held is not None:
            self._held.append(publication)
            return
        verdict = self.cursor.admit(publication)
        if verdict is Admission.NEW:
            self.send(publication, cache)
        elif verdict is Admission.GAP:
            self._fill_gap(publication)

    def stop(self) -> None:
        self._recovered = self._held = None

    def sender(self) -> str:
        """The name this channel's ``broadcast_from`` messages carry."""
        cursor = self.cursor
        if cursor.sender is None:
            cursor.sender = f"{self.history.pubsub.node_name}/{next(_senders)}"
        return cursor.sender

    def _fill_gap(self, first: Publication) -> None:
        since = self.cursor.gap_since(first)
        logger.warning(
            "channel on %r missed messages %d..%d of epoch %s live; recovering them",
            self.topic,
            since.offset + 1,
            first.offset - 1,
            first.epoch,
        )
        self._held = [first]
        self.spawn(self._recover(since, first))

    async def _recover(self, since: Position, first: Publication) -> None:
        try:
            recovery = await self.history.recover(self.topic, since)
        except HistoryUnavailable as exc:
            recovery = None
            logger.warning("history of %r unavailable to fill a gap: %s", self.topic, exc)
        held, self._held = self._held, None
        if held is None:
            return  # the channel stopped meanwhile
        if recovery is None or not recovery.recovered:
            self._give_up()
            return
        cursor = self.cursor
        for publication in recovery.messages:
            if cursor.admit(publication) is Admission.NEW:
                self.send(publication, {})
        verdict = cursor.admit(first)
        if verdict is Admission.GAP:  # the read did not reach it
            self._give_up()
            return
        if verdict is Admission.NEW:
            self.send(first, {})
        for publication in held[1:]:
            self.take(publication, {})

    def _give_up(self) -> None:
        logger.warning(
            "channel on %r cannot recover the messages it missed; stopping it", self.topic
        )
        self._gave_up = True
        self.lost("missed messages")
