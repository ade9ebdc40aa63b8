"""phoenix_py.metrics: each telemetry event moves its collectors (events emitted by hand,
then from traffic through the in-process toolkits), the exposition app, and the
multiprocess mode in real worker processes. Real servers and phoenix.js clients:
tests/integration/test_metrics_js.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Route

from examples.contract.app import RoomChannel, create_app
from examples.contract.live import Counter
from phoenix_py import Channel, ChannelReply, ConnectInfo, Endpoint, Socket, error, ok, telemetry
from phoenix_py.errors import UsageError
from phoenix_py.live.testing import live
from phoenix_py.metrics import PrometheusMetrics
from phoenix_py.testing import JoinRefused, connect

REPO = Path(__file__).resolve().parents[1]
MS = 1_000_000  # nanoseconds, as the events measure durations

#: The names CONTRACT.md fixes for the contract app's GET /metrics (a counter's family
#: is named without its samples' ``_total``).
CONTRACT_NAMES = {
    "phoenix_py_sockets": "gauge",
    "phoenix_py_channels": "gauge",
    "phoenix_py_joins": "counter",
    "phoenix_py_messages_in": "counter",
    "phoenix_py_messages_out": "counter",
    "phoenix_py_broadcast_duration_seconds": "histogram",
}


@pytest.fixture()
def metrics() -> Iterator[PrometheusMetrics]:
    with PrometheusMetrics() as attached:
        yield attached


def value(metrics: PrometheusMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def scraped(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples of an exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# Events emitted by hand


@pytest.mark.anyio
async def test_the_contract_app_serves_contract_mds_names_from_the_start() -> None:
    app = create_app()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http,
    ):
        text = (await http.get("/metrics")).text
    types = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert CONTRACT_NAMES.items() <= types.items()
    samples = scraped(text)
    assert samples[("phoenix_py_sockets", (("transport", "websocket"),))] == 0
    assert samples[("phoenix_py_joins_total", (("result", "crash"),))] == 0
    assert samples[("phoenix_py_messages_out_total", (("kind", "broadcast"),))] == 0
    assert samples[("phoenix_py_broadcast_duration_seconds_count", ())] == 0


def test_sockets_connections_and_closes(metrics: PrometheusMetrics) -> None:
    for transport, result in [("websocket", "ok"), ("websocket", "ok"), ("longpoll", "ok")]:
        telemetry.SOCKET_CONNECTED.emit(
            {"duration": MS}, {"transport": transport, "result": result}
        )
    telemetry.SOCKET_CONNECTED.emit(
        {"duration": MS}, {"transport": "websocket", "result": "error", "reason": "refused"}
    )
    assert value(metrics, "phoenix_py_sockets", transport="websocket") == 2
    assert value(metrics, "phoenix_py_sockets", transport="longpoll") == 1
    connections = "phoenix_py_connections_total"
    assert value(metrics, connections, transport="websocket", result="ok") == 2
    assert value(metrics, connections, transport="websocket", result="error") == 1

    for code in (None, 1013):
        telemetry.SOCKET_CLOSED.emit(
            {"duration": MS}, {"transport": "websocket", "code": code, "reason": "?"}
        )
    assert value(metrics, "phoenix_py_sockets", transport="websocket") == 0
    closes = "phoenix_py_socket_closes_total"
    assert value(metrics, closes, transport="websocket", code="peer") == 1
    assert value(metrics, closes, transport="websocket", code="1013") == 1

    telemetry.SOCKET_DRAIN.emit({"count": 3, "total": 5, "index": 0, "rounds": 2}, {})
    assert value(metrics, "phoenix_py_drained_sockets_total") == 3


def test_joins_channels_and_refusals(metrics: PrometheusMetrics) -> None:
    for result in ("ok", "ok", "error", "crash"):
        metadata = {"result": result, "channel": RoomChannel, "topic": "room:a", "route": "room:*"}
        if result == "error":
            metadata["reason"] = "unauthorized"
        telemetry.CHANNEL_JOINED.emit({"duration": 4 * MS}, metadata)
    telemetry.LIMIT_REACHED.emit({}, {"limit": "join_rate", "transport": "websocket"})
    telemetry.LIMIT_REACHED.emit({}, {"limit": "message_rate", "transport": "websocket"})
    assert value(metrics, "phoenix_py_joins_total", result="ok") == 2
    assert value(metrics, "phoenix_py_joins_total", result="error") == 2  # the channel, a limit
    assert value(metrics, "phoenix_py_joins_total", result="crash") == 1
    refusals = "phoenix_py_join_refusals_total"
    assert value(metrics, refusals, reason="unauthorized") == 1
    assert value(metrics, refusals, reason="crash") == 1
    assert value(metrics, refusals, reason="join_rate") == 1
    assert value(metrics, refusals, reason="message_rate") is None  # not a join's limit
    limits = "phoenix_py_limits_reached_total"
    assert value(metrics, limits, limit="message_rate", transport="websocket") == 1
    assert value(metrics, "phoenix_py_channels", route="room:*", channel="RoomChannel") == 2
    durations = "phoenix_py_join_duration_seconds"
    assert value(metrics, f"{durations}_count", channel="RoomChannel") == 4
    assert value(metrics, f"{durations}_sum", channel="RoomChannel") == pytest.approx(0.016)

    left = {"channel": RoomChannel, "topic": "room:a", "route": "room:*", "reason": "left"}
    telemetry.CHANNEL_LEFT.emit({}, left)
    assert value(metrics, "phoenix_py_channels", route="room:*", channel="RoomChannel") == 1
    telemetry.CHANNEL_HANDLED_IN.emit({"duration": 2 * MS}, {"channel": RoomChannel, "event": "x"})
    handled = "phoenix_py_handle_in_duration_seconds_sum"
    assert value(metrics, handled, channel="RoomChannel") == pytest.approx(0.002)


def test_messages_in_and_out_and_broadcasts(metrics: PrometheusMetrics) -> None:
    for size in (10, 32):
        telemetry.MESSAGE_IN.emit({"bytes": size}, {"transport": "websocket"})
    telemetry.MESSAGE_OUT.emit({"bytes": 20}, {"kind": "reply", "topic": "room:a"})
    telemetry.MESSAGE_OUT.emit({"bytes": 20}, {"kind": "push", "topic": "room:a"})
    telemetry.BROADCAST.emit(
        {"duration": MS // 2, "subscribers": 250}, {"topic": "room:a", "event": "shout"}
    )
    # the pubsub's own messages (presence replication) are not broadcasts to clients
    telemetry.BROADCAST.emit(
        {"duration": MS, "subscribers": 1}, {"topic": "phx_presence:p", "event": None}
    )
    assert value(metrics, "phoenix_py_messages_in_total", transport="websocket") == 2
    assert value(metrics, "phoenix_py_messages_in_bytes_total", transport="websocket") == 42
    assert value(metrics, "phoenix_py_messages_out_total", kind="reply") == 1
    assert value(metrics, "phoenix_py_messages_out_total", kind="push") == 1
    assert value(metrics, "phoenix_py_messages_out_total", kind="broadcast") == 250
    broadcast = "phoenix_py_broadcast_duration_seconds"
    assert value(metrics, f"{broadcast}_count") == 1
    assert value(metrics, f"{broadcast}_sum") == pytest.approx(0.0005)
    assert value(metrics, f"{broadcast}_bucket", le="0.0005") == 1
    assert value(metrics, f"{broadcast}_bucket", le="0.00025") == 0
    assert value(metrics, "phoenix_py_broadcast_subscribers_bucket", le="100.0") == 0
    assert value(metrics, "phoenix_py_broadcast_subscribers_bucket", le="1000.0") == 1


def test_slow_consumers_and_their_dropped_frames(metrics: PrometheusMetrics) -> None:
    queued = {"queued_frames": 10, "queued_bytes": 1000}
    telemetry.SLOW_CONSUMER.emit(
        {**queued, "dropped": 0}, {"transport": "websocket", "action": "disconnect"}
    )
    for dropped in (3, 4):
        telemetry.SLOW_CONSUMER.emit(
            {**queued, "dropped": dropped}, {"transport": "websocket", "action": "drop_oldest"}
        )
    slow = "phoenix_py_slow_consumers_total"
    assert value(metrics, slow, transport="websocket", action="disconnect") == 1
    assert value(metrics, slow, transport="websocket", action="drop_oldest") == 2
    assert value(metrics, "phoenix_py_dropped_frames_total", transport="websocket") == 7


def test_pubsub_publishes_and_errors(metrics: PrometheusMetrics) -> None:
    telemetry.PUBSUB_PUBLISH.emit(
        {"duration": 3 * MS, "messages": 5, "queued": 2}, {"adapter": "redis"}
    )
    for operation in ("connection", "publish", "publish"):
        telemetry.PUBSUB_ERROR.emit(
            {"count": 1}, {"adapter": "redis", "operation": operation, "error": OSError()}
        )
    assert value(metrics, "phoenix_py_pubsub_published_total", adapter="redis") == 5
    published = "phoenix_py_pubsub_publish_duration_seconds_sum"
    assert value(metrics, published, adapter="redis") == pytest.approx(0.003)
    assert value(metrics, "phoenix_py_pubsub_queued", adapter="redis") == 2
    errors = "phoenix_py_pubsub_errors_total"
    assert value(metrics, errors, adapter="redis", operation="publish") == 2
    assert value(metrics, errors, adapter="redis", operation="connection") == 1


def test_presences_are_one_total_over_every_topic(metrics: PrometheusMetrics) -> None:
    diffs = [("room:a", 1, 0, 1), ("room:a", 1, 0, 2), ("room:b", 3, 0, 3), ("room:a", 0, 2, 0)]
    totals = []
    for topic, joins, leaves, size in diffs:
        telemetry.PRESENCE_DIFF.emit(
            {"joins": joins, "leaves": leaves, "size": size}, {"topic": topic}
        )
        totals.append(
            (value(metrics, "phoenix_py_presences"), value(metrics, "phoenix_py_presence_topics"))
        )
    assert totals == [(1, 1), (2, 1), (5, 2), (3, 1)]
    assert value(metrics, "phoenix_py_presence_changes_total", change="join") == 5
    assert value(metrics, "phoenix_py_presence_changes_total", change="leave") == 2


def test_live_view_and_component_spans(metrics: PrometheusMetrics) -> None:
    with telemetry.LIVE_VIEW_MOUNT({"view": Counter, "params": {}, "session": {}, "uri": "/"}):
        pass
    with telemetry.LIVE_VIEW_RENDER({"view": Counter, "full": True}):
        pass
    with (
        pytest.raises(ValueError),
        telemetry.LIVE_VIEW_HANDLE_EVENT({"view": Counter, "event": "inc", "params": {}}),
    ):
        raise ValueError("a failing handle_event")
    with telemetry.LIVE_COMPONENT_HANDLE_EVENT({"view": Counter, "component": RoomChannel}):
        pass
    durations = "phoenix_py_live_view_duration_seconds_count"
    assert value(metrics, durations, callback="mount", view="Counter") == 1
    assert value(metrics, durations, callback="render", view="Counter") == 1
    assert value(metrics, durations, callback="handle_event", view="Counter") is None
    failed = "phoenix_py_live_view_exceptions_total"
    assert value(metrics, failed, callback="handle_event", view="Counter") == 1
    component = "phoenix_py_live_component_duration_seconds_count"
    assert value(metrics, component, callback="handle_event", component="RoomChannel") == 1


# Attaching


def test_detached_metrics_count_nothing_and_attach_twice_is_a_usage_error() -> None:
    metrics = PrometheusMetrics()
    telemetry.MESSAGE_IN.emit({"bytes": 1}, {"transport": "websocket"})  # not attached yet
    with metrics:
        with pytest.raises(UsageError):
            metrics.attach()
        telemetry.MESSAGE_IN.emit({"bytes": 1}, {"transport": "websocket"})
    telemetry.MESSAGE_IN.emit({"bytes": 1}, {"transport": "websocket"})
    assert value(metrics, "phoenix_py_messages_in_total", transport="websocket") == 1
    assert not telemetry.MESSAGE_IN.handlers


def test_two_instances_need_two_registries() -> None:
    metrics = PrometheusMetrics()
    with pytest.raises(ValueError, match="Duplicated"):
        PrometheusMetrics(metrics.registry)


# The exposition


@pytest.mark.anyio
async def test_the_app_serves_the_text_format_at_the_route_the_app_chose(
    metrics: PrometheusMetrics,
) -> None:
    telemetry.MESSAGE_IN.emit({"bytes": 5}, {"transport": "longpoll"})
    app = Starlette(routes=[Route("/ops/metrics", metrics.asgi_app())])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http:
        response = await http.get("/ops/metrics")
        missing = await http.get("/metrics")
    assert response.status_code == 200 and missing.status_code == 404
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = scraped(response.text)
    assert samples[("phoenix_py_messages_in_total", (("transport", "longpoll"),))] == 1


# From traffic, in-process


class LobbyChannel(Channel):
    async def join(self, topic: str, payload: Any) -> ChannelReply | dict[str, Any]:
        return error({"reason": "unauthorized"}) if topic == "room:secret" else {}

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "shout":
            await self.broadcast("shout", payload)
        return ok()


class UserSocket(Socket):
    channels = (("room:*", LobbyChannel),)

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        return True


@pytest.mark.anyio
async def test_channel_traffic_through_the_toolkit(metrics: PrometheusMetrics) -> None:
    endpoint = Endpoint()
    ann = await connect(UserSocket, {"user": "ann"}, endpoint=endpoint)
    bob = await connect(UserSocket, {"user": "bob"}, endpoint=endpoint)
    _, room = await ann.join("room:lobby")
    _, bob_room = await bob.join("room:lobby")
    with pytest.raises(JoinRefused):
        await ann.join("room:secret")
    ref = await room.push("echo", {"n": 1})
    await room.assert_reply(ref, "ok")
    await room.push("shout", {"hi": 1})
    await bob_room.assert_push("shout", {"hi": 1})
    assert value(metrics, "phoenix_py_sockets", transport="test") == 2
    assert value(metrics, "phoenix_py_channels", route="room:*", channel="LobbyChannel") == 2
    assert value(metrics, "phoenix_py_joins_total", result="ok") == 2
    assert value(metrics, "phoenix_py_joins_total", result="error") == 1
    assert value(metrics, "phoenix_py_messages_in_total", transport="test") == 5
    assert value(metrics, "phoenix_py_messages_out_total", kind="broadcast") == 2
    assert value(metrics, "phoenix_py_broadcast_duration_seconds_count") == 1
    await ann.close()
    await bob.close()
    assert value(metrics, "phoenix_py_sockets", transport="test") == 0
    assert value(metrics, "phoenix_py_channels", route="room:*", channel="LobbyChannel") == 0


@pytest.mark.anyio
async def test_a_live_view_through_the_toolkit(metrics: PrometheusMetrics) -> None:
    view = await live(create_app().state.live, "/lv/counter")
    await view.element("#inc5").click()
    durations = "phoenix_py_live_view_duration_seconds_count"
    # mount, handle_params and a render for the dead render and for the join, as Phoenix
    assert value(metrics, durations, callback="mount", view="Counter") == 2
    assert value(metrics, durations, callback="handle_params", view="Counter") == 2
    assert value(metrics, durations, callback="handle_event", view="Counter") == 1
    assert value(metrics, durations, callback="render", view="Counter") == 3  # and the click


# Several worker processes

WORKER = """
import sys
from phoenix_py import telemetry
from phoenix_py.metrics import PrometheusMetrics

metrics = PrometheusMetrics()
metrics.attach()
for _ in range(int(sys.argv[1])):
    telemetry.SOCKET_CONNECTED.emit({"duration": 1}, {"transport": "websocket", "result": "ok"})
    telemetry.MESSAGE_IN.emit({"bytes": 10}, {"transport": "websocket"})
if sys.argv[2] == "detach":
    metrics.detach()
if sys.argv[2] == "scrape":
    from prometheus_client import generate_latest
    sys.stdout.write(generate_latest(metrics.asgi_app().registry).decode())
"""


def run_worker(directory: Path, sockets: int, then: str) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(sockets), then],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_multiprocess_mode_serves_every_workers_values(tmp_path: Path) -> None:
    websocket = (("transport", "websocket"),)
    run_worker(tmp_path, 2, "exit")  # a worker still counted: it never detached
    run_worker(tmp_path, 5, "detach")  # a worker that stopped cleanly
    samples = scraped(run_worker(tmp_path, 1, "scrape"))
    assert samples[("phoenix_py_sockets", websocket)] == 2 + 1  # live workers only
    assert samples[("phoenix_py_messages_in_total", websocket)] == 2 + 5 + 1  # every worker
    assert samples[("phoenix_py_connections_total", (("result", "ok"), *websocket))] == 8
