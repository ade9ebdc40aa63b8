"""docs/dashboard.md's example (``examples/docs/dashboard.py``): refused without the
token, the live page with it."""

from __future__ import annotations

import httpx
import pytest

from examples.docs import dashboard as example
from phoenix_py.live.testing import live

pytestmark = pytest.mark.anyio


async def test_the_dashboard_is_for_whoever_has_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(example, "DASHBOARD_TOKEN", "s3cret")
    transport = httpx.ASGITransport(app=example.app)
    async with (
        example.endpoint.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        assert (await client.get("/dashboard")).status_code == 403
        assert (await client.get("/dashboard?token=wrong")).status_code == 403
        assert (await client.get("/dashboard?token=s3cret")).status_code == 200
        script = await client.get("/dashboard/dashboard.js")
        assert "DashboardChart" in script.text
        view = await live(
            example.dashboard.live, "/dashboard", headers={"cookie": "dashboard_token=s3cret"}
        )
        assert view.text("#selected-node") == example.pubsub.node_name


async def test_without_a_token_set_nobody_gets_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(example, "DASHBOARD_TOKEN", None)
    transport = httpx.ASGITransport(app=example.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/dashboard?token=")).status_code == 403
