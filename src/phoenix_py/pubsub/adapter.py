"""The pubsub package's contracts: what an adapter does, and what it may call back.

As in phoenix_pubsub (``pubsub/adapter.ex``, PHOENIX_PROTOCOL.md §6.2), an
adapter carries messages to the *other* nodes only; the local fan-out stays
in ``PubSub`` (``base.py``). The adapter sees this node's pubsub only through
``LocalPubSub``, so that adapters (``memory.py``, ``redis.py``) depend on
this module and never on ``base.py``.

Import order inside the package, innermost first: ``codec.py``, then this
module; ``memory.py`` and ``redis.py``; ``base.py``; ``__init__.py``. A module
imports only modules below it (``tests/test_layers.py`` checks it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .codec import NodeCodec

__all__ = ["Adapter", "LocalPubSub"]


class LocalPubSub(Protocol):
    """This node's pubsub, as its adapter sees it (``PubSub`` is one)."""

    @property
    def codec(self) -> NodeCodec:
        """Encodes and decodes what travels between nodes (``codec.py``)."""
        ...

    def local_broadcast(self, topic: str, message: Any) -> None:
        """Deliver ``message``, which came from another node, to this node's
        subscribers of ``topic``. Never awaits."""
        ...


class Adapter(Protocol):
    """Carries broadcasts to the other nodes of the cluster.

    The four methods of phoenix_pubsub's adapter (``start``, ``stop``,
    ``broadcast``, ``direct_broadcast``), plus the two routing hints
    ``watch``/``unwatch`` and ``subscribed``, which a join awaits. On the
    receiving node the adapter hands each message to
    ``pubsub.local_broadcast``; it never delivers to this node's own
    subscribers for a broadcast made here (``PubSub`` does).
    """

    node_name: str

    async def start(self, pubsub: LocalPubSub) -> None:
        """Connect; messages from other nodes go to ``pubsub.local_broadcast``."""
        ...

    async def stop(self) -> None:
        """Disconnect and release resources."""
        ...

    async def broadcast(self, topic: str, message: Any) -> None:
        """Send ``message`` to every other node (not this one)."""
        ...

    async def direct_broadcast(self, node_name: str, topic: str, message: Any) -> None:
        """Send ``message`` to the node called ``node_name`` only."""
        ...

    def watch(self, topic: str) -> None:
        """This node now has subscribers for ``topic`` (an adapter may route by it).

        Called synchronously, with the first local subscriber; it must not
        block. ``subscribed`` tells when the routing has taken effect.
        """
        ...

    def unwatch(self, topic: str) -> None:
        """This node no longer has subscribers for ``topic``."""
        ...

    async def subscribed(self, topic: str) -> None:
        """Return once broadcasts made on other nodes on ``topic`` reach this node.

        ``PubSub.subscribed`` awaits it after ``watch``, so that a channel's
        join reply leaves only when the other nodes' broadcasts can arrive.
        Returns at once when nothing is pending (an adapter that needs no
        routing, a topic not watched any more) and when the cluster cannot
        be reached (this node then serves its own subscribers only). Never
        raises and never waits without a bound.
        """
        ...
