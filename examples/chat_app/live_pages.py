"""The chat's pages as LiveViews on ``phoenix_py.live`` (CHAT_API.md, "Browser page").

* ``/``: ``SignInLive``, sign in or sign up, validated live; a signed-in
  visitor goes on to the lobby (or to where the sign-in was asked for).
* ``/rooms/<id>``: ``RoomLive`` (``live_room``), the chat itself.

Both are one live session, so moving between rooms is a live navigation over
the same socket (``/live``). The pages load the unmodified phoenix 1.8.16 and
phoenix_live_view 1.2.12 builds from ``assets/node_modules`` (``npm ci`` in
``scripts/setup chat``) and ``assets/app.js``: the LiveSocket and two hooks,
for what only the browser can do (Enter in the composer, the connection
state). The phoenix.js single-page client stays at ``/spa``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from phoenix_py import Endpoint
from phoenix_py.live import Live, LivePage, LiveSession, LiveView

from .accounts import check_password, hash_password, password_errors, username_errors
from .channels import Services
from .live_room import RoomLive
from .store import LOBBY
from .web_session import safe_return_path, signed_in_user

ASSETS = Path(__file__).resolve().parent / "assets"
CLIENT_BUILDS = {
    "phoenix.js": ASSETS / "node_modules" / "phoenix" / "priv" / "static" / "phoenix.js",
    "phoenix_live_view.js": (
        ASSETS / "node_modules" / "phoenix_live_view" / "priv" / "static" / "phoenix_live_view.js"
    ),
    "app.js": ASSETS / "app.js",
}
#: Why the sign-in page was shown again (``/?reason=...``, from ``POST /session``).
REASONS = {
    "csrf": "The form had expired: please sign in again.",
    "credentials": "Invalid username or password.",
}
#: What a session cookie that did not verify means for the visitor.
COOKIE_NOTICES = {
    "invalid": "Your session is not valid: please sign in again.",
    "expired": "Your session has ended: please sign in again.",
}


def layout(page: LivePage) -> str:
    scripts = "".join(f'<script defer src="/lv-assets/{name}"></script>' for name in CLIENT_BUILDS)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="csrf-token" content="{escape(page.csrf_token)}">'
        f"<title>{escape(page.title)}</title>"
        f'<link rel="stylesheet" href="/static/chat.css">{scripts}</head>\n'
        f"<body>\n{page.content}\n</body></html>"
    )


async def client_asset(request: Request) -> Response:
    path = CLIENT_BUILDS.get(request.path_params["name"])
    if path is None:
        return PlainTextResponse("not found", status_code=404)
    if not path.is_file():
        return PlainTextResponse(
            f"{path.name} is not installed: run `bash scripts/setup chat`", status_code=503
        )
    return FileResponse(path, media_type="text/javascript")


class SignInLive(LiveView):
    """Sign in or sign up: errors as the fields are filled (``phx-change``), the
    credentials checked (or the account created) on submit, then the form goes to
    ``POST /session`` over HTTP (``phx-trigger-action``), which sets the cookie."""

    template_file = "templates/sign_in.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        return_to = safe_return_path(params.get("return_to"))
        if return_to is not None and urlsplit(return_to).path == "/":
            return_to = None  # this page itself: a signed-in visitor would come back forever
        if signed_in_user(session) is not None:
            self.push_navigate(return_to or await self.lobby_path())
            return
        self.assign(
            page_title="Sign in · phoenix_py chat",
            connected=self.connected,
            csrf_token=session.get("_csrf_token", ""),
            return_to=return_to or "",
            username_error="",
            password_error="",
            trigger=False,
        )
        notice = REASONS.get(str(params.get("reason"))) or COOKIE_NOTICES.get(
            str(session.get("cookie"))
        )
        if notice:
            self.put_flash("error", notice)

    async def lobby_path(self) -> str:
        lobby = await cast(Services, self.state).store.room_named(LOBBY)
        return "/rooms/1" if lobby is None else f"/rooms/{lobby['id']}"

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        username, password = value.get("username", ""), value.get("password", "")
        if event == "validate":
            # a field the person has not been in yet (``_unused_<name>``) shows no error
            self.show_errors(
                username if "_unused_username" not in value else None,
                password if "_unused_password" not in value else None,
            )
        elif event == "submit":
            if value.get("action") == "sign_up":
                await self.sign_up(username, password)
            else:
                await self.sign_in(username, password)

    def show_errors(self, username: Any, password: Any) -> bool:
        """Show what is wrong with the fields given (``None``: not checked); whether all is well."""
        name_errors = username_errors(username).get("username", []) if username is not None else []
        word_errors = password_errors(password).get("password", []) if password is not None else []
        self.assign(
            username_error=f"username {name_errors[0]}" if name_errors else "",
            password_error=f"password {word_errors[0]}" if word_errors else "",
        )
        return not name_errors and not word_errors

    async def sign_up(self, username: Any, password: Any) -> None:
        if not self.show_errors(username, password):
            return
        store = cast(Services, self.state).store
        if await store.create_user(str(username), await hash_password(str(password))) is None:
            self.assign(username_error="username has already been taken")
            self.put_flash("error", "username has already been taken")
            return
        self.submit_over_http()

    async def sign_in(self, username: Any, password: Any) -> None:
        found = await cast(Services, self.state).store.find_user(str(username))
        user, password_hash = found if found is not None else (None, None)
        if user is None or not await check_password(password_hash, str(password)):
            self.put_flash("error", REASONS["credentials"])
            return
        self.submit_over_http()

    def submit_over_http(self) -> None:
        self.clear_flash("error")
        self.assign(trigger=True)  # the client posts the form to /session


def chat_live(
    endpoint: Endpoint, secret_key: str, session: Callable[[Request], dict[str, Any]]
) -> Live:
    """The live pages; ``session(request)`` is what their views' ``mount`` gets."""
    return Live(
        endpoint,
        [LiveSession("chat", [("/", SignInLive), ("/rooms/{room_id}", RoomLive)])],
        secret_key=secret_key,
        layout=layout,
        session=session,
    )


#: The client builds and app.js the live pages load.
ASSET_ROUTES = [Route("/lv-assets/{name}", client_asset)]
