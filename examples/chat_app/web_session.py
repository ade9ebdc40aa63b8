"""The browser's sign-in: a signed session cookie, set and cleared by HTTP form posts.

The LiveView pages talk over a socket, which cannot set a cookie, so signing
in takes two steps: the sign-in view checks the form live, then renders
``phx-trigger-action`` and the client submits that same form over HTTP to
``POST /session``, which checks the CSRF token and the password again, sets
the cookie and redirects. ``POST /sign-out`` clears it and tells the other
pages of that browser session (``browser_session:<sid>``) to leave.

The cookie holds ``{"id", "username", "sid"}`` signed with itsdangerous (its
own salt) and lasts ``max_age`` seconds; the JWT of ``POST /api/sessions``
stays what API and channel clients use. The forms carry the page's CSRF token (the
``_csrf_token`` of the views' ``session``, the ``<meta name="csrf-token">``
one), which ``Live.csrf_valid`` checks against the browser's CSRF cookie.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, quote

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from phoenix_py import Endpoint
from phoenix_py.live import Live

from .accounts import check_password
from .store import JSON, ChatStore

SESSION_COOKIE = "chat_session"
#: A sign-in form is a few short fields: anything longer is refused unread.
FORM_MAX_BYTES = 8192
CookieState = Literal["none", "valid", "invalid", "expired"]


def browser_session_topic(sid: str) -> str:
    return f"browser_session:{sid}"


def safe_return_path(path: Any) -> str | None:
    """``path`` when it is a path of this site (``/rooms/3``), else ``None``."""
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        return None
    if "\\" in path or any(ord(char) < 0x20 for char in path):
        return None
    return path


@dataclass(frozen=True, slots=True)
class BrowserSession:
    user: JSON
    sid: str
    expires_at: float


class SessionCookies:
    """Signs and reads the session cookie."""

    def __init__(self, secret: str, max_age: int) -> None:
        self.max_age = max_age
        self._serializer = URLSafeTimedSerializer(secret, salt="chat_app.browser_session")

    def sign(self, user: JSON) -> str:
        data = {"id": user["id"], "username": user["username"], "sid": secrets.token_urlsafe(16)}
        return str(self._serializer.dumps(data))

    def read(self, value: str | None) -> tuple[CookieState, BrowserSession | None]:
        if not value:
            return "none", None
        try:
            data, signed_at = self._serializer.loads(
                value, max_age=self.max_age, return_timestamp=True
            )
        except SignatureExpired:
            return "expired", None
        except BadData:
            return "invalid", None
        if not (
            isinstance(data, dict)
            and isinstance(data.get("id"), int)
            and isinstance(data.get("username"), str)
            and isinstance(data.get("sid"), str)
        ):
            return "invalid", None
        user = {"id": data["id"], "username": data["username"]}
        return "valid", BrowserSession(user, data["sid"], signed_at.timestamp() + self.max_age)


def signed_in_user(session: dict[str, Any]) -> JSON | None:
    """The user a view's ``session`` (see ``SignIn.page_session``) is signed in as, if
    the sign-in has not expired since the page was loaded."""
    user = session.get("user")
    if not isinstance(user, dict) or float(session.get("expires_at", 0)) <= time.time():
        return None
    return user


class SignIn:
    """The HTTP side of signing in: the routes, and what the live views' ``session`` holds."""

    def __init__(
        self, store: ChatStore, cookies: SessionCookies, endpoint: Endpoint, live: Live
    ) -> None:
        self.store = store
        self.cookies = cookies
        self.endpoint = endpoint
        self.live = live

    def routes(self) -> list[Route]:
        return [
            Route("/session", self.sign_in, methods=["POST"]),
            Route("/sign-out", self.sign_out, methods=["POST"]),
        ]

    def page_session(self, request: Request) -> dict[str, Any]:
        """What the views' ``mount`` gets as ``session``, signed into the page."""
        state, browser = self.cookies.read(request.cookies.get(SESSION_COOKIE))
        data: dict[str, Any] = {"cookie": state}  # and "_csrf_token", which Live adds
        if browser is not None:
            data.update(user=browser.user, sid=browser.sid, expires_at=browser.expires_at)
        return data

    async def sign_in(self, request: Request) -> Response:
        form = await _form(request)
        if form is None:
            return PlainTextResponse("the form is too large", status_code=413)
        if not self._csrf_ok(request, form):
            return _back_to_sign_in("csrf", form.get("return_to"))
        found = await self.store.find_user(form.get("username", ""))
        user, password_hash = found if found is not None else (None, None)
        if user is None or not await check_password(password_hash, form.get("password", "")):
            return _back_to_sign_in("credentials", form.get("return_to"))
        response = RedirectResponse(safe_return_path(form.get("return_to")) or "/", 303)
        response.set_cookie(
            SESSION_COOKIE,
            self.cookies.sign(user),
            max_age=self.cookies.max_age,
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="lax",
        )
        return response

    async def sign_out(self, request: Request) -> Response:
        form = await _form(request)
        if form is None or not self._csrf_ok(request, form):  # a forged sign-out changes nothing
            return RedirectResponse("/", 303)
        _, browser = self.cookies.read(request.cookies.get(SESSION_COOKIE))
        if browser is not None:  # the other tabs of this browser session leave too
            await self.endpoint.broadcast(browser_session_topic(browser.sid), "signed_out", {})
        response = RedirectResponse("/", 303)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
        return response

    def _csrf_ok(self, request: Request, form: dict[str, str]) -> bool:
        return self.live.csrf_valid(request, form.get("_csrf_token"))


def _back_to_sign_in(reason: str, return_to: str | None) -> Response:
    target = f"/?reason={reason}"
    path = safe_return_path(return_to)
    if path is not None:
        target += f"&return_to={quote(path, safe='/')}"
    response = RedirectResponse(target, 303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return response


async def _form(request: Request) -> dict[str, str] | None:
    """The URL-encoded form of a POST (the pages send no files), ``None`` if too large."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_MAX_BYTES:
            return None
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
