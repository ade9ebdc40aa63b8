"""The dashboard's page in-process (``phoenix_py.live.testing``): what it shows as traffic
comes and goes, the cluster's nodes, and the guard at the dead render and at the join."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from phoenix_py import Channel, Endpoint, PubSub, Socket
from phoenix_py.dashboard import Dashboard
from phoenix_py.live.testing import LiveViewTest, live
from phoenix_py.pubsub.memory import MemoryAdapter, MemoryHub
from phoenix_py.testing import connect

from ..waiting import eventually

pytestmark = pytest.mark.anyio

SECRET = "dashboard tests: a development secret of 32 bytes or more"
TOKEN = "let-me-see"
SCRIPTS = ["/assets/phoenix.js", "/assets/phoenix_live_view.js"]


def token_guard(connection: HTTPConnection) -> bool:
    return TOKEN in (connection.query_params.get("token"), connection.cookies.get("token"))


class RoomChannel(Channel):
    async def join(self, topic: str, payload: Any) -> dict[str, Any]:
        return {}


class RoomSocket(Socket):
    channels = (("room:*", RoomChannel),)


def make_dashboard(
    pubsub: PubSub | None = None, guard: Callable[[HTTPConnection], bool] | None = token_guard
) -> tuple[Endpoint, Dashboard]:
    endpoint = Endpoint(pubsub or PubSub())
    dashboard = Dashboard(
        endpoint,
        guard=guard,
        secret_key=SECRET,
        client_scripts=SCRIPTS,
        interval=0.02,
        expire_after=0.3,
    )
    return endpoint, dashboard


@pytest.fixture
async def app() -> AsyncIterator[tuple[Endpoint, Dashboard]]:
    endpoint, dashboard = make_dashboard()
    async with endpoint.lifespan():
        yield endpoint, dashboard


async def until(view: LiveViewTest, selector: str, text: str) -> None:
    await eventually(lambda: view.has(selector, text), what=f"{selector} shows {text!r}")


async def test_the_page_shows_sockets_channels_and_topics_live(
    app: tuple[Endpoint, Dashboard],
) -> None:
    endpoint, dashboard = app
    view = await live(dashboard.live, "/dashboard?token=" + TOKEN)
    assert view.title == "phoenix_py dashboard"
    assert view.text("#selected-node") == dashboard.node_name
    assert [row["data-node"] for row in view.select("#nodes tr.node")] == [dashboard.node_name]
    # The dashboard's own page is a socket (the toolkit's transport is "test").
    await until(view, "#sockets-test", "1")
    assert view.text("#sockets-websocket") == "0"

    clients = [await connect(RoomSocket, endpoint=endpoint) for _ in range(2)]
    for client in clients:
        await client.join("room:lobby")
    await until(view, "#sockets-total", "3")
    await until(view, '[data-topic="room:lobby"]', "2")
    assert view.text('[data-channel="room:* (RoomChannel)"]') == "2"

    for client in clients:
        await client.close()
    await until(view, "#sockets-total", "1")
    assert not view.select('[data-topic="room:lobby"]')


async def test_the_charts_get_the_series_by_push_event(app: tuple[Endpoint, Dashboard]) -> None:
    _, dashboard = app
    view = await live(dashboard.live, "/dashboard?token=" + TOKEN)

    def charts() -> dict[str, Any]:
        view.html()  # takes in what the server pushed since
        return {chart["id"]: chart for name, chart in view.events if name == "dashboard:chart"}

    await eventually(lambda: set(charts()) == {"chart-messages", "chart-latency"})
    pushed = charts()
    assert [line["name"] for line in pushed["chart-messages"]["series"]] == [
        "in",
        "out",
        "deliveries",
    ]
    assert all(len(line["points"]) == 60 for line in pushed["chart-latency"]["series"])
    assert view.has('svg#chart-messages[phx-hook="DashboardChart"][phx-update="ignore"]')


async def test_a_node_shows_while_it_publishes() -> None:
    hub = MemoryHub()
    endpoint_a, dashboard_a = make_dashboard(PubSub(MemoryAdapter("node-a", hub)))
    endpoint_b, _ = make_dashboard(PubSub(MemoryAdapter("node-b", hub)))
    async with endpoint_a.lifespan():
        view = await live(dashboard_a.live, "/dashboard?token=" + TOKEN)
        async with endpoint_b.lifespan():

            def nodes() -> list[str]:
                return [str(row["data-node"]) for row in view.select("#nodes tr.node")]

            await eventually(lambda: nodes() == ["node-a", "node-b"], what="both nodes")
            await view.element('tr[data-node="node-b"]').click()
            assert view.text("#selected-node") == "node-b"
        await eventually(lambda: nodes() == ["node-a"], what="node-b gone")
        await until(view, "#selected-node", "node-a")


async def status_of(dashboard: Dashboard, path: str, headers: dict[str, str] | None = None) -> int:
    transport = httpx.ASGITransport(app=Starlette(routes=dashboard.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return (await client.get(path, headers=headers)).status_code


async def test_the_guard_refuses_the_page_with_403(app: tuple[Endpoint, Dashboard]) -> None:
    _, dashboard = app
    assert await status_of(dashboard, "/dashboard") == 403
    assert await status_of(dashboard, "/dashboard?token=wrong") == 403
    assert await status_of(dashboard, "/dashboard?token=" + TOKEN) == 200
    assert await status_of(dashboard, "/dashboard", {"cookie": f"token={TOKEN}"}) == 200
    assert await status_of(dashboard, "/dashboard/dashboard.js") == 200
    with pytest.raises(AssertionError, match="answered 403"):
        await live(dashboard.live, "/dashboard")


async def test_without_a_guard_nobody_gets_in() -> None:
    endpoint, dashboard = make_dashboard(guard=None)
    async with endpoint.lifespan():
        assert await status_of(dashboard, "/dashboard?token=" + TOKEN) == 403


async def test_the_join_asks_the_guard_again() -> None:
    answers = iter([True, False])  # the dead render is let in, the join is not

    def revoked_after_the_page(connection: HTTPConnection) -> bool:
        return next(answers)

    endpoint, dashboard = make_dashboard(guard=revoked_after_the_page)
    async with endpoint.lifespan():
        with pytest.raises(AssertionError, match="'reason': 'unauthorized'"):
            await live(dashboard.live, "/dashboard")


async def test_the_join_reads_the_cookie_and_the_page_url(app: tuple[Endpoint, Dashboard]) -> None:
    _, dashboard = app
    view = await live(dashboard.live, "/dashboard", headers={"cookie": f"token={TOKEN}"})
    assert view.text("#selected-node") == dashboard.node_name
