"""The code of docs/recovery.md: a news feed whose clients get what they missed.

Serve it with ``uvicorn examples.docs.recovery:app --port 4000``; ``POST
/news`` with a JSON body publishes it on ``feed:news``. A client that joins
``feed:news`` with ``{"since": {"offset": N, "epoch": E}}`` gets every
message after N, then the live ones.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from phoenix_py import Channel, Endpoint, PubSub, Socket
from phoenix_py.history import History

pubsub = PubSub()
# the last 1,000 messages of each topic, for 5 minutes
history = History(pubsub, size=1000, ttl=300)


class FeedChannel(Channel):
    history = history

    async def join(self, topic: str, payload: Any) -> dict[str, Any]:
        return {"topic": topic}  # the reply gains offset, epoch (and recovered)


class FeedSocket(Socket):
    channels = (("feed:*", FeedChannel),)


async def publish(request: Request) -> JSONResponse:
    position = await history.broadcast("feed:news", "news", await request.json())
    return JSONResponse({"offset": position.offset, "epoch": position.epoch})


endpoint = Endpoint(pubsub)
app = Starlette(
    routes=[
        Route("/news", publish, methods=["POST"]),
        Mount("/socket", app=endpoint.socket_app(FeedSocket)),
    ],
    lifespan=endpoint.lifespan,
)


def cluster_history(redis_url: str) -> History:
    """One history for every instance of the app: the offsets of a topic are
    the same on every node, and a client may rejoin on any of them."""
    from phoenix_py.pubsub.redis import RedisAdapter
    from phoenix_py.pubsub.redis_history import RedisHistory

    adapter = RedisAdapter(redis_url, namespace="feeds")
    return History(PubSub(adapter), size=1000, ttl=300, store=RedisHistory(adapter))
