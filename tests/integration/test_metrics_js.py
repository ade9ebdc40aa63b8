"""GET /metrics of the contract app moves with real traffic, as docs/observability.md says.

- ``js/run.mjs`` ``metrics_traffic``: official phoenix.js 1.8.16 clients, on WebSocket and
  LongPoll, connect, join, are refused, crash a join, send and receive broadcasts, then go;
  a connection is refused. The test reads the metrics at the scenario's checkpoint and after.
- A client that never reads, cut off as a slow consumer (the app in-process, as in
  ``test_slow_consumers.py``, with a small outbound bound).
- A Redis outage under a cluster node: publishes counted while Redis is up, errors once
  it is gone.

Each test has a server of its own, so the counters start from zero.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from examples.contract.app import create_app

from .conftest import ContractServer
from .servers import serve
from .test_slow_consumers import stalled_client

if TYPE_CHECKING:
    from .conftest import ClusterFactory, StartJs

pytestmark = pytest.mark.slow

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def sample(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for one not exposed yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(http_url: str) -> Samples:
    response = httpx.get(f"{http_url}/metrics", timeout=5)
    assert response.status_code == 200, response.text
    return {
        (found.name, frozenset(found.labels.items())): found.value
        for family in text_string_to_metric_families(response.text)
        for found in family.samples
    }


def scrape_until(
    http_url: str, check: Callable[[Samples], bool], what: str, timeout: float = 10.0
) -> Samples:
    """Scrapes until ``check`` holds (events land a moment after the client sees the effect)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(http_url)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            shown = {f"{name}{dict(labels)}": value for (name, labels), value in samples.items()}
            raise AssertionError(f"not true within {timeout} s: {what}; last scrape: {shown}")
        time.sleep(0.02)


@pytest.fixture
def contract_server() -> Iterator[ContractServer]:
    """A contract app of this test's own (the conftest's is shared): counters from zero."""
    server = ContractServer(label="contract server (metrics)")
    try:
        server.start()
        yield server
    finally:
        server.close()


def test_phoenix_js_traffic_moves_the_metrics(
    contract_server: ContractServer, start_js: StartJs
) -> None:
    url = contract_server.http_url
    session = start_js(contract_server, "metrics_traffic")
    sent = session.checkpoint("busy")["sent"]

    def busy(samples: Samples) -> bool:
        return sample(samples, "phoenix_py_presences") == 1 and (
            sample(samples, "phoenix_py_messages_out_total", kind="broadcast") >= 3
        )

    samples = scrape_until(url, busy, "a's presence and the shout to a, b and c")
    assert sample(samples, "phoenix_py_sockets", transport="websocket") == 2
    assert sample(samples, "phoenix_py_sockets", transport="longpoll") == 1
    connections = "phoenix_py_connections_total"
    assert sample(samples, connections, transport="websocket", result="ok") == 2
    assert sample(samples, connections, transport="websocket", result="error") == 1  # token=bad
    assert sample(samples, connections, transport="longpoll", result="ok") == 1
    assert sample(samples, "phoenix_py_channels", route="room:*", channel="RoomChannel") == 3
    assert (
        sample(samples, "phoenix_py_channels", route="presence:*", channel="PresenceChannel") == 1
    )
    assert sample(samples, "phoenix_py_joins_total", result="ok") == 4
    assert sample(samples, "phoenix_py_joins_total", result="error") == 1  # room:forbidden
    assert sample(samples, "phoenix_py_joins_total", result="crash") == 1
    assert sample(samples, "phoenix_py_join_refusals_total", reason="unauthorized") == 1
    # every frame the clients sent (joins, pushes, any heartbeat), as they counted them
    websocket_frames = sent["a"] + sent["b"]
    assert (
        sample(samples, "phoenix_py_messages_in_total", transport="websocket") == websocket_frames
    )
    assert sample(samples, "phoenix_py_messages_in_total", transport="longpoll") == sent["c"]
    assert sample(samples, "phoenix_py_messages_in_bytes_total", transport="websocket") > 0
    # the echo's and the shout's replies; presence_state pushed to a
    assert sample(samples, "phoenix_py_messages_out_total", kind="reply") == 2
    assert sample(samples, "phoenix_py_messages_out_total", kind="push") == 1
    # the shout to three subscribers, and a's presence_diff to a
    assert sample(samples, "phoenix_py_messages_out_total", kind="broadcast") == 3 + 1
    assert sample(samples, "phoenix_py_broadcast_duration_seconds_count") == 2
    assert (
        sample(samples, "phoenix_py_handle_in_duration_seconds_count", channel="RoomChannel") == 2
    )

    session.resume()
    session.result()

    def gone(samples: Samples) -> bool:
        return sample(samples, "phoenix_py_sockets", transport="websocket") == 0 and (
            sample(samples, "phoenix_py_presences") == 0
        )

    samples = scrape_until(url, gone, "a's and b's sockets and a's presence gone")
    assert (
        sample(samples, "phoenix_py_socket_closes_total", transport="websocket", code="peer") == 2
    )
    assert (
        sample(samples, "phoenix_py_channels", route="room:*", channel="RoomChannel") == 0
    )  # c left its room
    assert (
        sample(samples, "phoenix_py_channels", route="presence:*", channel="PresenceChannel") == 0
    )
    # a LongPoll session outlives its client until it expires (15 s without a poll)
    assert sample(samples, "phoenix_py_sockets", transport="longpoll") == 1


CAP_BYTES = 64_000
PAYLOAD = {"pad": "x" * 4_000}


def test_a_client_that_does_not_read_is_counted_as_a_slow_consumer() -> None:
    app = create_app(max_buffered_bytes=CAP_BYTES)
    metrics = app.state.metrics
    topic = "bench:metrics-slow"

    def slow_consumers() -> float:
        found = metrics.registry.get_sample_value(
            "phoenix_py_slow_consumers_total", {"transport": "websocket", "action": "disconnect"}
        )
        return found or 0.0

    async def broadcast_until_cut_off() -> None:
        # The kernel's buffers take some megabytes before the outbound bound fills.
        while not slow_consumers():
            for _ in range(50):
                await app.state.endpoint.broadcast(topic, "broadcast", PAYLOAD)
            await asyncio.sleep(0)

    with serve(app) as server:
        stalled = stalled_client(server.port, topic)
        try:
            url = f"http://127.0.0.1:{server.port}"
            scrape_until(
                url,
                lambda s: (
                    sample(s, "phoenix_py_channels", route="bench:*", channel="BenchChannel") == 1
                ),
                "the join",
            )
            server.call(broadcast_until_cut_off(), timeout=30)

            def cut_off(samples: Samples) -> bool:
                return sample(samples, "phoenix_py_sockets", transport="websocket") == 0

            # It counts until its TCP connection ends: a client that does not read never
            # answers the close frame, which the server waits 10 s for (_ws_connection).
            samples = scrape_until(url, cut_off, "the slow consumer's socket closed", timeout=20)
        finally:
            stalled.close()
    slow = "phoenix_py_slow_consumers_total"
    assert sample(samples, slow, transport="websocket", action="disconnect") == 1
    assert (
        sample(samples, "phoenix_py_socket_closes_total", transport="websocket", code="1013") == 1
    )
    assert sample(samples, "phoenix_py_channels", route="bench:*", channel="BenchChannel") == 0
    assert sample(samples, "phoenix_py_broadcast_duration_seconds_count") >= 50


def test_a_redis_outage_shows_as_pubsub_errors(cluster_factory: ClusterFactory) -> None:
    cluster = cluster_factory(1)
    url = cluster.nodes[0].http_url

    def broadcast() -> None:
        body = {"topic": "room:metrics-redis", "event": "news", "payload": {}}
        assert httpx.post(f"{url}/api/broadcast", json=body, timeout=5).status_code == 200

    broadcast()
    samples = scrape_until(
        url,
        lambda s: sample(s, "phoenix_py_pubsub_published_total", adapter="redis") >= 1,
        "a publish through Redis",
    )
    assert sample(samples, "phoenix_py_pubsub_publish_duration_seconds_count", adapter="redis") >= 1
    assert (
        sample(samples, "phoenix_py_pubsub_errors_total", adapter="redis", operation="publish") == 0
    )

    cluster.redis.stop()
    broadcast()
    errors = "phoenix_py_pubsub_errors_total"

    def failing(samples: Samples) -> bool:
        return all(
            sample(samples, errors, adapter="redis", operation=operation) >= 1
            for operation in ("connection", "publish")
        )

    scrape_until(url, failing, "the lost connection and the failed publish")
