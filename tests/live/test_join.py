"""The LiveView join and events against bad input, with a raw WebSocket client on a
real uvicorn (the contract app): forged or foreign tokens, a wrong CSRF token,
navigation across live sessions, malformed events, an unknown component, a crash.
Each gets a clear refusal or error reply, and the socket and its other views go on."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from examples.contract.app import create_app

from ..integration.servers import ThreadedServer, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with serve(create_app()) as running:
        yield running


class Page:
    """What a browser keeps of a dead render: the cookie, the CSRF token, the container."""

    def __init__(self, server: ThreadedServer, path: str) -> None:
        response = httpx.get(f"http://127.0.0.1:{server.port}{path}")
        assert response.status_code == 200
        self.url = f"http://127.0.0.1:{server.port}{path}"
        self.cookie = "; ".join(f"{k}={v}" for k, v in response.cookies.items())
        text = response.text
        self.csrf = _attr(text, r'name="csrf-token" content="([^"]+)"')
        self.id = _attr(text, r'<div id="(phx-[^"]+)" data-phx-main')
        self.session = _attr(text, r'data-phx-session="([^"]+)"')
        self.static = _attr(text, r'data-phx-static="([^"]+)"')

    def join_payload(self, **overrides: Any) -> dict[str, Any]:
        payload = {
            "url": self.url,
            "params": {"_csrf_token": self.csrf, "_mounts": 0},
            "session": self.session,
            "static": self.static,
        }
        payload.update(overrides)
        return payload


def _attr(text: str, pattern: str) -> str:
    found = re.search(pattern, text)
    assert found is not None, pattern
    return html.unescape(found.group(1))


class Client:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ref = 0

    async def push(self, topic: str, event: str, payload: Any, join_ref: str | None) -> Any:
        self.ref += 1
        ref = str(self.ref)
        if event == "phx_join":  # phoenix.js joins with join_ref = ref
            join_ref = ref
        await self.ws.send(json.dumps([join_ref, ref, topic, event, payload]))
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
            if frame[1] == ref and frame[3] == "phx_reply":
                return frame[4]

    async def join(self, page: Page, **overrides: Any) -> tuple[Any, str]:
        reply = await self.push(f"lv:{page.id}", "phx_join", page.join_payload(**overrides), None)
        return reply, str(self.ref)


async def connect(server: ThreadedServer, page: Page, csrf: str | None = None) -> Any:
    url = server.url("/live/websocket", f"vsn=2.0.0&_csrf_token={csrf or page.csrf}")
    return await websockets.connect(url, additional_headers={"cookie": page.cookie})


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_good_join_renders_the_view(server: ThreadedServer) -> None:
    page = Page(server, "/lv/counter")

    async def go() -> Any:
        async with await connect(server, page) as ws:
            reply, _ = await Client(ws).join(page)
            return reply

    reply = run(go())
    assert reply["status"] == "ok"
    assert reply["response"]["liveview_version"] == "1.2.12"
    assert reply["response"]["rendered"]["0"] == "0"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda page, other: {"session": page.session[:-3] + "AAA"},  # altered
        lambda page, other: {"session": "forged"},
        lambda page, other: {"session": other.session},  # another container's token
        lambda page, other: {"static": other.static},
        lambda page, other: {"session": None},
    ],
    ids=["altered", "forged", "foreign-session", "foreign-static", "missing"],
)
def test_bad_tokens_are_stale(server: ThreadedServer, tamper: Any) -> None:
    page, other = Page(server, "/lv/counter"), Page(server, "/lv/counter")

    async def go() -> tuple[Any, Any]:
        async with await connect(server, page) as ws:
            client = Client(ws)
            refused, _ = await client.join(page, **tamper(page, other))
            good, _ = await client.join(page)  # the socket is still fine
            return refused, good

    refused, good = run(go())
    assert refused == {"status": "error", "response": {"reason": "stale"}}
    assert good["status"] == "ok"


def test_a_wrong_csrf_token_makes_every_join_stale(server: ThreadedServer) -> None:
    page, other = Page(server, "/lv/counter"), Page(server, "/lv/counter")

    async def go() -> Any:
        # other's token does not belong to page's cookie
        async with await connect(server, page, csrf=other.csrf) as ws:
            reply, _ = await Client(ws).join(page)
            return reply

    assert run(go()) == {"status": "error", "response": {"reason": "stale"}}


def test_navigating_into_another_live_session_is_unauthorized(server: ThreadedServer) -> None:
    page = Page(server, "/lv/nav/a")
    solo = f"http://127.0.0.1:{server.port}/lv/solo"
    b = f"http://127.0.0.1:{server.port}/lv/nav/b"

    async def go() -> tuple[Any, Any]:
        async with await connect(server, page) as ws:
            client = Client(ws)
            payload = page.join_payload(redirect=solo)
            del payload["url"]
            refused = await client.push(f"lv:{page.id}", "phx_join", payload, None)
            payload["redirect"] = b
            allowed = await client.push(f"lv:{page.id}", "phx_join", payload, None)
            return refused, allowed

    refused, allowed = run(go())
    assert refused == {"status": "error", "response": {"reason": "unauthorized"}}
    assert allowed["status"] == "ok"
    assert "B" in json.dumps(allowed["response"]["rendered"])


def test_malformed_events_get_error_replies_and_the_views_live_on(server: ThreadedServer) -> None:
    counter, crash = Page(server, "/lv/counter"), Page(server, "/lv/crash")

    async def go() -> dict[str, Any]:
        async with await connect(server, counter) as ws:
            client = Client(ws)
            _, counter_ref = await client.join(counter)
            _, crash_ref = await client.join(crash)
            topic = f"lv:{counter.id}"
            out = {
                "not an object": await client.push(topic, "event", [1, 2], counter_ref),
                "no event name": await client.push(topic, "event", {"type": "click"}, counter_ref),
                "unknown component": await client.push(
                    topic,
                    "event",
                    {"type": "click", "event": "inc", "value": {"by": "1"}, "cid": 99},
                    counter_ref,
                ),
                "unknown channel event": await client.push(topic, "nonsense", {}, counter_ref),
            }
            await ws.send(
                json.dumps(
                    [
                        crash_ref,
                        "90",
                        f"lv:{crash.id}",
                        "event",
                        {"type": "click", "event": "boom", "value": {}},
                    ]
                )
            )
            out["after"] = await client.push(
                topic, "event", {"type": "click", "event": "inc", "value": {"by": "2"}}, counter_ref
            )
            return out

    out = run(go())
    assert out["not an object"] == {"status": "error", "response": {"reason": "malformed payload"}}
    assert out["no event name"] == {"status": "error", "response": {"reason": "malformed event"}}
    assert out["unknown component"] == {
        "status": "error",
        "response": {"reason": "no component with cid 99"},
    }
    assert out["unknown channel event"]["status"] == "error"
    # the crash of the other view on the same socket did not touch this one
    assert out["after"] == {"status": "ok", "response": {"diff": {"0": "2", "t": "Count: 2"}}}
