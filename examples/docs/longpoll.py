"""The code of docs/longpoll.md: the getting-started socket over WebSocket and LongPoll.

Serve it with ``SECRET_KEY=... uvicorn examples.docs.longpoll:app --port 4000``
(every instance given the same key); the page scripts ``js/longpoll_only.mjs``
and ``js/longpoll_fallback.mjs`` connect to it.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.routing import Mount

from examples.hello.app import UserSocket
from phoenix_py import Endpoint


def create_app(secret_key: str | None) -> Starlette:
    endpoint = Endpoint(secret_key=secret_key)
    return Starlette(
        routes=[Mount("/socket", app=endpoint.socket_app(UserSocket, longpoll=True))],
        lifespan=endpoint.lifespan,
    )


#: Without SECRET_KEY a random key per process: enough for one process only.
app = create_app(os.environ.get("SECRET_KEY"))
