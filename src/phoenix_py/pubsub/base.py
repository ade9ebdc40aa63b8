"""PubSub: subscribe, broadcast, and local fan-out (PHOENIX_PROTOCOL.md §6).

As in phoenix_pubsub, the local fan-out lives here and an ``Adapter``
(``adapter.py``, the contract) only carries messages to the *other* nodes,
which fan them out locally in turn.

Fan-out (the fastlane, §6.3): ``_dispatch`` walks a topic's local subscribers
once, calling ``subscriber.deliver(message, cache)`` with one ``cache`` dict
per dispatch. A channel subscriber encodes a broadcast with its serializer only
when the cache has no frame for that serializer yet, so each broadcast is
encoded once per serializer, and the frame goes straight to the socket's
outbound buffer: no task, coroutine or copy per subscriber.

Invariants:

* A subscriber is subscribed to a topic at most once; ``unsubscribe`` removes it.
* ``deliver`` never awaits and never raises into the dispatcher: a subscriber
  that fails is logged and skipped, and the others still receive the message.
* A message broadcast by one publisher reaches each local subscriber in
  publication order.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from ..errors import UsageError
from ..telemetry import BROADCAST
from .adapter import Adapter
from .codec import NodeCodec
from .memory import MemoryAdapter

__all__ = ["Adapter", "PubSub", "Service", "Subscriber"]

logger = logging.getLogger("phoenix_py.pubsub")


class Subscriber(Protocol):
    """Anything that can receive what is broadcast on a topic it subscribed to."""

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        """Take one message. ``cache`` is shared by every subscriber of this one
        dispatch: keep encodings in it (keyed by serializer) to encode once."""
        ...


class Service(Protocol):
    """Something that runs beside the pubsub, such as a presence tracker."""

    async def start(self) -> None:
        """Called once the adapter is connected."""
        ...

    async def stop(self) -> None:
        """Called before the adapter disconnects (a last message may still go out)."""
        ...


class PubSub:
    """Topic subscriptions of this node, plus an adapter for the cluster.

    Args:
        adapter: how to reach other nodes; ``MemoryAdapter()`` (the default)
            means this node alone.
    """

    def __init__(self, adapter: Adapter | None = None) -> None:
        self.adapter: Adapter = MemoryAdapter() if adapter is None else adapter
        #: The types that may travel between nodes; presence registers its own.
        self.codec = NodeCodec()
        self._topics: dict[str, dict[Subscriber, None]] = {}
        self._services: list[Service] = []
        self._started = False

    @property
    def node_name(self) -> str:
        return self.adapter.node_name

    def add_service(self, service: Service) -> None:
        """Start and stop ``service`` (a presence tracker) with this pubsub."""
        if self._started:
            raise UsageError(
                "create Presence (and other pubsub services) before the endpoint starts"
            )
        self._services.append(service)

    async def start(self) -> None:
        if not self._started:
            self._started = True
            await self.adapter.start(self)
            for service in self._services:
                await service.start()

    async def stop(self) -> None:
        if self._started:
            self._started = False
            for service in reversed(self._services):
                await service.stop()
            await self.adapter.stop()

    # Subscriptions (local, synchronous)

    def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        subscribers = self._topics.get(topic)
        if subscribers is None:
            subscribers = self._topics[topic] = {}
            self.adapter.watch(topic)
        subscribers[subscriber] = None

    async def subscribed(self, topic: str) -> None:
        """Return once broadcasts made on other nodes on ``topic`` reach this node.

        Await it after ``subscribe``: a channel's join does, so that its join
        reply leaves once the cluster routes ``topic`` here. It awaits the
        adapter's ``subscribed``, which is bounded in time and returns at once
        when the other nodes cannot be reached. Never raises.
        """
        await self.adapter.subscribed(topic)

    def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        subscribers = self._topics.get(topic)
        if subscribers is not None:
            subscribers.pop(subscriber, None)
            if not subscribers:
                del self._topics[topic]
                self.adapter.unwatch(topic)

    def subscriber_count(self, topic: str | None = None) -> int:
        """Subscriptions on ``topic``, or on every topic when ``topic`` is None."""
        if topic is not None:
            return len(self._topics.get(topic, ()))
        return sum(len(subscribers) for subscribers in self._topics.values())

    def topics(self) -> list[str]:
        return list(self._topics)

    # Publishing

    async def broadcast(self, topic: str, message: Any) -> None:
        """Deliver to every subscriber of ``topic`` on every node."""
        await self.adapter.broadcast(topic, message)
        self._dispatch(topic, message, None)

    async def broadcast_from(self, from_: Subscriber, topic: str, message: Any) -> None:
        """Like ``broadcast``, but not to ``from_`` (on this node)."""
        await self.adapter.broadcast(topic, message)
        self._dispatch(topic, message, from_)

    def local_broadcast(self, topic: str, message: Any, from_: Subscriber | None = None) -> None:
        """Deliver to this node's subscribers only."""
        self._dispatch(topic, message, from_)

    async def direct_broadcast(self, node_name: str, topic: str, message: Any) -> None:
        """Deliver on the node named ``node_name`` only (which may be this one)."""
        if node_name == self.node_name:
            self._dispatch(topic, message, None)
        else:
            await self.adapter.direct_broadcast(node_name, topic, message)

    def _dispatch(self, topic: str, message: Any, from_: Subscriber | None) -> None:
        subscribers = self._topics.get(topic)
        if not subscribers:
            return
        cache: dict[Any, Any] = {}
        began = time.perf_counter_ns() if BROADCAST.handlers else 0
        # A snapshot: a delivery may close a socket, which unsubscribes it.
        for subscriber in list(subscribers):
            if subscriber is from_:
                continue
            try:
                subscriber.deliver(message, cache)
            except Exception:
                logger.exception("subscriber %r failed on topic %r; skipped", subscriber, topic)
        if began:
            reached = len(subscribers) - (from_ is not None and from_ in subscribers)
            measurements = {"duration": time.perf_counter_ns() - began, "subscribers": reached}
            BROADCAST.emit(measurements, {"topic": topic, "event": getattr(message, "event", None)})
