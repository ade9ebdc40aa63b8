"""Loading a live page as a browser does, for the test toolkit: the dead render's
HTML, the cookies (the ones sent, with those the page set), and what the
client joins with (the CSRF token, the container's id and tokens).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from http.cookies import SimpleCookie

import httpx
from starlette.applications import Starlette

from .app import Live


class Redirected(AssertionError):
    """The view navigated away (``to``, ``kind``: ``redirect``, ``navigate`` or ``patch``)."""

    def __init__(self, to: str, kind: str) -> None:
        super().__init__(f"the view {kind} to {to!r}")
        self.to, self.kind = to, kind


@dataclass
class Page:
    url: str
    status: int
    html: str
    cookie: str
    csrf_token: str
    view_id: str
    session: str
    static: str


async def load_page(app: Live, path: str, headers: dict[str, str]) -> Page:
    transport = httpx.ASGITransport(app=Starlette(routes=app.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(path, headers=headers)
    if response.status_code in (301, 302, 303, 307):
        raise Redirected(response.headers["location"], "redirect")
    if response.status_code != 200:
        raise AssertionError(f"GET {path} answered {response.status_code}: {response.text[:200]}")
    text = response.text
    jar = dict(SimpleCookie(headers.get("cookie", "")).items())
    cookies = {name: morsel.value for name, morsel in jar.items()}
    cookies.update(response.cookies.items())
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return Page(
        url=str(response.url),
        status=response.status_code,
        html=text,
        cookie=cookie,
        csrf_token=_attribute(text, r'name="csrf-token" content="([^"]*)"'),
        view_id=_attribute(text, r'<div id="(phx-[^"]+)" data-phx-main'),
        session=_attribute(text, r'data-phx-session="([^"]*)"'),
        static=_attribute(text, r'data-phx-static="([^"]*)"'),
    )


def _attribute(text: str, pattern: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise AssertionError(f"the page has no {pattern!r}: is it a live route?")
    return html.unescape(found.group(1))
