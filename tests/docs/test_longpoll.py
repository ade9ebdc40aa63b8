"""examples/docs/longpoll.py serves LongPoll next to the WebSocket (docs/longpoll.md)."""

from __future__ import annotations

import httpx
import pytest

from examples.docs import longpoll
from phoenix_py import UsageError

pytestmark = pytest.mark.anyio


async def test_a_first_poll_opens_a_session() -> None:
    app = longpoll.create_app("a secret key of at least thirty-two bytes")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/socket/longpoll", params={"user": "alice", "vsn": "2.0.0"})
        refused = await client.get("/socket/longpoll", params={"vsn": "2.0.0"})
    assert answer.status_code == 200
    assert answer.json()["status"] == 410 and answer.json()["token"].startswith("v1.")
    assert refused.json() == {"status": 403}


def test_the_secret_key_needs_32_bytes() -> None:
    with pytest.raises(UsageError, match="at least 32 bytes"):
        longpoll.create_app("short")
