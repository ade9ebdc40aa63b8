"""examples/docs/pubsub.py does what docs/pubsub.md says."""

from __future__ import annotations

import pytest

from examples.docs import pubsub as page
from examples.hello.app import UserSocket
from phoenix_py import Broadcast, MemoryAdapter
from phoenix_py.pubsub.redis import RedisAdapter
from phoenix_py.testing import connect

pytestmark = pytest.mark.anyio


def test_an_endpoint_owns_a_pubsub() -> None:
    assert isinstance(page.single.pubsub.adapter, MemoryAdapter)
    assert page.named.pubsub.node_name == "node-a"


async def test_a_subscriber_of_its_own_sees_the_broadcasts() -> None:
    await page.single.broadcast("room:lobby", "new_msg", {"body": "hi"})
    page.single.local_broadcast("room:other", "new_msg", {"body": "not here"})
    assert page.recorder.seen[-1] == Broadcast("room:lobby", "new_msg", {"body": "hi"})
    assert all(b.topic == "room:lobby" for b in page.recorder.seen)


async def test_two_endpoints_on_one_hub_are_one_cluster() -> None:
    await page.endpoint_a.startup()
    await page.endpoint_b.startup()
    try:
        socket = await connect(UserSocket, {"user": "ann"}, endpoint=page.endpoint_b)
        _, room = await socket.join("room:lobby")
        await page.endpoint_a.broadcast("room:lobby", "new_msg", {"body": "from a"})
        await room.assert_push("new_msg", {"body": "from a"})
        await page.endpoint_a.disconnect("user_socket:ann")
        assert await socket.assert_closed() == 1001
    finally:
        await page.endpoint_a.shutdown()
        await page.endpoint_b.shutdown()


def test_the_redis_endpoint() -> None:
    endpoint = page.redis_endpoint("redis://10.0.0.5:6379/0")
    adapter = endpoint.pubsub.adapter
    assert isinstance(adapter, RedisAdapter)
    assert (adapter.url, adapter.namespace) == ("redis://10.0.0.5:6379/0", "myapp")
