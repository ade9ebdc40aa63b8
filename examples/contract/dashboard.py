"""The contract app's dashboard (``--dashboard-token TOKEN``): phoenix_py.dashboard at
``/dashboard``, for whoever brings the token as ``?token=`` or in the
``dashboard_token`` cookie. Without the option the app serves no dashboard."""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute

from phoenix_py import Endpoint
from phoenix_py.dashboard import Dashboard, Guard

COOKIE = "dashboard_token"


def token_guard(token: str) -> Guard:
    """Lets in a request that carries ``token`` in its query or its cookie."""
    expected = token.encode()

    def guard(connection: HTTPConnection) -> bool:
        given = connection.query_params.get("token") or connection.cookies.get(COOKIE) or ""
        return hmac.compare_digest(given.encode(), expected)

    return guard


def dashboard_routes(endpoint: Endpoint, secret_key: str, token: str | None) -> list[BaseRoute]:
    """The dashboard's routes when a token is set; none otherwise."""
    if token is None:
        return []
    dashboard = Dashboard(
        endpoint,
        guard=token_guard(token),
        secret_key=secret_key,
        client_scripts=["/lv-assets/phoenix.js", "/lv-assets/phoenix_live_view.js"],
    )
    return dashboard.routes()
