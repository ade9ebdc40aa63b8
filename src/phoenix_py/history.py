"""Message history and recovery on rejoin: a client that was away gets what it missed.

Give a channel a ``History`` and every broadcast on its topics is kept (the
last ``size`` per topic, for ``ttl`` seconds) and numbered: subscribers
receive ``"<offset>:<epoch>"`` in the message's ref slot, the payload
unchanged. A join whose payload carries ``{"since": {"offset": N, "epoch":
E}}`` gets, after its reply, every kept message after N, in order, then the
live stream, with no gap and no duplicate::

    history = History(pubsub, size=1000, ttl=300)

    class FeedChannel(Channel):
        history = history

        async def join(self, topic, payload):
            return {}          # the reply gains offset, epoch (and recovered)

    await history.broadcast("feed:1", "news", {...})   # from outside a channel

The store decides where the history lives: ``MemoryHistory`` (the default,
one instance) or ``phoenix_py.pubsub.redis_history.RedisHistory`` (a
cluster on Redis: the same offsets on every node). docs/recovery.md has the
guarantees, limits and costs.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Protocol

from ._core.history import INVALID_SINCE, Position, Recovery, TopicLog, parse_since
from ._core.message import Publication
from .errors import HistoryUnavailable, UsageError
from .pubsub.base import PubSub
from .pubsub.memory import MemoryAdapter

__all__ = [
    "INVALID_SINCE",
    "History",
    "HistoryStore",
    "HistoryUnavailable",
    "MemoryHistory",
    "Position",
    "Publication",
    "Recovery",
    "parse_since",
]


class HistoryStore(Protocol):
    """Where the histories live. ``MemoryHistory`` and ``RedisHistory`` are two."""

    def bind(self, pubsub: PubSub) -> None:
        """Serve ``pubsub`` (once, before it starts); ``UsageError`` if this
        store cannot serve its cluster."""
        ...

    async def publish(
        self,
        topic: str,
        event: str,
        payload: Any,
        *,
        sender: str | None,
        size: int,
        ttl: float,
    ) -> Position:
        """Keep the message with the topic's next offset and deliver it to every
        subscriber of the topic in the cluster, in offset order. Raises
        ``HistoryUnavailable`` when the store cannot be reached."""
        ...

    async def recover(
        self, topic: str, since: Position | None, *, size: int, ttl: float
    ) -> Recovery:
        """The topic's position, and the messages after ``since`` if all are kept.
        Raises ``HistoryUnavailable`` when the store cannot be reached."""
        ...


class MemoryHistory:
    """Histories in this process: for one instance (an in-memory pubsub).

    A topic nobody wrote or read for ``idle_ttl`` seconds is forgotten (its
    next message starts a new epoch), so that short-lived topics do not
    accumulate.
    """

    def __init__(self, *, idle_ttl: float = 86_400.0) -> None:
        self.idle_ttl = idle_ttl
        self._logs: OrderedDict[str, TopicLog] = OrderedDict()  # least recently used first
        self._pubsub: PubSub | None = None

    def bind(self, pubsub: PubSub) -> None:
        if not isinstance(pubsub.adapter, MemoryAdapter):
            raise UsageError(
                "MemoryHistory numbers messages in this process only; with "
                f"{type(pubsub.adapter).__name__} use a history store shared by the "
                "cluster, such as phoenix_py.pubsub.redis_history.RedisHistory"
            )
        if self._pubsub is not None and self._pubsub is not pubsub:
            raise UsageError("a MemoryHistory serves one PubSub; make one per endpoint")
        self._pubsub = pubsub

    async def publish(
        self,
        topic: str,
        event: str,
        payload: Any,
        *,
        sender: str | None,
        size: int,
        ttl: float,
    ) -> Position:
        now = time.monotonic()
        publication = self._log(topic, size, ttl, now).append(topic, event, payload, sender, now)
        # No await between numbering and delivery: offsets reach subscribers in order.
        if self._pubsub is not None:
            self._pubsub.local_broadcast(topic, publication)
        return Position(publication.offset, publication.epoch)

    async def recover(
        self, topic: str, since: Position | None, *, size: int, ttl: float
    ) -> Recovery:
        now = time.monotonic()
        return self._log(topic, size, ttl, now).recover(since, now)

    def _log(self, topic: str, size: int, ttl: float, now: float) -> TopicLog:
        logs = self._logs
        log = logs.get(topic)
        if log is None:
            self._forget_idle(now)
            log = logs[topic] = TopicLog(size, ttl, now)
        else:
            logs.move_to_end(topic)
        return log

    def _forget_idle(self, now: float) -> None:
        logs, deadline = self._logs, now - self.idle_ttl
        while logs:
            topic, oldest = next(iter(logs.items()))
            if oldest.touched >= deadline:
                return
            del logs[topic]


class History:
    """A channel's history: the policy (``size`` messages per topic, ``ttl``
    seconds) and the store, bound to the endpoint's ``pubsub``.

    Set it as a ``Channel`` class attribute (``history = History(...)``):
    the channel's broadcasts then go through it, and its joins answer
    ``since``. ``broadcast`` sends through it from anywhere else.
    """

    def __init__(
        self,
        pubsub: PubSub,
        *,
        size: int = 1000,
        ttl: float = 300.0,
        store: HistoryStore | None = None,
    ) -> None:
        if size < 1 or ttl <= 0:
            raise UsageError(f"History(size={size}, ttl={ttl}): both must be positive")
        self.pubsub = pubsub
        self.size = size
        self.ttl = ttl
        self.store: HistoryStore = MemoryHistory() if store is None else store
        self.store.bind(pubsub)

    async def broadcast(
        self, topic: str, event: str, payload: Any, *, sender: str | None = None
    ) -> Position:
        """Keep and number the message, then send it to every subscriber of
        ``topic`` in the cluster (but the channel named ``sender``). Returns its
        position. Raises ``HistoryUnavailable`` when the store is unreachable."""
        return await self.store.publish(
            topic, event, payload, sender=sender, size=self.size, ttl=self.ttl
        )

    async def recover(self, topic: str, since: Position | None) -> Recovery:
        """The topic's position, and what was kept after ``since``."""
        return await self.store.recover(topic, since, size=self.size, ttl=self.ttl)
