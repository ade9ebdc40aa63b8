"""Live routes: URL paths to view classes, grouped in live sessions.

A path is literal segments and ``{name}`` segments, each matching one
non-empty segment (``/lv/room/{room}``). Live navigation (``push_navigate``,
``<a data-phx-link="redirect">``) stays inside one live session; crossing
into another is a full page load, as in Phoenix.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..errors import UsageError
from .view import LiveView


@dataclass(frozen=True, slots=True)
class LiveRoute:
    path: str
    view: type[LiveView]
    live_session: str
    segments: tuple[str, ...]

    @property
    def name(self) -> str:
        """How the session token names the view."""
        return f"{self.view.__module__}.{self.view.__qualname__}"

    def match(self, path: str) -> dict[str, str] | None:
        parts = _segments(path)
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pattern, part in zip(self.segments, parts, strict=True):
            if pattern.startswith("{") and pattern.endswith("}"):
                if not part:
                    return None
                params[pattern[1:-1]] = unquote(part)
            elif pattern != part:
                return None
        return params


class LiveSession:
    """Routes that live navigation moves between without a page load.

    Args:
        name: the live session's name (it goes into each page's token).
        routes: ``(path, LiveView subclass)`` pairs.
    """

    def __init__(self, name: str, routes: list[tuple[str, type[LiveView]]]) -> None:
        self.name = name
        self.routes = [LiveRoute(path, view, name, _segments(path)) for path, view in routes]


class Routes:
    """Every live route of an app, in the order given."""

    def __init__(self, sessions: list[LiveSession]) -> None:
        self.routes = [route for session in sessions for route in session.routes]
        self.by_name: dict[str, LiveRoute] = {}
        for route in self.routes:
            if not route.path.startswith("/"):
                raise UsageError(f"live route {route.path!r} must start with /")
            self.by_name.setdefault(route.name, route)

    def match(self, url: str) -> tuple[LiveRoute, dict[str, str]] | None:
        """The route for ``url`` (a path or a full URL) and its path params."""
        path = urlsplit(url).path or "/"
        for route in self.routes:
            params = route.match(path)
            if params is not None:
                return route, params
        return None


def _segments(path: str) -> tuple[str, ...]:
    return tuple(path.strip("/").split("/")) if path.strip("/") else ()
