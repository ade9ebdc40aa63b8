"""The code of docs/dashboard.md: the live dashboard, mounted behind the app's own guard.

Serve it with ``DASHBOARD_TOKEN=... uvicorn examples.docs.dashboard:app --port 4000
--ws phoenix_py.uvicorn:WebSocketProtocol`` after ``bash scripts/setup contract``
(the page loads the pinned phoenix and phoenix_live_view builds), then open
``http://127.0.0.1:4000/dashboard?token=...``; tested by
``tests/docs/test_dashboard.py``.
"""

from __future__ import annotations

import hmac
import os

from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.routing import Route

from examples.contract.live import asset
from phoenix_py import Endpoint, PubSub
from phoenix_py.dashboard import Dashboard

SECRET = os.environ.get("SECRET_KEY", "docs example: a development secret of at least 32 bytes")
#: Who knows it sees the dashboard; without it, nobody does.
DASHBOARD_TOKEN = os.environ.get("DASHBOARD_TOKEN")


def operators_only(connection: HTTPConnection) -> bool:
    """The page's request, then each join: the token as ``?token=`` or a cookie."""
    given = connection.query_params.get("token") or connection.cookies.get("dashboard_token")
    if DASHBOARD_TOKEN is None or given is None:
        return False
    return hmac.compare_digest(given.encode(), DASHBOARD_TOKEN.encode())


pubsub = PubSub()
endpoint = Endpoint(pubsub, secret_key=SECRET)
dashboard = Dashboard(
    endpoint,
    guard=operators_only,
    secret_key=SECRET,
    client_scripts=["/assets/phoenix.js", "/assets/phoenix_live_view.js"],
    path="/dashboard",
)
app = Starlette(
    routes=[Route("/assets/{name}", asset), *dashboard.routes()],
    lifespan=endpoint.lifespan,
)
