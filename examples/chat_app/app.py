"""The app assembled: HTTP API, sockets, presence and pages in one Starlette app.

::

    app = create_app(Settings(database_url="sqlite:///chat.sqlite3"))

At start (lifespan) the database is migrated and the lobby created, then the
endpoint's pubsub (in memory, or Redis with ``redis_url``) and presence start.
The rooms' messages go through a ``History`` on that pubsub (in memory, or in
Redis), so that a client that rejoins a room gets what it missed.
The pages: ``/`` and ``/rooms/<id>`` are LiveViews (``live_pages``, their
socket at ``/live``), signed in with a session cookie (``web_session``);
``/spa`` is the phoenix.js single-page client (``static/``), signed in with
the JWT. The client builds are the npm packages' own files, installed in
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
from phoenix_py.history import History
from phoenix_py.presence import Presence

from .channels import ChatSocket, Services
from .http_api import ChatApi
from .live_pages import ASSET_ROUTES, CLIENT_BUILDS, chat_live
from .rate_limit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from .settings import Settings, load_or_create_secret, secret_file
from .store import ChatStore
from .web_session import SessionCookies, SignIn

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PHOENIX_MJS = HERE / "assets" / "node_modules" / "phoenix" / "priv" / "static" / "phoenix.mjs"
ISSUER = "phoenix_py chat_app"
#: Signed-in sessions last a day; the page asks to sign in again after that.
ACCESS_TTL = 24 * 3600
#: Each room's broadcasts are kept, the last 500 for 10 minutes, so that a page that
#: rejoins gets what it missed (docs/recovery.md); after longer, it refetches.
HISTORY_SIZE, HISTORY_TTL = 500, 600.0

logger = logging.getLogger("chat_app")


def derived_key(secret: str, purpose: str) -> str:
    """A key for one purpose, derived from the app's secret (so that one secret serves all)."""
    label = f"phoenix_py chat_app {purpose}".encode()
    return hmac.new(secret.encode(), label, hashlib.sha256).hexdigest()


def longpoll_key(secret: str) -> str:
    """The LongPoll session key."""
    return derived_key(secret, "longpoll")


def create_app(settings: Settings) -> Starlette:
    secret = settings.secret or load_or_create_secret(secret_file(settings.database_url))
    store = ChatStore.connect(settings.database_url)
    auth = JWTAuth.hs256(secret, issuer=ISSUER, access_ttl=ACCESS_TTL)
    rate_limiter: RateLimiter
    if settings.redis_url is None:
        pubsub = PubSub()
        history = History(pubsub, size=HISTORY_SIZE, ttl=HISTORY_TTL)
        rate_limiter = MemoryRateLimiter()
    else:
        from phoenix_py.pubsub.redis import RedisAdapter
        from phoenix_py.pubsub.redis_history import RedisHistory

        adapter = RedisAdapter(settings.redis_url, namespace="chat_app")
        pubsub = PubSub(adapter)
        history = History(pubsub, size=HISTORY_SIZE, ttl=HISTORY_TTL, store=RedisHistory(adapter))
        rate_limiter = RedisRateLimiter(settings.redis_url)
    presence = Presence(pubsub)
    services = Services(store, auth, presence, rate_limiter, history)
    endpoint = Endpoint(pubsub, state=services, secret_key=longpoll_key(secret))
    api = ChatApi(store, auth, endpoint)
    cookies = SessionCookies(derived_key(secret, "browser session"), max_age=ACCESS_TTL)
    # the pages' session comes from the cookie (``web``, made next: it signs with ``live``)
    live = chat_live(endpoint, derived_key(secret, "live"), lambda req: web.page_session(req))
    web = SignIn(store, cookies, endpoint, live)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for build in (PHOENIX_MJS, *CLIENT_BUILDS.values()):
            if not build.is_file():
                logger.error("%s is missing: run `bash scripts/setup chat`", build)
        await store.prepare()
        try:
            async with endpoint.lifespan(app):
                yield
        finally:
            await rate_limiter.close()
            await store.close()

    app = Starlette(
        routes=[
            *live.routes(),
            *ASSET_ROUTES,
            *web.routes(),
            Route("/spa", spa_page),
            Route("/vendor/phoenix.mjs", phoenix_js),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            *api.routes(),
            Mount("/socket", app=endpoint.socket_app(ChatSocket, longpoll=True)),
        ],
        lifespan=lifespan,
    )
    app.state.endpoint = endpoint
    app.state.store = store
    app.state.live = live
    app.state.sign_in = web
    return app


async def spa_page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html")


async def phoenix_js(request: Request) -> Response:
    if not PHOENIX_MJS.is_file():
        return PlainTextResponse(
            "phoenix.js is not installed: run `bash scripts/setup chat`", status_code=503
        )
    return FileResponse(PHOENIX_MJS, media_type="text/javascript")
