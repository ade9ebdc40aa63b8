"""The app assembled: HTTP API, socket, presence and page in one Starlette app.

::

    app = create_app(Settings(database_url="sqlite:///chat.sqlite3"))

At start (lifespan) the database is migrated and the lobby created, then the
endpoint's pubsub (in memory, or Redis with ``redis_url``) and presence start.
The page's phoenix.js is the npm package's own ``phoenix.mjs``, installed in
``assets/`` by ``npm ci`` (``scripts/setup chat``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from phoenix_py import Endpoint, PubSub
from phoenix_py.auth import JWTAuth
from phoenix_py.presence import Presence

from .channels import ChatSocket, Services
from .http_api import ChatApi
from .rate_limit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from .settings import Settings, load_or_create_secret, secret_file
from .store import ChatStore

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PHOENIX_MJS = HERE / "assets" / "node_modules" / "phoenix" / "priv" / "static" / "phoenix.mjs"
ISSUER = "phoenix_py chat_app"
#: Signed-in sessions last a day; the page asks to sign in again after that.
ACCESS_TTL = 24 * 3600

logger = logging.getLogger("chat_app")


def longpoll_key(secret: str) -> str:
    """The LongPoll session key, derived from the JWT secret (so one secret serves both)."""
    return hmac.new(secret.encode(), b"phoenix_py chat_app longpoll", hashlib.sha256).hexdigest()


def create_app(settings: Settings) -> Starlette:
    secret = settings.secret or load_or_create_secret(secret_file(settings.database_url))
    store = ChatStore.connect(settings.database_url)
    auth = JWTAuth.hs256(secret, issuer=ISSUER, access_ttl=ACCESS_TTL)
    rate_limiter: RateLimiter
    if settings.redis_url is None:
        pubsub = PubSub()
        rate_limiter = MemoryRateLimiter()
    else:
        from phoenix_py.pubsub.redis import RedisAdapter

        pubsub = PubSub(RedisAdapter(settings.redis_url, namespace="chat_app"))
        rate_limiter = RedisRateLimiter(settings.redis_url)
    presence = Presence(pubsub)
    services = Services(store, auth, presence, rate_limiter)
    endpoint = Endpoint(pubsub, state=services, secret_key=longpoll_key(secret))
    api = ChatApi(store, auth, endpoint)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not PHOENIX_MJS.is_file():
            logger.error("%s is missing: run `bash scripts/setup chat`", PHOENIX_MJS)
        await store.prepare()
        try:
            async with endpoint.lifespan(app):
                yield
        finally:
            await rate_limiter.close()
            await store.close()

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/vendor/phoenix.mjs", phoenix_js),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            *api.routes(),
            Mount("/socket", app=endpoint.socket_app(ChatSocket, longpoll=True)),
        ],
        lifespan=lifespan,
    )
    app.state.endpoint = endpoint
    app.state.store = store
    return app


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html")


async def phoenix_js(request: Request) -> Response:
    if not PHOENIX_MJS.is_file():
        return PlainTextResponse(
            "phoenix.js is not installed: run `bash scripts/setup chat`", status_code=503
        )
    return FileResponse(PHOENIX_MJS, media_type="text/javascript")
