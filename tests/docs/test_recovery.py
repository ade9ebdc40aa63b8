"""examples/docs/recovery.py does what docs/recovery.md says."""

from __future__ import annotations

import httpx
import pytest

from examples.docs import recovery as page
from phoenix_py.pubsub.redis import RedisAdapter
from phoenix_py.pubsub.redis_history import RedisHistory
from phoenix_py.testing import ANY, connect

pytestmark = pytest.mark.anyio


async def test_a_rejoin_with_since_gets_what_was_published_meanwhile() -> None:
    transport = httpx.ASGITransport(app=page.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://docs") as http:
        reader = await connect(page.FeedSocket, endpoint=page.endpoint)
        joined, feed = await reader.join("feed:news")
        assert joined == {"topic": "feed:news", "offset": joined["offset"], "epoch": ANY}
        first = await http.post("/news", json={"title": "one"})
        message = await feed.assert_push("news", {"title": "one"})
        assert message == {"title": "one"}
        last = first.json()
        await reader.close()  # away: two more are published
        for title in ("two", "three"):
            await http.post("/news", json={"title": title})

        back = await connect(page.FeedSocket, endpoint=page.endpoint)
        rejoined, feed = await back.join("feed:news", {"since": last})
        assert rejoined["recovered"] is True and rejoined["offset"] == last["offset"] + 2
        for title in ("two", "three"):
            await feed.assert_push("news", {"title": title})
        stale, _ = await back.join("feed:other", {"since": {"offset": 1, "epoch": "gone"}})
        assert stale["recovered"] is False


def test_the_cluster_history_keeps_its_messages_in_redis() -> None:
    history = page.cluster_history("redis://127.0.0.1:6379/0")
    assert isinstance(history.store, RedisHistory)
    assert isinstance(history.pubsub.adapter, RedisAdapter)
    assert history.pubsub.adapter.namespace == "feeds"
    assert (history.size, history.ttl) == (1000, 300)
