"""examples/docs/telemetry.py does what docs/observability.md says."""

from __future__ import annotations

import logging

import httpx
import pytest

from examples.docs import telemetry as page
from phoenix_py import telemetry
from phoenix_py.testing import connect

pytestmark = pytest.mark.anyio


async def test_the_handlers_count_broadcasts_and_log_slow_joins(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with page.lifespan(page.app):
        assert telemetry.handlers(telemetry.BROADCAST.name) == ["broadcasts"]
        client = await connect(page.RoomSocket, endpoint=page.endpoint)
        await client.join("room:lobby")
        await page.endpoint.broadcast("room:lobby", "news", {})
        await page.endpoint.broadcast("room:lobby", "news", {})
        transport = httpx.ASGITransport(app=page.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://docs") as http:
            assert (await http.get("/stats")).json() == {"room:lobby": 2}
        with caplog.at_level(logging.WARNING, "my_app.telemetry"):
            page.log_slow_joins(
                telemetry.CHANNEL_JOINED.name,
                {"duration": 80_000_000},
                {"topic": "room:slow", "result": "ok"},
                None,
            )
        assert "slow join of room:slow: 80 ms (ok)" in caplog.text
        await client.close()
    assert telemetry.handlers(telemetry.BROADCAST.name) == []
