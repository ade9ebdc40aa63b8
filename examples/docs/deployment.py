"""The code of docs/deployment.md: one instance of a cluster on Redis, on the direct path.

Run two instances, on one Redis, with the same secret key::

    REDIS_URL=redis://127.0.0.1:6379/0 SECRET_KEY=... PORT=4001 python -m examples.docs.deployment
    REDIS_URL=redis://127.0.0.1:6379/0 SECRET_KEY=... PORT=4002 python -m examples.docs.deployment

or with the uvicorn command line:
``uvicorn examples.docs.deployment:app --ws phoenix_py.uvicorn:WebSocketProtocol``.
The socket and its presence channel are those of ``presence.py``.
"""

from __future__ import annotations

import os

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from examples.docs.presence import Services, UserSocket
from phoenix_py import Endpoint, PubSub
from phoenix_py.presence import Presence
from phoenix_py.pubsub.redis import RedisAdapter
from phoenix_py.uvicorn import WebSocketProtocol

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
#: The same on every instance, so that any of them serves any LongPoll session.
SECRET_KEY = os.environ.get("SECRET_KEY")
HOST = os.environ.get("HOST", "0.0.0.0")
PORT = int(os.environ.get("PORT", "4000"))


def create_app(redis_url: str) -> Starlette:
    pubsub = PubSub(RedisAdapter(redis_url, namespace="myapp"))
    presence = Presence(pubsub)
    endpoint = Endpoint(pubsub, state=Services(presence), secret_key=SECRET_KEY)
    return Starlette(
        routes=[Mount("/socket", app=endpoint.socket_app(UserSocket, longpoll=True))],
        lifespan=endpoint.lifespan,
    )


app = create_app(REDIS_URL)


def main() -> None:
    uvicorn.run(app, host=HOST, port=PORT, ws=WebSocketProtocol)


if __name__ == "__main__":
    main()
