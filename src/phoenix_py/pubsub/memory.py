"""The in-memory adapter: one process, one or several nodes.

``MemoryAdapter()`` alone is a single node with nobody else to reach. Several
adapters sharing a ``MemoryHub`` behave as nodes of one cluster inside one
process, which lets tests exercise cluster semantics without a network.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .adapter import LocalPubSub

__all__ = ["MemoryAdapter", "MemoryHub"]

_node_numbers = itertools.count(1)


class MemoryHub:
    """The nodes of an in-process cluster."""

    def __init__(self) -> None:
        self.nodes: dict[str, LocalPubSub] = {}


class MemoryAdapter:
    """Adapter for nodes in this process (``hub``), or for a single node."""

    def __init__(self, node_name: str | None = None, hub: MemoryHub | None = None) -> None:
        self.node_name = node_name or f"memory-{next(_node_numbers)}"
        self._hub = hub or MemoryHub()

    async def start(self, pubsub: LocalPubSub) -> None:
        self._hub.nodes[self.node_name] = pubsub

    async def stop(self) -> None:
        self._hub.nodes.pop(self.node_name, None)

    async def broadcast(self, topic: str, message: Any) -> None:
        for name, pubsub in list(self._hub.nodes.items()):
            if name != self.node_name:
                pubsub.local_broadcast(topic, message)

    async def direct_broadcast(self, node_name: str, topic: str, message: Any) -> None:
        pubsub = self._hub.nodes.get(node_name)
        if pubsub is not None:
            pubsub.local_broadcast(topic, message)

    def watch(self, topic: str) -> None:
        return None  # every node of the hub is reached directly

    def unwatch(self, topic: str) -> None:
        return None

    async def subscribed(self, topic: str) -> None:
        return None  # handed over synchronously: nothing is ever in flight
