"""Who may see the dashboard: the app's guard, asked at the dead render and at every join.

A guard is ``guard(connection) -> bool`` (or an awaitable of it), where
``connection`` is a Starlette ``HTTPConnection``: the page's request at the
dead render, and at the live join one made of the page's URL (which the client
joins with) and the headers of the socket's upgrade (its cookies). So a guard
that reads a query parameter, a cookie or a header answers the same at both,
and a token revoked after the page loaded stops the next join.

``DashboardSocket`` is the LiveView socket whose ``lv:*`` channel asks the
guard before the view mounts; a refusal is ``{"reason": "unauthorized"}``
(the client then loads the page, which answers 403).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from ..channel import ChannelReply, error
from ..live._channel import UNAUTHORIZED, LiveChannel
from ..live._upload_channel import UploadChannel
from ..live.app import LiveSocket
from ..types import ConnectInfo

Guard = Callable[[HTTPConnection], bool | Awaitable[bool]]


class Guarded(Protocol):
    """What the dashboard's channel asks (the dashboard's ``Live``)."""

    async def allows(self, connection: HTTPConnection) -> bool:
        """Whether the guard lets ``connection`` see the dashboard."""
        ...


async def ask(guard: Guard | None, connection: HTTPConnection) -> bool:
    """The guard's answer; no guard is a no, and only ``True`` is a yes."""
    if guard is None:
        return False
    answer = guard(connection)
    if inspect.isawaitable(answer):
        answer = await answer
    return answer is True


def join_connection(url: str, info: ConnectInfo | None) -> HTTPConnection:
    """The page's URL with the socket upgrade's headers, as the guard reads a request."""
    parts = urlsplit(url)
    headers = {} if info is None else info.headers
    scope: dict[str, Any] = {
        "type": "http",
        "scheme": "https" if info is not None and info.scheme in ("https", "wss") else "http",
        "server": None,
        "client": None if info is None else info.peer,
        "path": parts.path or "/",
        "raw_path": (parts.path or "/").encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1", "replace"))
            for name, value in headers.items()
        ],
    }
    return HTTPConnection(scope)


class DashboardChannel(LiveChannel):
    """The dashboard view's ``lv:`` channel: the guard first, then the usual join."""

    async def join(self, topic: str, payload: Any) -> ChannelReply | dict[str, Any]:
        dashboard: Guarded = self.socket.context
        url = payload.get("redirect") or payload.get("url") if isinstance(payload, dict) else None
        if not isinstance(url, str):
            return error(UNAUTHORIZED)
        if not await dashboard.allows(join_connection(url, self.socket.connect_info)):
            return error(UNAUTHORIZED)
        return await super().join(topic, payload)


class DashboardSocket(LiveSocket):
    channels = (("lv:*", DashboardChannel), ("lvu:*", UploadChannel))
