"""Mounting the dashboard in an app: its page, its LiveView socket and its script.

::

    dashboard = Dashboard(
        endpoint,
        guard=lambda request: request.cookies.get("admin") == ADMIN_TOKEN,
        secret_key=SECRET,
        client_scripts=["/assets/phoenix.js", "/assets/phoenix_live_view.js"],
    )
    app = Starlette(routes=[*dashboard.routes(), ...], lifespan=endpoint.lifespan)

Nothing is served unless the app mounts ``dashboard.routes()``: ``GET
<path>`` (the page, 403 unless the guard says yes), ``<path>/live`` (the
dashboard's own LiveView socket, whose joins ask the guard again) and
``<path>/dashboard.js`` (the chart hook and the ``LiveSocket``, loaded after
the client builds the app serves). The ``Dashboard`` also adds a pubsub
service to the endpoint's pubsub: it attaches the telemetry collector and
publishes this node's snapshot every second, so build it before the endpoint
starts.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from markupsafe import escape
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ..asgi import Endpoint
from ..errors import UsageError
from ..live import Live, LivePage, LiveSession
from ._guard import DashboardSocket, Guard, ask
from .collector import StatsCollector
from .nodes import TOPIC, NodeBoard, NodePublisher
from .view import DashboardView

logger = logging.getLogger("phoenix_py.dashboard")

SCRIPT = Path(__file__).resolve().parent / "static" / "dashboard.js"
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin-bottom:1rem}th,td{padding:2px 10px;text-align:left}
thead th{border-bottom:1px solid #ccc}tr.node{cursor:pointer}tr.selected{background:#eef}
.columns{display:flex;flex-wrap:wrap;gap:2rem}
svg.chart{width:100%;max-width:900px;height:140px;border:1px solid #ddd;background:#fcfcfc}
svg.chart polyline{fill:none;stroke-width:1.5}
.series-in,.series-mean{stroke:#1f77b4}.series-out,.series-max{stroke:#d62728}
.series-deliveries{stroke:#2ca02c}svg.chart text{font-size:11px;fill:#666}
"""


class DashboardLive(Live):
    """The dashboard's ``Live``: its page answers 403 unless the guard lets the
    request in, and its socket's joins ask the guard again (``_guard``)."""

    socket_class = DashboardSocket

    def __init__(self, *args: Any, guard: Guard | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard

    async def allows(self, connection: HTTPConnection) -> bool:
        return await ask(self.guard, connection)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(route.path, self._guarded(route.endpoint), methods=["GET"])
            if isinstance(route, Route)
            else route
            for route in super().routes()
        ]

    def _guarded(
        self, render: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            if not await self.allows(request):
                return PlainTextResponse("forbidden", status_code=403)
            return await render(request)

        return guarded


class Dashboard:
    """The live dashboard of an app; see the module docs.

    Args:
        endpoint: the app's endpoint (its pubsub carries the nodes' snapshots).
        guard: ``guard(connection) -> bool`` (or awaitable), asked with the
            page's request and at each join (``_guard``); ``None`` refuses
            everyone.
        secret_key: signs the page tokens (at least 32 bytes; the same on
            every node).
        client_scripts: the URLs of the phoenix and phoenix_live_view client
            builds (``priv/static``), which the app serves.
        path: where the page is.
        node_name: this node's name on the dashboard; the pubsub's node name
            by default (host and pid if it has none).
        interval: seconds between two snapshots, and between two refreshes
            of an open page.
        expire_after: seconds of silence after which a node leaves the table.
        check_origin: the dashboard socket's origin check.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        guard: Guard | None,
        secret_key: str | bytes,
        client_scripts: Sequence[str],
        path: str = "/dashboard",
        node_name: str | None = None,
        interval: float = 1.0,
        expire_after: float = 5.0,
        check_origin: bool = True,
    ) -> None:
        if guard is None:
            logger.warning("the dashboard at %s has no guard: it refuses everyone", path)
        self.path = "/" + path.strip("/")
        if self.path == "/":  # its socket and script would take the app's /live and more
            raise UsageError("mount the dashboard below the root, as path='/dashboard'")
        self.script_path = f"{self.path}/dashboard.js"
        self.client_scripts = list(client_scripts)
        pubsub = endpoint.pubsub
        self.node_name = node_name or pubsub.node_name or f"{socket.gethostname()}:{os.getpid()}"
        self.collector = StatsCollector(ignore_topics=(TOPIC,))
        self.board = NodeBoard(expire_after=expire_after)
        pubsub.add_service(
            NodePublisher(
                pubsub, self.collector, self.board, node_name=self.node_name, interval=interval
            )
        )
        view = type(
            "DashboardView",
            (DashboardView,),
            {
                "__module__": DashboardView.__module__,
                "__qualname__": DashboardView.__qualname__,
                "board": self.board,
                "node_name": self.node_name,
                "interval": interval,
            },
        )
        self.live = DashboardLive(
            endpoint,
            [LiveSession("phoenix_py.dashboard", [(self.path, view)])],
            secret_key=secret_key,
            layout=self._layout,
            socket_path=f"{self.path}/live",
            check_origin=check_origin,
            guard=guard,
        )

    def routes(self) -> list[BaseRoute]:
        """The page (guarded), the dashboard's socket and its script."""
        return [*self.live.routes(), Route(self.script_path, _script, methods=["GET"])]

    def _layout(self, page: LivePage) -> str:
        scripts = "".join(
            f'<script defer src="{escape(src)}"></script>'
            for src in [*self.client_scripts, self.script_path]
        )
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="csrf-token" content="{escape(page.csrf_token)}">'
            f'<meta name="phx-dashboard-socket" content="{escape(self.live.socket_path)}">'
            f"<title>{escape(page.title)}</title><style>{STYLE}</style>{scripts}</head>\n"
            f"<body>\n{page.content}\n</body></html>"
        )


async def _script(request: Request) -> Response:
    return FileResponse(SCRIPT, media_type="text/javascript")
