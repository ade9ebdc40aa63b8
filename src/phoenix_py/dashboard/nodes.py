"""The cluster as the dashboard sees it: every node publishes its snapshot each second.

``NodePublisher`` is a pubsub service: started with the app's pubsub, it
attaches the node's ``StatsCollector`` and broadcasts the collector's
snapshot on ``TOPIC`` every ``interval`` seconds, through the app's adapter
(memory or Redis), so every node's dashboard hears every node.
``NodeBoard`` is the subscriber that keeps the last snapshot of each node and
forgets a node it has not heard from for ``expire_after`` seconds: a node that
stops, or is cut off, leaves the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from .._core.message import Broadcast
from ..pubsub.base import PubSub
from .collector import StatsCollector

logger = logging.getLogger("phoenix_py.dashboard")

#: The pubsub topic of the snapshots.
TOPIC = "phoenix_py:dashboard"
SNAPSHOT = "snapshot"


class NodeBoard:
    """The last snapshot of each node heard from lately (a pubsub ``Subscriber``).

    Args:
        expire_after: seconds without a snapshot after which a node is gone.
        clock: monotonic seconds (tests give their own).
    """

    def __init__(
        self, *, expire_after: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.expire_after = expire_after
        self._clock = clock
        self._heard: dict[str, tuple[float, dict[str, Any]]] = {}

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        if not isinstance(message, Broadcast) or message.event != SNAPSHOT:
            return
        snapshot = message.payload
        if isinstance(snapshot, dict) and isinstance(snapshot.get("node"), str):
            self._heard[snapshot["node"]] = (self._clock(), snapshot)

    def nodes(self) -> list[dict[str, Any]]:
        """The snapshots of the nodes heard from in the last ``expire_after`` seconds,
        by node name, each with ``"age"``: seconds since it arrived."""
        now = self._clock()
        for name in [n for n, (at, _) in self._heard.items() if now - at > self.expire_after]:
            del self._heard[name]
        return [{**snapshot, "age": now - at} for _, (at, snapshot) in sorted(self._heard.items())]


class NodePublisher:
    """Publishes this node's snapshot every ``interval`` seconds (a pubsub ``Service``)."""

    def __init__(
        self,
        pubsub: PubSub,
        collector: StatsCollector,
        board: NodeBoard,
        *,
        node_name: str,
        interval: float = 1.0,
    ) -> None:
        self.pubsub = pubsub
        self.collector = collector
        self.board = board
        self.node_name = node_name
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.collector.attach()
        self.pubsub.subscribe(TOPIC, self.board)
        await self._publish()  # the dashboard shows this node from the start
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.pubsub.unsubscribe(TOPIC, self.board)
        self.collector.detach()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._publish()

    async def _publish(self) -> None:
        snapshot = self.collector.snapshot(self.node_name)
        try:
            await self.pubsub.broadcast(TOPIC, Broadcast(TOPIC, SNAPSHOT, snapshot))
        except Exception:  # the adapter's trouble shows as pubsub errors; keep going
            logger.debug("publishing the dashboard snapshot failed", exc_info=True)
