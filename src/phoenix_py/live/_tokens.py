"""The signed tokens of a LiveView page (LIVEVIEW_PROTOCOL.md §1, §2, §4).

All are itsdangerous ``URLSafeTimedSerializer`` tokens over JSON, each kind with
its own salt, so that one kind never verifies as another:

* ``session``: the container's ``data-phx-session``: the view id, the view's
  route name, the live_session name and the session the view may see. It
  must verify at join, and its id must be the topic's (``lv:<id>``).
* ``static``: ``data-phx-static``: the id again and the flash of the dead render.
* ``flash``: the flash carried across a live navigation (the client hands it
  back on its next join); short-lived, as Phoenix's.
* ``upload``: one upload entry's right to join ``lvu:<entry ref>`` and send
  its chunks (the view id, the upload ref, the entry ref).
* ``csrf``: the ``<meta name="csrf-token">`` content, a signature over the
  secret the CSRF cookie holds; the socket's ``_csrf_token`` param must verify
  against the cookie sent with the upgrade.

A token that fails verification (forged, altered, another kind, expired) is
``None`` to the caller, never an exception.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

SESSION_MAX_AGE = 1_209_600  # two weeks, as Phoenix's LiveView session
FLASH_MAX_AGE = 60
CSRF_MAX_AGE = 1_209_600


@dataclass(frozen=True, slots=True)
class SessionToken:
    """What ``data-phx-session`` carries."""

    id: str
    view: str
    live_session: str
    session: dict[str, Any]


class Tokens:
    """Signs and verifies one app's LiveView tokens with ``secret_key``."""

    def __init__(self, secret_key: bytes) -> None:
        self._session = URLSafeTimedSerializer(secret_key, salt="phoenix_py.live.session")
        self._static = URLSafeTimedSerializer(secret_key, salt="phoenix_py.live.static")
        self._flash = URLSafeTimedSerializer(secret_key, salt="phoenix_py.live.flash")
        self._csrf = URLSafeTimedSerializer(secret_key, salt="phoenix_py.live.csrf")
        self._upload = URLSafeTimedSerializer(secret_key, salt="phoenix_py.live.upload")

    # data-phx-session / data-phx-static

    def sign_session(self, token: SessionToken) -> str:
        data = [token.id, token.view, token.live_session, token.session]
        return str(self._session.dumps(data))

    def verify_session(self, token: Any) -> SessionToken | None:
        data = _loads(self._session, token, SESSION_MAX_AGE)
        if not (isinstance(data, list) and len(data) == 4):
            return None
        view_id, view, live_session, session = data
        if not all(isinstance(part, str) for part in (view_id, view, live_session)):
            return None
        if not isinstance(session, dict):
            return None
        return SessionToken(view_id, view, live_session, session)

    def sign_static(self, view_id: str, flash: dict[str, str]) -> str:
        return str(self._static.dumps([view_id, flash]))

    def verify_static(self, token: Any, view_id: str) -> dict[str, str] | None:
        """The dead render's flash, or ``None`` when the token is bad or another view's."""
        data = _loads(self._static, token, SESSION_MAX_AGE)
        if not (isinstance(data, list) and len(data) == 2 and data[0] == view_id):
            return None
        return _string_map(data[1])

    # flash across navigation

    def sign_flash(self, flash: dict[str, str]) -> str:
        return str(self._flash.dumps(flash))

    def verify_flash(self, token: Any) -> dict[str, str]:
        return _string_map(_loads(self._flash, token, FLASH_MAX_AGE)) or {}

    # uploads

    def sign_upload(self, view_id: str, upload_ref: str, entry_ref: str) -> str:
        return str(self._upload.dumps([view_id, upload_ref, entry_ref]))

    def verify_upload(self, token: Any) -> tuple[str, str, str] | None:
        data = _loads(self._upload, token, SESSION_MAX_AGE)
        if isinstance(data, list) and len(data) == 3 and all(isinstance(d, str) for d in data):
            return data[0], data[1], data[2]
        return None

    # CSRF

    @staticmethod
    def new_csrf_secret() -> str:
        return secrets.token_urlsafe(24)

    def csrf_token(self, secret: str) -> str:
        return str(self._csrf.dumps(secret))

    def csrf_valid(self, token: Any, secret: str | None) -> bool:
        found = _loads(self._csrf, token, CSRF_MAX_AGE)
        return (
            isinstance(found, str)
            and isinstance(secret, str)
            and hmac.compare_digest(found.encode(), secret.encode())
        )


def _loads(serializer: URLSafeTimedSerializer, token: Any, max_age: int) -> Any:
    if not isinstance(token, str) or not token:
        return None
    try:
        return serializer.loads(token, max_age=max_age)
    except BadData:
        return None


def _string_map(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {str(key): str(item) for key, item in value.items() if isinstance(item, str)}
