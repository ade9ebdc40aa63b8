"""What a connected view has beside its template: timers, connect params, the page's
CSRF token, and pubsub messages that arrive faster than the view renders."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from markupsafe import escape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from phoenix_py import Broadcast, Endpoint, PubSub
from phoenix_py.live import Live, LivePage, LiveSession, LiveView
from phoenix_py.live._ticker import MAX_WAIT_SECONDS, RenderTicker
from phoenix_py.live.testing import live

pytestmark = pytest.mark.anyio

SECRET = "tests: a secret of at least thirty-two bytes"


class Clock(LiveView):
    template = (
        '<p id="ticks">{{ ticks }}</p><p id="zone">{{ zone }}</p>'
        '<form id="out"><input name="_csrf_token" value="{{ csrf }}"></form>'
    )

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(
            ticks=0,
            zone=self.connect_params.get("time_zone", "unknown"),
            csrf=session["_csrf_token"],
        )
        self.cancelled = self.send_after("never", 0.05)
        if self.cancelled is not None:
            self.cancelled.cancel()
            self.send_after("tick", 0.01)

    async def handle_info(self, message: Any) -> None:
        assert message == "tick", message
        self.assign(ticks=self.assigns["ticks"] + 1)
        if self.assigns["ticks"] < 3:
            self.send_after("tick", 0.01)


class Feed(LiveView):
    template = '<p id="seen">{{ seen }}</p>'

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(seen=[])
        self.subscribe("feed")

    async def handle_info(self, message: Any) -> None:
        if isinstance(message, Broadcast):
            self.assign(seen=[*self.assigns["seen"], message.payload["n"]])


def layout(page: LivePage) -> str:
    return f'<meta name="csrf-token" content="{escape(page.csrf_token)}">{page.content}'


def make_app() -> tuple[Live, Starlette]:
    pubsub = PubSub()
    endpoint = Endpoint(pubsub, secret_key=SECRET)
    sessions = [LiveSession("main", [("/clock", Clock), ("/feed", Feed)])]
    app_live = Live(endpoint, sessions, secret_key=SECRET, layout=layout)

    async def post(request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        valid = app_live.csrf_valid(request, form.get("_csrf_token", [""])[0])
        return PlainTextResponse("ok" if valid else "refused", status_code=200 if valid else 403)

    routes = [*app_live.routes(), Route("/post", post, methods=["POST"])]
    return app_live, Starlette(routes=routes, lifespan=endpoint.lifespan)


async def test_send_after_delivers_later_and_a_cancelled_timer_never() -> None:
    app_live, _ = make_app()
    view = await live(app_live, "/clock")
    await view.sync(0.2)
    assert view.text("#ticks") == "3"  # "never" would have crashed the view


async def test_connect_params_reach_the_connected_mount_only() -> None:
    app_live, _ = make_app()
    view = await live(app_live, "/clock", connect_params={"time_zone": "Europe/Paris"})
    assert view.text("#zone") == "Europe/Paris"
    assert 'id="zone">unknown<' in view.page.html  # the dead render has no socket


async def test_the_session_carries_the_pages_csrf_token_for_http_forms() -> None:
    _, app = make_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        page = await client.get("/clock")
        token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
        assert token == page.text.split('csrf-token" content="')[1].split('"')[0]
        assert (await client.post("/post", data={"_csrf_token": token})).text == "ok"
        forged = await client.post("/post", data={"_csrf_token": token[:-2] + "xx"})
        assert forged.status_code == 403
        client.cookies.clear()  # another browser: the token is not its own
        assert (await client.post("/post", data={"_csrf_token": token})).status_code == 403


async def test_a_cookie_header_given_to_live_is_merged_with_the_pages_cookies() -> None:
    app_live, _ = make_app()
    # live() raises unless the join is accepted: the CSRF cookie went with the upgrade
    view = await live(app_live, "/clock", headers={"cookie": "theme=dark"})
    assert "theme=dark" in view.page.cookie and app_live.cookie_name in view.page.cookie


async def test_a_burst_of_broadcasts_is_handled_in_order_and_rendered_together() -> None:
    app_live, _ = make_app()
    view = await live(app_live, "/feed")
    for n in range(50):  # all queued before the view runs: one batch
        app_live.pubsub.local_broadcast("feed", Broadcast("feed", "item", {"n": n}))
    await view.sync(0.1)
    assert view.text("#seen") == str(list(range(50)))
    diffs = [message for message in view.socket.received() if message.event == "diff"]
    assert len(diffs) == 1, diffs


class _View:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    def release_batch(self) -> None:
        self.log.append(self.name)


async def test_the_ticker_releases_at_once_while_the_views_keep_up() -> None:
    ticker, log = RenderTicker(), []
    ticker.add(_View(log, "a"))
    ticker.add(_View(log, "b"))
    await asyncio.sleep(0)
    assert log == ["a", "b"]


async def test_the_ticker_waits_while_the_views_spent_more_than_half_the_time() -> None:
    ticker, log = RenderTicker(), []
    ticker.add(_View(log, "a"))
    await asyncio.sleep(0)
    ticker.spent(0.05)  # the views of that release took 50 ms
    ticker.add(_View(log, "b"))
    await asyncio.sleep(0.02)
    assert log == ["a"]  # 100 ms after the release at the earliest
    await asyncio.sleep(0.12)
    assert log == ["a", "b"]
    ticker.spent(60.0)  # however busy: no longer than MAX_WAIT_SECONDS
    ticker.add(_View(log, "c"))
    await asyncio.sleep(MAX_WAIT_SECONDS + 0.1)
    assert log == ["a", "b", "c"]
