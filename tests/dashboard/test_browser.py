"""The dashboard in Debian's chromium, on the contract app started with ``--dashboard-token``:
real phoenix.js clients (in a second tab) connect, join and send while the dashboard is
open, and its numbers and charts follow; without the token the page is refused. Two
nodes on one redis-server each show both, until one stops."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from ..integration.conftest import ContractServer
from ..live.test_browser import CHROMIUM, CHROMIUM_ARGS
from ..redis_server import RedisServer

pytestmark = pytest.mark.slow

TOKEN = "browser-test-token"
CLIENTS = 3

CONNECT_AND_JOIN = """async ({url, count}) => {
  window.clients = []
  for (let i = 0; i < count; i++) {
    const socket = new Phoenix.Socket(url, {params: {user: "dash" + i}})
    socket.connect()
    const channel = socket.channel("room:dashboard-test", {})
    await new Promise((joined, refused) =>
      channel.join().receive("ok", joined).receive("error", refused))
    window.clients.push({socket, channel})
  }
  window.shouting = setInterval(() => {
    for (const {channel} of window.clients) channel.push("shout", {text: "hi"})
  }, 20)
}"""

STOP_AND_DISCONNECT = """() => {
  clearInterval(window.shouting)
  for (const {socket} of window.clients) socket.disconnect()
}"""


@pytest.fixture(scope="module")
def server() -> Iterator[ContractServer]:
    contract = ContractServer(["--dashboard-token", TOKEN], label="contract server (dashboard)")
    contract.start()
    try:
        yield contract
    finally:
        contract.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    errors: list[str] = []
    opened = context.new_page()
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_without_the_token_the_dashboard_is_refused(page: Page, server: ContractServer) -> None:
    response = page.goto(server.http_url + "/dashboard")
    assert response is not None and response.status == 403
    response = page.goto(server.http_url + "/dashboard?token=not-" + TOKEN)
    assert response is not None and response.status == 403


def test_the_numbers_follow_real_clients(
    page: Page, browser: Browser, server: ContractServer
) -> None:
    page.goto(f"{server.http_url}/dashboard?token={TOKEN}")
    expect(page.locator("[data-phx-main].phx-connected")).to_have_count(1)
    expect(page.locator("#nodes tr.node")).to_have_count(1)
    # The dashboard's own page is the one WebSocket so far.
    websockets = page.locator("#sockets-websocket")
    expect(websockets).to_have_text("1")
    expect(page.locator("#chart-messages polyline.series-in")).to_have_attribute(
        "points", re.compile(r"^(\S+ ){59}\S+$")
    )

    clients = browser.new_context().new_page()
    clients.goto(server.http_url + "/lv-assets/phoenix.js")  # same origin, window.Phoenix
    clients.add_script_tag(url="/lv-assets/phoenix.js")
    clients.evaluate(CONNECT_AND_JOIN, {"url": server.ws_url, "count": CLIENTS})

    expect(websockets).to_have_text(str(1 + CLIENTS))
    expect(page.locator('[data-topic="room:dashboard-test"]')).to_have_text(str(CLIENTS))
    expect(page.locator('[data-channel="room:* (RoomChannel)"]')).to_have_text(str(CLIENTS))
    nonzero = re.compile(r"^[1-9]\d*$")
    expect(page.locator("#rate-in")).to_have_text(nonzero)
    expect(page.locator("#rate-deliveries")).to_have_text(nonzero)
    # The hook drew what the view pushed: its label names the last second's values.
    expect(page.locator("#chart-messages text")).to_contain_text(re.compile(r"in [1-9]"))
    expect(page.locator("#chart-latency text")).to_contain_text(re.compile(r"max [0-9.]+"))

    clients.evaluate(STOP_AND_DISCONNECT)
    expect(websockets).to_have_text("1")
    expect(page.locator('[data-topic="room:dashboard-test"]')).to_have_count(0)
    expect(page.locator("#rate-in")).to_have_text("0")
    clients.context.close()


def test_every_node_of_a_redis_cluster_shows_until_it_stops(page: Page) -> None:
    redis = RedisServer()
    redis.start()
    args = ["--redis", redis.url, "--dashboard-token", TOKEN]
    nodes = [ContractServer(args, label=f"dashboard cluster node {i}") for i in range(2)]
    try:
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_ready()
        page.goto(f"{nodes[0].http_url}/dashboard?token={TOKEN}")
        expect(page.locator("[data-phx-main].phx-connected")).to_have_count(1)
        rows = page.locator("#nodes tr.node")
        expect(rows).to_have_count(2)
        nodes[1].stop()
        expect(rows).to_have_count(1, timeout=10_000)  # expire_after: 5 s of silence
    finally:
        for node in nodes:
            node.close()
        redis.stop()
