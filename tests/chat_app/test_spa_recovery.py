"""The /spa page recovers what it missed while it was offline (docs/recovery.md).

The page in chromium loses its connection (the browser goes offline and its
WebSockets are closed), another person posts from the LiveView page
meanwhile, and the page, back online, shows each of those messages exactly
once, in order, without asking the HTTP API for the room's history:
phoenix.js rejoins with ``since`` and the server sends what came after it.
(phoenix.js comes back over LongPoll, its fallback after a failed attempt;
the recovery is the same on either transport.) A restart of the server loses
the history: that rejoin is not recovered, and the page fetches the last
messages once.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Request, expect

from .conftest import ChatServer, NewPage
from .test_browser import send, sign_up
from .test_live_browser import new_user, seed

pytestmark = pytest.mark.slow

#: Before the page's scripts run: keep each WebSocket the page opens, to close them.
KEEP_SOCKETS = """
(() => {
  const Native = window.WebSocket
  window.__sockets = []
  window.WebSocket = class extends Native {
    constructor(...args){ super(...args); window.__sockets.push(this) }
  }
})()
"""
HISTORY_REQUEST = re.compile(r"/api/rooms/\d+/messages")


class Joins:
    """What the page sends: its requests for a room's history, and its ``phx_join``
    payloads, over WebSocket or LongPoll."""

    def __init__(self, page: Page) -> None:
        self.history_requests: list[str] = []
        self.payloads: list[Any] = []
        page.on("request", self._request)
        page.on("websocket", lambda ws: ws.on("framesent", self._frame))

    def _request(self, request: Request) -> None:
        if HISTORY_REQUEST.search(request.url):
            self.history_requests.append(request.url)
        elif "/socket/longpoll" in request.url and request.method == "POST":
            body = request.post_data or ""
            for frame in body.split("\n") if body else ():
                self._frame(frame)

    def _frame(self, frame: str | bytes) -> None:
        try:
            message = json.loads(frame)
        except ValueError:
            return
        frames = message if message and isinstance(message[0], list) else [message]
        for _join_ref, _ref, topic, event, payload in frames:
            if event == "phx_join" and topic.startswith("room:"):
                self.payloads.append(payload)


def go_offline(page: Page) -> None:
    page.context.set_offline(True)
    page.evaluate("window.__sockets.forEach(socket => socket.close())")
    expect(page.locator("#connection")).to_have_text("reconnecting…")


def test_the_spa_page_shows_what_it_missed_once_without_refetching(
    chat_server: ChatServer, new_page: NewPage, tmp_path: Path
) -> None:
    suffix = str(int(time.time() * 1000) % 100_000)
    carol = new_user(chat_server, f"carol_{suffix}")
    ann, bob = new_page(), new_page()
    ann.context.add_init_script(KEEP_SOCKETS)
    joins = Joins(ann)
    sign_up(ann, chat_server, f"ann_{suffix}", "/spa")
    sign_up(bob, chat_server, f"bob_{suffix}", "/")  # the LiveView page
    items = ann.get_by_test_id("message-item")
    send(ann, "before")
    expect(items).to_have_count(1)
    expect(bob.get_by_test_id("message-item")).to_have_count(1)

    go_offline(ann)
    missed = [f"while away {n}" for n in range(3)]
    for n, body in enumerate(missed):
        send(bob, body)
        expect(bob.get_by_test_id("message-item")).to_have_count(2 + n)
    ann.wait_for_timeout(300)
    expect(items).to_have_count(1)  # nothing reached the page meanwhile

    ann.context.set_offline(False)
    expect(ann.locator("#connection")).to_have_text("connected", timeout=15_000)
    expect(items).to_have_count(4)
    ann.wait_for_timeout(300)  # nothing more comes
    bodies = [text.split("\n")[-1].strip() for text in items.all_inner_texts()]
    assert bodies == ["before", *missed]
    assert joins.history_requests == []  # no refetch: the channel sent them
    first, rejoin = joins.payloads[0], joins.payloads[-1]
    assert first == {}
    assert set(rejoin) == {"since"} and rejoin["since"]["offset"] == 1, joins.payloads

    # a restart loses the history (a new epoch): the rejoin is not recovered, and the page
    # fetches the last messages once, with one stored while the server was down
    chat_server.stop()
    expect(ann.locator("#connection")).to_have_text("reconnecting…")
    seed(tmp_path / "chat.sqlite3", carol["user"], ["stored while the server was down"])
    chat_server.start()
    expect(ann.locator("#connection")).to_have_text("connected", timeout=15_000)
    expect(items).to_have_count(5)
    ann.wait_for_timeout(300)
    bodies = [text.split("\n")[-1].strip() for text in items.all_inner_texts()]
    assert bodies == ["before", *missed, "stored while the server was down"]
    assert len(joins.history_requests) == 1, joins.history_requests
    assert joins.payloads[-1]["since"]["offset"] == 4, joins.payloads
