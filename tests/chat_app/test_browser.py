"""Two people use the chat page in Debian's chromium, driven by playwright.

Every test runs against both pages: ``/``, the LiveView pages, and ``/spa``,
the phoenix.js single-page client; they share the ``data-testid`` hooks of
CHAT_API.md, so one test describes both. ``scripts/test`` installs chromium
from Debian's packages; playwright never downloads a browser here
(``executable_path``). A screenshot of each person's page is saved in the
test's tmp_path, to look at.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .conftest import PASSWORD, ChatServer, NewPage

pytestmark = pytest.mark.slow

#: Where each page starts: the LiveView pages, and the phoenix.js single-page client.
PAGES = {"live": "/", "spa": "/spa"}


@pytest.fixture(params=sorted(PAGES))
def start(request: pytest.FixtureRequest) -> str:
    """The path the people open: each test runs once per page."""
    return PAGES[request.param]


def sign_up(page: Page, server: ChatServer, username: str, start: str) -> None:
    page.goto(server.url + start)
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-up").click()
    expect(page.get_by_test_id("room-item").filter(has_text="lobby")).to_be_visible()
    expect(page.locator("#connection")).to_have_text("connected")


def send(page: Page, body: str) -> None:
    page.get_by_test_id("message-input").fill(body)
    page.get_by_test_id("send").click()


def test_two_people_talk_live(
    chat_server: ChatServer, new_page: NewPage, tmp_path: Path, start: str
) -> None:
    suffix = str(int(time.time() * 1000) % 100_000)
    ann_name, bob_name = f"ann_{suffix}", f"bob_{suffix}"
    ann = new_page(viewport={"width": 1200, "height": 760})
    bob = new_page(viewport={"width": 420, "height": 760})
    sign_up(ann, chat_server, ann_name, start)
    sign_up(bob, chat_server, bob_name, start)

    # both in the lobby, each sees the other online
    for page in (ann, bob):
        expect(page.get_by_test_id("online-user")).to_have_count(2)
        expect(page.get_by_test_id("online-list")).to_contain_text(ann_name)
        expect(page.get_by_test_id("online-list")).to_contain_text(bob_name)

    # messages appear live on the other page
    send(ann, "Hello Bob, how is it going?")
    expect(bob.get_by_test_id("message-item")).to_contain_text(["Hello Bob, how is it going?"])
    send(bob, "Very well, thanks!\nAnd you?")
    expect(ann.get_by_test_id("message-item")).to_have_count(2)
    expect(ann.get_by_test_id("message-item").nth(1)).to_contain_text("And you?")
    expect(ann.get_by_test_id("message-input")).to_have_value("")

    # one types, the other sees it
    ann.get_by_test_id("message-input").press_sequentially("I am typ", delay=30)
    expect(bob.get_by_test_id("typing")).to_have_text(f"{ann_name} is typing…")
    expect(ann.get_by_test_id("typing")).to_have_text("")

    # a reload keeps the history
    bob.reload()
    expect(bob.get_by_test_id("message-item")).to_have_count(2)
    expect(bob.get_by_test_id("message-item").first).to_contain_text("Hello Bob")
    expect(ann.get_by_test_id("online-user")).to_have_count(2)

    # an empty message gets a clear error, nothing is sent
    ann.get_by_test_id("message-input").fill("   ")
    ann.get_by_test_id("send").click()
    expect(ann.get_by_test_id("message-item")).to_have_count(2)

    ann.screenshot(path=str(tmp_path / "ann.png"))
    bob.screenshot(path=str(tmp_path / "bob.png"))


def test_a_private_room_refuses_an_outsider_until_added(
    chat_server: ChatServer, new_page: NewPage, tmp_path: Path, start: str
) -> None:
    suffix = str(int(time.time() * 1000) % 100_000)
    ann_name, bob_name, room_name = f"ann_{suffix}", f"bob_{suffix}", f"secret_{suffix}"
    ann = new_page()
    bob = new_page()
    sign_up(ann, chat_server, ann_name, start)
    sign_up(bob, chat_server, bob_name, start)

    ann.get_by_test_id("new-room-name").fill(room_name)
    ann.locator("#new-room-private").check()
    ann.get_by_test_id("create-room").click()
    expect(ann.locator("#room-title")).to_contain_text(room_name)
    room_link = ann.url  # /rooms/<id>, or /spa#/rooms/<id>
    assert re.search(r"/rooms/(\d+)$", room_link) is not None, room_link
    send(ann, "for members only")
    expect(ann.get_by_test_id("message-item")).to_have_count(1)

    # the outsider does not see it, and a link to it is refused
    expect(bob.get_by_test_id("room-item").filter(has_text=room_name)).to_have_count(0)
    bob.goto(room_link)
    expect(bob.get_by_test_id("error")).to_have_text("This room is private.")
    expect(bob.get_by_test_id("message-item")).to_have_count(0)

    # once added, the room shows up live in the new member's list, history included
    ann.locator("#member-name").fill(bob_name)
    ann.locator("#add-member button").click()
    expect(bob.get_by_test_id("room-item").filter(has_text=room_name)).to_be_visible()
    bob.get_by_test_id("room-item").filter(has_text=room_name).click()
    expect(bob.get_by_test_id("message-item")).to_contain_text(["for members only"])
    bob.screenshot(path=str(tmp_path / "bob-private.png"))


def test_the_page_reconnects_by_itself(
    chat_server: ChatServer, new_page: NewPage, tmp_path: Path, start: str
) -> None:
    suffix = str(int(time.time() * 1000) % 100_000)
    room_name = f"restart_{suffix}"
    ann = new_page()
    sign_up(ann, chat_server, f"ann_{suffix}", start)
    ann.get_by_test_id("new-room-name").fill(room_name)
    ann.get_by_test_id("create-room").click()
    expect(ann.locator("#room-title")).to_contain_text(room_name)
    send(ann, "before the restart")
    expect(ann.get_by_test_id("message-item")).to_have_count(1)

    chat_server.stop()
    expect(ann.locator("#connection")).to_have_text("reconnecting…")
    chat_server.start()
    expect(ann.locator("#connection")).to_have_text("connected", timeout=15_000)
    expect(ann.get_by_test_id("online-user")).to_have_count(1)
    send(ann, "after the restart")
    expect(ann.get_by_test_id("message-item")).to_have_count(2)
    expect(ann.get_by_test_id("message-item").nth(1)).to_contain_text("after the restart")
    # still in the same room, and a reload comes back to it
    expect(ann.locator("#room-title")).to_contain_text(room_name)
    ann.reload()
    expect(ann.locator("#room-title")).to_contain_text(room_name)
    expect(ann.get_by_test_id("message-item")).to_have_count(2)
