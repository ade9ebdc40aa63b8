"""The contract's LiveView pages (LIVE_CONTRACT.md) in Debian's chromium, driven by playwright,
with the unmodified phoenix 1.8.16 and phoenix_live_view 1.2.12 builds the pages load.

One contract app process (``python -m examples.contract``, the direct path) serves
the module. Frames on the page's WebSocket are recorded, to hold the diffs to
their byte budgets and to check that statics are not sent again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, WebSocket, expect, sync_playwright

from ..integration.conftest import ContractServer

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
def server() -> Iterator[ContractServer]:
    contract = ContractServer(label="contract server (live pages)")
    contract.start()
    try:
        yield contract
    finally:
        contract.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Tab:
    """A page in its own browser context, with the LiveView socket's frames recorded."""

    def __init__(self, context: BrowserContext, server: ContractServer) -> None:
        self.server = server
        self.page = context.new_page()
        self.received: list[Any] = []
        self.sent: list[Any] = []
        self.errors: list[str] = []
        self.page.on("websocket", self._watch)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _watch(self, socket: WebSocket) -> None:
        socket.on("framereceived", lambda frame: self.received.append(_decode(frame)))
        socket.on("framesent", lambda frame: self.sent.append(_decode(frame)))

    def open(self, path: str) -> Page:
        self.page.goto(self.server.http_url + path)
        expect(self.page.locator("[data-phx-main].phx-connected")).to_have_count(1)
        return self.page

    def replies(self) -> list[dict[str, Any]]:
        """Every phx_reply response on lv: topics, in order."""
        return [
            frame[4]["response"]
            for frame in self.received
            if isinstance(frame, list)
            and frame[3] == "phx_reply"
            and str(frame[2]).startswith("lv:")
        ]


def _decode(frame: Any) -> Any:
    try:
        return json.loads(frame if isinstance(frame, str) else frame.decode())
    except (ValueError, UnicodeDecodeError):
        return None


NewTab = Callable[[], Tab]


@pytest.fixture
def new_tab(browser: Browser, server: ContractServer) -> Iterator[NewTab]:
    contexts: list[BrowserContext] = []
    tabs: list[Tab] = []

    def open_tab() -> Tab:
        context = browser.new_context()
        contexts.append(context)
        tab = Tab(context, server)
        tabs.append(tab)
        return tab

    yield open_tab
    for context in contexts:
        context.close()
    errors = [error for tab in tabs for error in tab.errors]
    assert errors == [], f"JavaScript errors on the page: {errors}"


def statics_in(value: Any) -> bool:
    if isinstance(value, dict):
        return "s" in value or any(statics_in(item) for item in value.values())
    if isinstance(value, list):
        return any(statics_in(item) for item in value)
    return False


def test_counter(new_tab: NewTab) -> None:
    tab = new_tab()
    page = tab.open("/lv/counter")
    expect(page.locator("#count")).to_have_text("0")
    assert page.title() == "Count: 0"
    page.click("#inc5")
    page.click("#inc")
    page.click("#dec")
    expect(page.locator("#count")).to_have_text("5")
    expect(page).to_have_title("Count: 5")
    page.click("#reset")
    expect(page.locator("#count")).to_have_text("0")
    join, *events = tab.replies()
    assert join["liveview_version"] == "1.2.12" and "s" in join["rendered"]
    assert all(not statics_in(reply) for reply in events)
    assert {"diff": {"0": "5", "t": "Count: 5"}} in events


def test_form_validates_used_fields_only(new_tab: NewTab) -> None:
    page = new_tab().open("/lv/form")
    page.fill("#user-name", "ab")
    expect(page.locator("#target")).to_have_text("user.name")
    expect(page.locator("#name-error")).to_have_text("name is too short")
    expect(page.locator("#email-error")).to_have_text("")  # not used yet
    page.click("#save")
    expect(page.locator("#email-error")).to_have_text("email is invalid")
    expect(page.locator("#result")).to_have_text("")
    page.fill("#user-name", "<b>x</b>")
    page.fill("#user-email", "ann@example.com")
    expect(page.locator("#target")).to_have_text("user.email")
    page.click("#save")
    expect(page.locator("#result")).to_have_text("Saved <b>x</b> <ann@example.com>")
    expect(page.locator("#name-error")).to_have_text("")
    expect(page.locator("#user-name")).to_have_value("<b>x</b>")


def test_keyed_list_and_its_byte_budgets(new_tab: NewTab) -> None:
    tab = new_tab()
    page = tab.open("/lv/list")
    expect(page.get_by_test_id("row")).to_have_count(500)
    before = len(tab.replies())
    page.fill("#rename-id", "300")
    page.fill("#rename-name", "Renamed")
    page.click("#rename")
    expect(page.locator("#row-300 .name")).to_have_text("Renamed")
    rename = json.dumps(tab.replies()[before]["diff"], separators=(",", ":"))
    assert len(rename) <= 300 and '"s"' not in rename and "Row " not in rename, rename
    before = len(tab.replies())
    page.click("#top-300")
    expect(page.get_by_test_id("row").first).to_have_id("row-300")
    move = tab.replies()[before]["diff"]
    encoded = json.dumps(move, separators=(",", ":"))
    keyed = move["1"]["k"]
    assert keyed["km"] is True and keyed["0"] == 299
    assert len(encoded) <= 6000 and "Row " not in encoded and not statics_in(move), encoded[:200]
    page.click("#remove-5")
    expect(page.locator("#row-count")).to_have_text("499")
    page.fill("#add-name", "Newest")
    page.click("#add")
    expect(page.locator("#row-501 .name")).to_have_text("Newest")
    expect(page.get_by_test_id("row").last).to_have_id("row-501")


def test_stream_keeps_no_items_on_the_server(new_tab: NewTab) -> None:
    tab = new_tab()
    page = tab.open("/lv/stream")
    items = page.get_by_test_id("item")
    expect(items).to_have_count(3)
    before = len(tab.replies())
    page.click("#append")
    page.click("#prepend")
    expect(items).to_have_count(5)
    assert [el.get_attribute("id") for el in items.all()] == [
        "items-5",
        "items-1",
        "items-2",
        "items-3",
        "items-4",
    ]
    for reply in tab.replies()[before:]:
        assert "Item 1" not in json.dumps(reply)  # only the inserted item travels
    page.click("#delete-items-2")
    expect(items).to_have_count(4)
    for _ in range(3):
        page.click("#append-limited")
    expect(items).to_have_count(5)
    expect(items.last).to_have_id("items-8")
    page.click("#reset")
    expect(items).to_have_count(1)
    expect(page.locator("#items-9 .text")).to_have_text("Fresh 9")


def test_live_patch_runs_handle_params_without_a_remount(new_tab: NewTab) -> None:
    tab = new_tab()
    page = tab.open("/lv/patch")
    mount_id = page.locator("#mount-id").text_content()
    expect(page.locator("#params-calls")).to_have_text("1")
    page.click("#to-page-2")
    expect(page.locator("#page")).to_have_text("2")
    assert page.url.endswith("/lv/patch?page=2")
    page.click("#replace-3")
    expect(page.locator("#page")).to_have_text("3")
    page.click("#server-patch")
    expect(page.locator("#page")).to_have_text("7")
    assert page.url.endswith("/lv/patch?page=7")
    page.go_back()
    expect(page.locator("#page")).to_have_text("3")  # page 3 replaced page 2
    expect(page.locator("#params-calls")).to_have_text("5")
    assert page.locator("#mount-id").text_content() == mount_id
    joins = [frame for frame in tab.sent if isinstance(frame, list) and frame[3] == "phx_join"]
    assert len(joins) == 1


def test_live_navigation_and_other_live_sessions(new_tab: NewTab) -> None:
    tab = new_tab()
    page = tab.open("/lv/nav/a")
    page.evaluate("window.sameDocument = true")
    page.click("#to-b")
    expect(page.locator("#nav-view")).to_have_text("B")
    page.click("#to-a")
    expect(page.locator("#nav-view")).to_have_text("A")
    page.click("#server-nav")
    expect(page.locator("#nav-view")).to_have_text("B")
    page.go_back()
    expect(page.locator("#nav-view")).to_have_text("A")
    assert page.evaluate("window.sameDocument") is True  # no page load so far
    page.click("#to-solo")
    expect(page.locator("#solo")).to_have_text("solo")
    assert page.evaluate("window.sameDocument") is None  # another live session: a page load


def test_events_and_hooks(new_tab: NewTab) -> None:
    page = new_tab().open("/lv/events")
    page.evaluate(
        "window.pongs = []; window.addEventListener('phx:pong', e => window.pongs.push(e.detail.n))"
    )
    page.click("#ping")
    page.click("#ping")
    expect(page.locator("#pings")).to_have_text("2")
    page.click("#calc")
    expect(page.locator("#hook-reply")).to_have_text('{"sum":5}')
    expect(page.locator("#hook-events")).to_have_text("1,2")
    assert page.evaluate("window.pongs") == [1, 2]


def test_two_browsers_in_a_room(new_tab: NewTab) -> None:
    room = f"r{int(time.time() * 1000) % 1_000_000}"
    ann = new_tab().open(f"/lv/room/{room}?name=ann")
    bob_tab = new_tab()
    bob = bob_tab.open(f"/lv/room/{room}?name=bob")
    for page in (ann, bob):
        expect(page.get_by_test_id("who")).to_have_text(["ann", "bob"])
    ann.fill("#msg-body", "hello <b>bob</b>")
    ann.click("#send")
    bob.fill("#msg-body", "hi ann")
    bob.click("#send")
    for page in (ann, bob):
        expect(page.get_by_test_id("message")).to_have_text(
            ["ann: hello <b>bob</b>", "bob: hi ann"]
        )
    bob_tab.page.close()
    expect(ann.get_by_test_id("who")).to_have_text(["ann"], timeout=5000)


def test_a_crash_remounts_only_that_view(new_tab: NewTab) -> None:
    tab = new_tab()
    page = tab.open("/lv/crash")
    page.click("#inc")
    expect(page.locator("#count")).to_have_text("1")
    page.click("#boom")
    expect(page.locator("#count")).to_have_text("0")
    errors = [f for f in tab.received if isinstance(f, list) and f[3] == "phx_error"]
    assert len(errors) == 1
    joins = [f for f in tab.sent if isinstance(f, list) and f[3] == "phx_join"]
    assert len(joins) == 2  # the rejoin, on the same socket
    page.click("#inc")
    expect(page.locator("#count")).to_have_text("1")


def test_async_assigns_arrive_by_server_pushes(new_tab: NewTab) -> None:
    tab = new_tab()
    page = tab.open("/lv/async")
    expect(page.locator("#answer")).to_have_text("42", timeout=5000)
    expect(page.locator("#broken")).to_have_text("failed")
    pushes = [f for f in tab.received if isinstance(f, list) and f[3] == "diff"]
    assert len(pushes) == 2


def test_flash_set_cleared_and_carried_across_navigation(new_tab: NewTab) -> None:
    page = new_tab().open("/lv/flash")
    expect(page.locator("#flash-info")).to_have_count(0)
    page.click("#notify")
    expect(page.locator("#flash-info")).to_have_text("Saved!")
    page.click("#flash-info")
    expect(page.locator("#flash-info")).to_have_count(0)
    page.click("#notify-nav")
    expect(page.locator("#via")).to_have_text("nav")
    expect(page.locator("#flash-info")).to_have_text("Moved!")


def test_js_commands(new_tab: NewTab) -> None:
    tab = new_tab()
    page = tab.open("/lv/js")
    expect(page.locator("#panel")).to_be_hidden()
    page.click("#toggle")
    expect(page.locator("#panel")).to_be_visible()
    page.click("#add-class")
    expect(page.locator("#panel")).to_have_class("active")
    sent_before = len(tab.sent)
    page.click("#js-push")
    expect(page.locator("#js-count")).to_have_text("2")
    events = [f for f in tab.sent[sent_before:] if isinstance(f, list) and f[3] == "event"]
    assert [f[4]["value"]["by"] for f in events] == [2]  # an integer, from the JS command


def test_a_dead_render_and_unknown_paths(new_tab: NewTab, server: ContractServer) -> None:
    page = new_tab().page
    response = page.goto(server.http_url + "/lv/counter")
    assert response is not None and response.status == 200
    html = response.text()
    assert html.startswith("<!DOCTYPE html>") and 'name="csrf-token"' in html
    assert '<span id="count">0</span>' in html and "data-phx-main" in html
    missing = page.goto(server.http_url + "/lv/nothing-here")
    assert missing is not None and missing.status == 404


def test_live_components(new_tab: NewTab) -> None:
    tab = new_tab()
    page = tab.open("/lv/components")
    cid = page.locator("#c1-inc").get_attribute("phx-target")
    assert cid is not None and cid.isdigit()
    page.click("#c1-inc")
    page.click("#c1-inc")
    page.click("#c2-inc")
    expect(page.locator("#c1-value")).to_have_text("2")
    expect(page.locator("#c2-value")).to_have_text("1")
    page.click("#parent-inc")
    expect(page.locator("#parent-count")).to_have_text("1")
    expect(page.locator("#c1-value")).to_have_text("2")  # the parent's render left them alone
    component_events = [f for f in tab.sent if isinstance(f, list) and f[3] == "event"]
    assert [f[4].get("cid") for f in component_events[:3]] == [int(cid), int(cid), int(cid) + 1]
    assert any("c" in reply.get("diff", {}) for reply in tab.replies())
    page.click("#toggle-c2")
    expect(page.locator("#comp-c2")).to_have_count(0)
    # the client reports the removal: cids_will_destroy, then cids_destroyed
    deadline = time.monotonic() + 5
    while not any(isinstance(f, list) and f[3] == "cids_destroyed" for f in tab.sent):
        assert time.monotonic() < deadline, "the client did not report the removed component"
        page.wait_for_timeout(20)
    page.click("#toggle-c2")
    expect(page.locator("#c2-value")).to_have_text("0")  # a new component
    page.click("#c2-inc")
    expect(page.locator("#c2-value")).to_have_text("1")


def test_uploads(new_tab: NewTab, tmp_path: Path) -> None:
    small = tmp_path / "notes.txt"
    small.write_bytes(b"hello world\n" * 100)
    chunked = tmp_path / "data.bin"
    chunked.write_bytes(os.urandom(90_000))  # two chunks of at most 64,000 bytes
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(100_001))
    tab = new_tab()
    page = tab.open("/lv/upload")
    assert page.locator("#upload-form input[type=file]").count() == 1
    page.set_input_files("#upload-form input[type=file]", [str(small), str(chunked)])
    expect(page.locator(".entry-name")).to_have_text(["notes.txt", "data.bin"])
    expect(page.locator(".entry-progress")).to_have_text(["100", "100"], timeout=8000)
    chunks = [f for f in tab.sent if f is None]  # binary frames do not decode as JSON
    assert len(chunks) >= 3
    page.click("#upload-submit")
    expected = [
        f"{path.name} {path.stat().st_size} {hashlib.sha256(path.read_bytes()).hexdigest()}"
        for path in (small, chunked)
    ]
    expect(page.get_by_test_id("uploaded")).to_have_text(expected)
    expect(page.get_by_test_id("entry")).to_have_count(0)  # consumed
    page.set_input_files("#upload-form input[type=file]", [str(big)])
    expect(page.locator(".entry-error")).to_have_text(["too_large"])
    page.set_input_files("#upload-form input[type=file]", [str(small), str(chunked), str(big)])
    expect(page.locator(".upload-error")).to_have_text(["too_many_files"])


def test_a_page_over_longpoll(browser: Browser, server: ContractServer) -> None:
    """Without WebSocket, phoenix.js takes LongPoll: the same view, the same diffs."""
    context = browser.new_context()
    try:
        context.add_init_script("window.WebSocket = undefined")
        page = context.new_page()
        polls: list[str] = []
        page.on("request", lambda request: polls.append(request.url))
        page.goto(server.http_url + "/lv/counter")
        expect(page.locator("[data-phx-main].phx-connected")).to_have_count(1)
        page.click("#inc5")
        expect(page.locator("#count")).to_have_text("5")
        assert any("/live/longpoll" in url for url in polls)
    finally:
        context.close()


def test_a_room_across_two_nodes_on_redis(browser: Browser) -> None:
    """Views on two instances sharing a real redis-server: messages and presence cross."""
    from ..integration.conftest import ContractCluster

    cluster = ContractCluster(2)
    contexts = []
    try:
        cluster.start()
        room = f"cluster{int(time.time() * 1000) % 1_000_000}"
        pages = []
        for name, node in zip(("ann", "bob"), cluster.nodes, strict=True):
            context = browser.new_context()
            contexts.append(context)
            page = context.new_page()
            page.goto(f"{node.http_url}/lv/room/{room}?name={name}")
            expect(page.locator("[data-phx-main].phx-connected")).to_have_count(1)
            pages.append(page)
        ann, bob = pages
        for page in pages:  # presence replicates within a heartbeat period
            expect(page.get_by_test_id("who")).to_have_text(["ann", "bob"], timeout=8000)
        ann.fill("#msg-body", "from node 0")
        ann.click("#send")
        expect(bob.get_by_test_id("message")).to_have_text(["ann: from node 0"])
        bob.fill("#msg-body", "from node 1")
        bob.click("#send")
        for page in pages:
            expect(page.get_by_test_id("message")).to_have_text(
                ["ann: from node 0", "bob: from node 1"]
            )
    finally:
        for context in contexts:
            context.close()
        cluster.close()
