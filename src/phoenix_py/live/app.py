"""phoenix_py.live in an ASGI app: the dead render of each live route, and the ``/live`` socket.

::

    endpoint = Endpoint(secret_key=SECRET)
    live = Live(
        endpoint,
        [LiveSession("main", [("/", Counter), ("/room/{room}", Room)])],
        secret_key=SECRET,
        layout=my_layout,  # the page around the view: csrf meta tag, the client scripts
    )
    app = Starlette(routes=[*live.routes(), ...], lifespan=endpoint.lifespan)

``routes()`` gives one Starlette route per live route (``GET``: the dead
render) and the LiveView socket at ``socket_path`` (WebSocket and LongPoll).
The dead render runs ``mount`` and ``handle_params`` (``connected`` false),
renders the template, and answers the layout around the container ``<div
id="phx-…" data-phx-main data-phx-session=… data-phx-static=…>``, setting the
CSRF cookie whose signed token the layout puts in ``<meta name="csrf-token">``.
The client joins ``lv:<id>`` with the session token; the socket checks the
``_csrf_token`` connect param against the cookie sent with the upgrade, and a
page whose check failed gets ``stale`` joins (the client then reloads it).

Every template is compiled when ``Live`` is built, so a template error stops
the app at start, naming the file and the line.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import jinja2
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from .._core.message import Broadcast
from .._core.params import parse_params
from ..asgi import Endpoint
from ..socket import Socket
from ..telemetry import LIVE_VIEW_HANDLE_PARAMS, LIVE_VIEW_MOUNT, LIVE_VIEW_RENDER
from ..types import ConnectInfo
from ._channel import LiveChannel
from ._compile import Template, compile_template
from ._components import Components
from ._html import to_html
from ._render import Renderer
from ._routes import LiveRoute, LiveSession, Routes
from ._ticker import RenderTicker
from ._tokens import SessionToken, Tokens
from ._upload_channel import UploadChannel
from .component import LiveComponent, live_component
from .uploads import UploadConfig, UploadEntry, live_file_input, upload_errors
from .view import LiveView

__all__ = ["Live", "LivePage", "LiveSocket", "live_environment"]


@dataclass(frozen=True, slots=True)
class LivePage:
    """What a layout puts around a view: ``content`` is the container, HTML-safe."""

    title: str
    csrf_token: str
    content: Markup


Layout = Callable[[LivePage], str]


def live_environment(loader: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    """The Jinja2 environment live templates compile with: autoescape on, block
    tags trimmed, and the ``keyed`` filter (a no-op outside live templates)."""
    environment = jinja2.Environment(
        loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    environment.filters["keyed"] = lambda value, *_: value
    return environment


class LiveSocket(Socket):
    """The LiveView socket: one ``lv:<id>`` channel per live view on the page, and
    one ``lvu:<entry ref>`` channel per file being uploaded."""

    channels = (("lv:*", LiveChannel), ("lvu:*", UploadChannel))

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        live: Live = self.context
        secret = _cookie(connect_info.headers.get("cookie"), live.cookie_name)
        self.assigns["csrf_ok"] = live.tokens.csrf_valid(params.get("_csrf_token"), secret)
        return True


class Live:
    """The live routes of an app; see the module docs.

    Args:
        endpoint: the app's endpoint (its pubsub, its state, its sockets).
        sessions: the live sessions and their routes.
        secret_key: signs the page tokens (at least 32 bytes; the same on
            every instance of a cluster).
        layout: ``layout(page) -> str``, the HTML page around a view.
        session: ``session(request) -> dict``, what the views' ``mount`` gets as
            ``session`` (signed into the page), besides ``"_csrf_token"``: the
            page's CSRF token, for HTTP forms (``csrf_valid`` checks it).
        environment: the Jinja2 environment (``live_environment()`` by default).
        socket_path: where the LiveView socket is mounted.
        longpoll: also serve the socket over LongPoll.
        check_origin: the socket's origin check (``Endpoint.socket_app``).
    """

    cookie_name = "_phoenix_py_live_csrf"
    #: The socket its ``socket_path`` serves (a subclass may route ``lv:*`` to a
    #: ``LiveChannel`` subclass, as ``phoenix_py.dashboard`` does to guard its joins).
    socket_class: type[LiveSocket] = LiveSocket

    def __init__(
        self,
        endpoint: Endpoint,
        sessions: list[LiveSession],
        *,
        secret_key: str | bytes,
        layout: Layout,
        session: Callable[[Request], dict[str, Any]] | None = None,
        environment: jinja2.Environment | None = None,
        socket_path: str = "/live",
        longpoll: bool = True,
        check_origin: Any = True,
    ) -> None:
        key = secret_key.encode() if isinstance(secret_key, str) else secret_key
        if len(key) < 32:
            raise ValueError("Live(secret_key=...) needs at least 32 bytes")
        self.endpoint = endpoint
        self.pubsub = endpoint.pubsub
        self.tokens = Tokens(key)
        self.router = Routes(sessions)
        self.ticker = RenderTicker()
        self.layout = layout
        self.session = session
        self.environment = environment or live_environment()
        self.socket_path = socket_path
        self._socket_app = endpoint.socket_app(
            self.socket_class, context=self, longpoll=longpoll, check_origin=check_origin
        )
        self._templates: dict[type[LiveView] | type[LiveComponent], Template] = {}
        self._uploads: dict[tuple[str, str], tuple[UploadConfig, UploadEntry]] = {}
        for route in self.router.routes:
            self._template(route.view)

    # What the channel needs (_channel.LiveContext)

    def renderer(self, view: type[LiveView] | type[LiveComponent]) -> Renderer:
        return Renderer(self._template(view))

    def register_upload(self, view_id: str, upload: UploadConfig, entry: UploadEntry) -> None:
        self._uploads[(view_id, entry.ref)] = (upload, entry)

    def unregister_uploads(self, view_id: str) -> None:
        for key in [key for key in self._uploads if key[0] == view_id]:
            del self._uploads[key]

    def upload_entry(self, view_id: str, entry_ref: str) -> tuple[UploadConfig, UploadEntry] | None:
        found = self._uploads.get((view_id, entry_ref))
        if found is None or found[1] not in found[0].entries:
            return None
        return found

    def _template(self, view: type[LiveView] | type[LiveComponent]) -> Template:
        template = self._templates.get(view)
        if template is None:
            source, name = view.template_source()
            names = {
                "live_component": live_component,
                "live_file_input": live_file_input,
                "upload_errors": upload_errors,
                **view.components,
            }
            template = compile_template(self.environment, source, name, globals=names)
            self._templates[view] = template
            for component in view.components.values():
                self._template(component)
        return template

    # The ASGI side

    def routes(self) -> list[BaseRoute]:
        """A ``GET`` route per live route, and the socket's mount."""
        routes: list[BaseRoute] = [
            Route(route.path, self._dead_render_of(route), methods=["GET"])
            for route in self.router.routes
        ]
        routes.append(Mount(self.socket_path, app=self._socket_app))
        return routes

    def _dead_render_of(self, route: LiveRoute) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await self._dead_render(route, request)

        return endpoint

    def csrf_valid(self, request: Request, token: Any) -> bool:
        """Whether ``token`` (an HTTP form's ``_csrf_token``) is the CSRF token of the
        browser that sent ``request``: the one a live page of this app gave it."""
        return self.tokens.csrf_valid(token, request.cookies.get(self.cookie_name))

    async def _dead_render(self, route: LiveRoute, request: Request) -> Response:
        secret = request.cookies.get(self.cookie_name)
        new_secret = secret is None
        if secret is None:
            secret = self.tokens.new_csrf_secret()
        csrf_token = self.tokens.csrf_token(secret)
        view = route.view(_DeadRuntime(self.endpoint))
        params = {**parse_params(request.url.query), **request.path_params}
        # As Phoenix's session does, it carries the page's CSRF token (for HTTP forms).
        session = {
            **(self.session(request) if self.session is not None else {}),
            "_csrf_token": csrf_token,
        }
        uri, dead = str(request.url), {"view": route.view, "connected": False}
        with LIVE_VIEW_MOUNT({**dead, "params": params, "session": session, "uri": uri}):
            await view.mount(params, session)
        if view.navigation is None:
            with LIVE_VIEW_HANDLE_PARAMS({**dead, "params": params, "uri": uri}):
                await view.handle_params(params, uri)
        if view.navigation is not None:  # a redirect, a navigate or a patch: reload there
            return RedirectResponse(view.navigation.to, status_code=302)
        components = Components(view, self.renderer)
        renderer = Renderer(self._template(route.view))
        with LIVE_VIEW_RENDER({**dead, "full": True}):
            rendered = renderer.render(view.assigns, None, view.streams, components)
            rendered["c"] = components.take()
        view_id = f"phx-{secrets.token_urlsafe(12)}"
        token = self.tokens.sign_session(
            SessionToken(view_id, route.name, route.live_session, session)
        )
        static = self.tokens.sign_static(view_id, view.assigns.get("flash") or {})
        container = (
            Markup(
                f'<div id="{view_id}" data-phx-main data-phx-session="{escape(token)}" '
                f'data-phx-static="{escape(static)}">'
            )
            + Markup(to_html(rendered))
            + Markup("</div>")
        )
        title = str(view.assigns.get("page_title", ""))
        page = self.layout(LivePage(title, csrf_token, container))
        response = HTMLResponse(page)
        if new_secret:
            response.set_cookie(self.cookie_name, secret, httponly=True, samesite="lax")
        return response


class _DeadRuntime:
    """What a view sees during the dead render: not connected, nothing to subscribe to."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    @property
    def connected(self) -> bool:
        return False

    @property
    def state(self) -> Any:
        return self._endpoint.state

    def subscribe(self, topic: str) -> None:
        return None

    def unsubscribe(self, topic: str) -> None:
        return None

    async def broadcast_to(self, topic: str, event: str, payload: Any) -> None:
        await self._endpoint.pubsub.broadcast(topic, Broadcast(topic, event, payload))

    def track(self, presence: Any, topic: str, key: str, meta: dict[str, Any]) -> None:
        return None

    @property
    def connect_params(self) -> dict[str, Any]:
        return {}

    def send_after(self, message: Any, seconds: float) -> Any:
        raise RuntimeError("send_after needs a connected view")

    def send_info(self, message: Any) -> None:
        return None

    def spawn(self, work: Any, done: Any) -> None:
        work.close()  # never runs: start_async waits for the connected mount


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    cookies = SimpleCookie()
    try:
        cookies.load(header)
    except Exception:  # a malformed Cookie header is no cookie
        return None
    morsel = cookies.get(name)
    return None if morsel is None else morsel.value
