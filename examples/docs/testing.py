"""The code of docs/testing.md: the getting-started app's channel tested in-process.

A pytest module (``tests/docs/test_testing.py`` collects its tests): run it on
its own with ``pytest examples/docs/testing.py``.
"""

from __future__ import annotations

import pytest

from examples.hello.app import UserSocket, endpoint
from phoenix_py import ConnectionRefused
from phoenix_py.testing import JoinRefused, TestSocket, connect

pytestmark = pytest.mark.anyio


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


async def user(name: str) -> TestSocket:
    return await connect(UserSocket, {"user": name}, endpoint=endpoint)


async def test_new_msg_reaches_everyone_in_the_room() -> None:
    ann, bob = await user("ann"), await user("bob")
    response, ann_room = await ann.subscribe_and_join("room:lobby")
    assert response == {"user": "ann"}
    _, bob_room = await bob.join("room:lobby")
    ref = await ann_room.push("new_msg", {"body": "hi"})
    await ann_room.assert_reply(ref, "ok", {})
    await ann.assert_broadcast("new_msg", {"user": "ann", "body": "hi"})
    await bob_room.assert_push("new_msg", {"user": "ann", "body": "hi"})
    await ann_room.assert_push("new_msg", {"user": "ann", "body": "hi"})
    await ann.close()
    await bob.close()


async def test_refusals() -> None:
    with pytest.raises(ConnectionRefused) as refused:
        await connect(UserSocket, {})
    assert refused.value.status == 403
    ann = await user("ann")
    with pytest.raises(JoinRefused) as join_refused:
        await ann.join("room:elsewhere")
    assert join_refused.value.response == {"reason": "unauthorized"}
    await ann.close()


async def test_a_failed_assertion_says_what_the_client_got() -> None:
    ann = await user("ann")
    _, room = await ann.join("room:lobby")
    ref = await room.push("ping", {"n": 1})
    with pytest.raises(AssertionError, match=r"the client got: \[Message\(topic='room:lobby'"):
        await room.assert_reply(ref, "ok", {"pong": {"n": 2}})
    await room.assert_reply(ref, "ok", {"pong": {"n": 1}})
    await ann.close()
