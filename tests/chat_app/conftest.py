"""Fixtures for the chat app: the app in-process on a fresh SQLite database,
an HTTP client on it, and signed-up users with their tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from examples.chat_app.app import create_app
from examples.chat_app.settings import Settings

TEST_SECRET = "a test secret, long enough for HS256: 0123456789abcdef"
PASSWORD = "correct horse battery"

SignUp = Callable[[str], Awaitable[dict[str, Any]]]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    """The app, started (migrated, lobby created), on a database of its own."""
    chat = create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'chat.sqlite3'}", secret=TEST_SECRET)
    )
    async with chat.router.lifespan_context(chat):
        yield chat


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://chat.test") as http:
        yield http


@pytest.fixture
def sign_up(client: httpx.AsyncClient) -> SignUp:
    """``await sign_up(name)``: a new user, signed in: ``{"token", "user", "headers"}``."""

    async def create(username: str) -> dict[str, Any]:
        credentials = {"username": username, "password": PASSWORD}
        created = await client.post("/api/users", json=credentials)
        assert created.status_code == 201, created.text
        session = await client.post("/api/sessions", json=credentials)
        assert session.status_code == 200, session.text
        body: dict[str, Any] = session.json()
        return {**body, "headers": {"Authorization": f"Bearer {body['token']}"}}

    return create
