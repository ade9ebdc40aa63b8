"""The tests of docs/live.md, in-process with phoenix_py.live.testing.

A pytest module (``tests/docs/test_live.py`` collects its tests): run it on its
own with ``pytest examples/docs/live_testing.py``.
"""

from __future__ import annotations

import hashlib

import pytest

from examples.docs.live import live as docs_live
from phoenix_py.live.testing import live

pytestmark = pytest.mark.anyio


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


async def test_the_counter() -> None:
    view = await live(docs_live, "/")
    assert view.text("#count") == "0" and view.title == "Counter"
    await view.element("#inc10").click()
    await view.element("#inc").click()
    assert view.text("#count") == "11"


async def test_the_room_streams_messages_to_every_view() -> None:
    ann = await live(docs_live, "/room/lobby?name=ann")
    bob = await live(docs_live, "/room/lobby?name=bob")
    await ann.sync()
    assert [li.get_text() for li in ann.select("#online li")] == ["ann", "bob"]
    await ann.form("#post", {"body": "hi <all>"}).submit()
    await bob.sync()
    assert [li.get_text() for li in bob.select("#messages li")] == ["ann hi <all>"]
    assert bob.select("#messages li")[0]["id"] == "messages-ann-1"


async def test_components_keep_their_own_stars() -> None:
    view = await live(docs_live, "/gallery")
    await view.element("#star-sea").click()
    await view.element("#star-sea").click()
    assert view.text("#stars-sea").startswith("**") and view.text("#stars-hill") == "star"


async def test_the_upload() -> None:
    view = await live(docs_live, "/avatar")
    picture = b"\x89PNG not really"
    await view.upload("avatar", [("me.png", picture, "image/png")])
    await view.form("#avatar-form").submit()
    assert view.text(".saved") == f"me.png: {hashlib.sha256(picture).hexdigest()[:12]}"
    await view.upload("avatar", [("me.gif", b"GIF", "image/gif")])
    assert view.text(".entry em") == "not_accepted"
