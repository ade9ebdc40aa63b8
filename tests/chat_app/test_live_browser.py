"""The LiveView pages in chromium, beyond what both pages share (test_browser.py):
history loaded by scrolling, the bytes each interaction sends, a LiveView page
and a phoenix.js page talking across two instances on Redis, the sign-in's
CSRF token and session cookie, and the pages over LongPoll.

The LiveView socket's frames (``/live/websocket``, V2 JSON arrays ``[join_ref,
ref, topic, event, payload]``) are recorded to see what travels.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, WebSocket, expect

from examples.chat_app.store import ChatStore

from ..redis_server import redis_server
from .conftest import PASSWORD, TEST_SECRET, ChatServer, NewPage
from .test_browser import send, sign_up

pytestmark = pytest.mark.slow


class Frames:
    """The frames of a page's LiveView socket, decoded."""

    def __init__(self, page: Page) -> None:
        self.received: list[Any] = []
        self.sent: list[Any] = []
        page.on("websocket", self._watch)

    def _watch(self, socket: WebSocket) -> None:
        if "/live/websocket" in socket.url:
            socket.on("framereceived", lambda frame: self.received.append(_decode(frame)))
            socket.on("framesent", lambda frame: self.sent.append(_decode(frame)))

    def diffs(self, since: int = 0) -> list[Any]:
        """The payloads of the ``diff`` pushes received after the first ``since`` frames."""
        return [f[4] for f in self.received[since:] if isinstance(f, list) and f[3] == "diff"]


def _decode(frame: str | bytes) -> Any:
    try:
        return json.loads(frame)
    except ValueError:
        return None


def size(payload: Any) -> int:
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())


def new_user(server: ChatServer, username: str) -> dict[str, Any]:
    """A user made through the HTTP API: ``{"token", "user"}``."""
    credentials = {"username": username, "password": PASSWORD}
    with httpx.Client(base_url=server.url) as http:
        assert http.post("/api/users", json=credentials).status_code == 201
        session: dict[str, Any] = http.post("/api/sessions", json=credentials).json()
    return session


def sign_in(page: Page, server: ChatServer, username: str) -> None:
    page.goto(server.url + "/")
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("room-item").filter(has_text="lobby")).to_be_visible()
    expect(page.locator("#connection")).to_have_text("connected")


def seed(database: Path, author: dict[str, Any], bodies: list[str]) -> list[int]:
    """Store messages in the lobby, straight into the server's database (the channel would
    rate limit them); in a thread, since playwright's sync API owns this one."""
    ids: list[int] = []

    async def insert() -> None:
        store = ChatStore.connect(f"sqlite:///{database}")
        try:
            lobby = await store.room_named("lobby")
            assert lobby is not None
            for body in bodies:
                ids.append((await store.insert_message(lobby["id"], author, body))["id"])
        finally:
            await store.close()

    thread = threading.Thread(target=asyncio.run, args=(insert(),))
    thread.start()
    thread.join(30)
    return ids


def test_scrolling_up_loads_older_messages_exactly_once_each(
    chat_server: ChatServer, new_page: NewPage, tmp_path: Path
) -> None:
    ann = new_user(chat_server, "ann")
    bodies = [f"older message {n:03d}" for n in range(120)]
    ids = seed(tmp_path / "chat.sqlite3", ann["user"], bodies)
    page = new_page(viewport={"width": 1000, "height": 700})
    frames = Frames(page)
    sign_in(page, chat_server, "ann")
    items = page.get_by_test_id("message-item")
    expect(items).to_have_count(50)
    expect(items.last).to_contain_text("older message 119")
    expect(items.last).to_be_in_viewport()  # the newest at the bottom, in view

    scroller = page.locator("#scroller")
    scroller.evaluate("el => { el.scrollTop = -el.scrollHeight }")
    expect(items).to_have_count(100)
    # the messages on screen stay where they were: the new page is above them
    expect(page.locator(f"#messages-{ids[70]}")).to_be_in_viewport()
    scroller.evaluate("el => { el.scrollTop = -el.scrollHeight }")
    expect(items).to_have_count(120)
    expect(page.locator("#beginning")).to_be_visible()
    scroller.evaluate("el => { el.scrollTop = -el.scrollHeight }")
    page.wait_for_timeout(700)  # one more scroll at the top: nothing left to load

    assert [text.split("\n")[-1].strip() for text in items.all_inner_texts()] == bodies
    received = json.dumps(frames.received, ensure_ascii=False)
    assert [received.count(f'"{body}"') for body in bodies] == [1] * 120
    loads = [f for f in frames.sent if isinstance(f, list) and f[4].get("event") == "load_older"]
    assert len(loads) >= 2


def test_a_message_and_a_keystroke_send_only_what_changed(
    chat_server: ChatServer, new_page: NewPage
) -> None:
    suffix = str(int(time.time() * 1000) % 100_000)
    ann_name, bob_name = f"ann_{suffix}", f"bob_{suffix}"
    ann, bob = new_page(), new_page()
    ann_frames, bob_frames = Frames(ann), Frames(bob)
    sign_up(ann, chat_server, ann_name, "/")
    sign_up(bob, chat_server, bob_name, "/")
    send(bob, "an older message")
    expect(ann.get_by_test_id("message-item")).to_have_count(1)
    expect(bob.get_by_test_id("online-user")).to_have_count(2)
    bob.wait_for_timeout(200)

    seen = len(bob_frames.received)
    send(ann, "just this one")
    expect(bob.get_by_test_id("message-item")).to_have_count(2)
    [diff] = [d for d in bob_frames.diffs(seen) if "just this one" in json.dumps(d)]
    assert size(diff) < 300 and "an older message" not in json.dumps(diff), (size(diff), diff)

    bob.wait_for_timeout(2100)  # past the typing throttle of ann's view
    seen, sent, got = len(bob_frames.received), len(ann_frames.sent), len(ann_frames.received)
    ann.get_by_test_id("message-input").press_sequentially("typing, not sending", delay=40)
    expect(bob.get_by_test_id("typing")).to_have_text(f"{ann_name} is typing…")
    ann.wait_for_timeout(700)
    # one diff for bob: the typing line (one slot), and nothing for the next keystrokes
    assert [list(diff.values()) for diff in bob_frames.diffs(seen)] == [[f"{ann_name} is typing…"]]
    # ann's own page: each keystroke event is answered with nothing to re-render
    refs = {f[1] for f in ann_frames.sent[sent:] if isinstance(f, list) and f[3] == "event"}
    replies = [f[4] for f in ann_frames.received[got:] if isinstance(f, list) and f[1] in refs]
    assert refs and replies == [{"status": "ok", "response": {}}] * len(refs)


def test_a_live_page_and_a_phoenix_js_page_across_two_instances(
    tmp_path: Path, new_page: NewPage
) -> None:
    with redis_server() as redis:
        args = ("--redis", redis.url, "--secret", TEST_SECRET)
        first, second = ChatServer(tmp_path, *args), ChatServer(tmp_path, *args)
        try:
            first.start()  # one after the other: the first one creates the schema
            second.start()
            ann, bob = new_page(), new_page()
            sign_up(ann, first, "ann_live", "/")
            sign_up(bob, second, "bob_spa", "/spa")  # phoenix.js, on the other instance
            for page in (ann, bob):  # presence replicates within a heartbeat period
                expect(page.get_by_test_id("online-user")).to_have_count(2, timeout=8000)
            send(bob, "from phoenix.js on instance 2")
            expect(ann.get_by_test_id("message-item")).to_contain_text(
                ["from phoenix.js on instance 2"]
            )
            send(ann, "from LiveView on instance 1")
            expect(bob.get_by_test_id("message-item")).to_contain_text(
                ["from phoenix.js on instance 2", "from LiveView on instance 1"]
            )
            bob.get_by_test_id("message-input").press_sequentially("still typ", delay=30)
            expect(ann.get_by_test_id("typing")).to_have_text("bob_spa is typing…")
            ann.get_by_test_id("message-input").press_sequentially("me too", delay=30)
            expect(bob.get_by_test_id("typing")).to_have_text("ann_live is typing…")
        finally:
            for server in (first, second):
                server.stop()


def test_a_wrong_csrf_token_or_a_tampered_cookie_asks_to_sign_in_again(
    chat_server: ChatServer, new_page: NewPage
) -> None:
    new_user(chat_server, "ann")
    page = new_page()
    page.goto(chat_server.url + "/")
    expect(page.locator("#connection")).to_have_text("connected")
    # the page's token no longer matches the browser's CSRF cookie
    page.context.add_cookies(
        [{"name": "_phoenix_py_live_csrf", "value": "another-secret", "url": chat_server.url}]
    )
    page.get_by_test_id("username").fill("ann")
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("error")).to_have_text("The form had expired: please sign in again.")
    assert "chat_session" not in {cookie["name"] for cookie in page.context.cookies()}
    sign_in(page, chat_server, "ann")  # the new page has a good token

    [session] = [c for c in page.context.cookies() if c["name"] == "chat_session"]
    page.context.add_cookies(
        [{"name": "chat_session", "value": session["value"][:-4] + "AAAA", "url": chat_server.url}]
    )
    room = page.url
    page.reload()
    expect(page.get_by_test_id("error")).to_have_text(
        "Your session is not valid: please sign in again."
    )
    expect(page.get_by_test_id("username")).to_be_visible()
    page.get_by_test_id("username").fill("ann")
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("room-item").filter(has_text="lobby")).to_be_visible()
    assert page.url == room  # back where the sign-in was asked for

    page.locator("#sign-out").click()
    expect(page.get_by_test_id("sign-in")).to_be_visible()
    assert "chat_session" not in {cookie["name"] for cookie in page.context.cookies()}


def test_the_live_pages_over_longpoll(chat_server: ChatServer, new_page: NewPage) -> None:
    """A browser whose WebSocket cannot open: phoenix.js takes LongPoll, the pages work."""
    page = new_page()
    page.context.add_init_script("window.WebSocket = undefined")
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url))
    sign_up(page, chat_server, "ann_polling", "/")
    send(page, "over longpoll")
    expect(page.get_by_test_id("message-item")).to_contain_text(["over longpoll"])
    expect(page.get_by_test_id("online-user")).to_have_count(1)
    assert any("/live/longpoll" in url for url in polls)
