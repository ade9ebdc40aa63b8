"""examples/docs/metrics.py does what docs/observability.md says."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from examples.docs import metrics as example
from examples.docs.channels import UserSocket
from phoenix_py import telemetry
from phoenix_py.testing import connect

pytestmark = pytest.mark.anyio


async def scrape() -> dict[str, float]:
    """GET /metrics: each sample's value by name and labels, as PromQL would write them."""
    transport = httpx.ASGITransport(example.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    return {
        sample.name + "".join(f'{{{k}="{v}"}}' for k, v in sample.labels.items()): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_the_metrics_count_while_the_app_runs() -> None:
    async with example.app.router.lifespan_context(example.app):
        socket = await connect(UserSocket, {"token": "secret-token"}, endpoint=example.endpoint)
        await socket.join("room:lobby")
        running = await scrape()
        await socket.close()
        closed = await scrape()
    assert running['phoenix_py_sockets{transport="test"}'] == 1
    assert running['phoenix_py_joins_total{result="ok"}'] == 1
    assert running['phoenix_py_channels{channel="RoomChannel"}{route="room:*"}'] == 1
    assert closed['phoenix_py_sockets{transport="test"}'] == 0
    # detached when the lifespan ended
    telemetry.MESSAGE_IN.emit({"bytes": 1}, {"transport": "test"})
    assert (await scrape())['phoenix_py_messages_in_total{transport="test"}'] == 1  # the join
