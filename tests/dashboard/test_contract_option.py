"""The contract app serves the dashboard only when given ``--dashboard-token``."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from examples.contract.app import create_app
from examples.contract.dashboard import COOKIE

pytestmark = pytest.mark.anyio


async def get(app: Starlette, path: str, headers: dict[str, str] | None = None) -> int:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return (await client.get(path, headers=headers)).status_code


async def test_by_default_there_is_no_dashboard() -> None:
    app = create_app()
    assert await get(app, "/dashboard") == 404
    assert await get(app, "/dashboard/dashboard.js") == 404


async def test_with_a_token_it_is_for_whoever_brings_it() -> None:
    app = create_app(dashboard_token="t0ken")
    assert await get(app, "/dashboard") == 403
    assert await get(app, "/dashboard?token=t0ke") == 403
    assert await get(app, "/dashboard?token=t0ken") == 200
    assert await get(app, "/dashboard", {"cookie": f"{COOKIE}=t0ken"}) == 200
