"""The code of docs/pubsub.md: an endpoint's pubsub, a subscriber of its own,
two nodes in one process, and the Redis adapter."""

from __future__ import annotations

from typing import Any

from phoenix_py import Broadcast, Endpoint, MemoryAdapter, MemoryHub, PubSub
from phoenix_py.pubsub.redis import RedisAdapter

single = Endpoint()  # PubSub(MemoryAdapter()): this process alone
named = Endpoint(PubSub(MemoryAdapter("node-a")))  # the same, with a chosen node name


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Broadcast] = []

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        if isinstance(message, Broadcast):
            self.seen.append(message)


recorder = Recorder()
single.pubsub.subscribe("room:lobby", recorder)

hub = MemoryHub()
endpoint_a = Endpoint(PubSub(MemoryAdapter("node-a", hub)))
endpoint_b = Endpoint(PubSub(MemoryAdapter("node-b", hub)))
# Once both have started (their lifespans): a broadcast on either endpoint
# reaches the subscribers of both, and endpoint_a.disconnect(id) closes
# matching sockets on node-b too.


def redis_endpoint(url: str) -> Endpoint:
    """One instance of a cluster whose instances share the Redis at ``url``."""
    return Endpoint(PubSub(RedisAdapter(url, namespace="myapp")))
