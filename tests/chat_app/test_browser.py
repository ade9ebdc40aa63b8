"""Two people use the chat page in Debian's chromium, driven by playwright.

``scripts/test`` installs chromium from Debian's packages; playwright never
downloads a browser here (``executable_path``). A screenshot of each person's
page is saved in the test's tmp_path, to look at.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from .conftest import PASSWORD, ChatServer

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


NewPage = Callable[..., Page]


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """``new_page(**context_options)``: a page in a fresh context (one person), closed after."""
    contexts: list[BrowserContext] = []

    def open_page(**options: object) -> Page:
        context = browser.new_context(**options)  # type: ignore[arg-type]
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def sign_up(page: Page, server: ChatServer, username: str) -> None:
    page.goto(server.url + "/")
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-up").click()
    expect(page.get_by_test_id("room-item").filter(has_text="lobby")).to_be_visible()
    expect(page.locator("#connection")).to_have_text("connected")


def send(page: Page, body: str) -> None:
    page.get_by_test_id("message-input").fill(body)
    page.get_by_test_id("send").click()


def test_two_people_talk_live(chat_server: ChatServer, new_page: NewPage, tmp_path: Path) -> None:
    suffix = str(int(time.time() * 1000) % 100_000)
    ann_name, bob_name = f"ann_{suffix}", f"bob_{suffix}"
    ann = new_page(viewport={"width": 1200, "height": 760})
    bob = new_page(viewport={"width": 420, "height": 760})
    sign_up(ann, chat_server, ann_name)
    sign_up(bob, chat_server, bob_name)

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
    chat_server: ChatServer, new_page: NewPage, tmp_path: Path
) -> None:
    suffix = str(int(time.time() * 1000) % 100_000)
    ann_name, bob_name, room_name = f"ann_{suffix}", f"bob_{suffix}", f"secret_{suffix}"
    ann = new_page()
    bob = new_page()
    sign_up(ann, chat_server, ann_name)
    sign_up(bob, chat_server, bob_name)

    ann.get_by_test_id("new-room-name").fill(room_name)
    ann.locator("#new-room-private").check()
    ann.get_by_test_id("create-room").click()
    expect(ann.locator("#room-title")).to_contain_text(room_name)
    room_id = re.search(r"#/rooms/(\d+)", ann.url)
    assert room_id is not None, ann.url
    send(ann, "for members only")
    expect(ann.get_by_test_id("message-item")).to_have_count(1)

    # the outsider does not see it, and a link to it is refused
    expect(bob.get_by_test_id("room-item").filter(has_text=room_name)).to_have_count(0)
    bob.goto(f"{chat_server.url}/#/rooms/{room_id.group(1)}")
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
    chat_server: ChatServer, new_page: NewPage, tmp_path: Path
) -> None:
    suffix = str(int(time.time() * 1000) % 100_000)
    ann = new_page()
    sign_up(ann, chat_server, f"ann_{suffix}")
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
