"""examples/docs/presence.py does what docs/presence.md says, on the wire too."""

from __future__ import annotations

import pytest

from examples.docs import presence as page
from phoenix_py import Endpoint, PubSub
from phoenix_py.testing import ANY, TestSocket, connect

pytestmark = pytest.mark.anyio


async def user(name: str, endpoint: Endpoint = page.endpoint) -> TestSocket:
    return await connect(page.UserSocket, {"user": name}, endpoint=endpoint)


async def test_state_after_the_join_then_diffs() -> None:
    ann = await user("ann")
    _, room = await ann.join("room:p1", {"name": "Ann"})
    state = await room.assert_push("presence_state")
    [meta] = state["ann"]["metas"]
    assert meta == {"name": "Ann", "phx_ref": ANY} and len(meta["phx_ref"]) == 16
    # the diff of its own track reached it just before (phoenix.js applies it after the state)
    assert [m.event for m in ann.received() if m.topic == "room:p1"][-2:] == [
        "presence_diff",
        "presence_state",
    ]
    first = next(m for m in ann.received() if m.event == "presence_diff")
    assert first.join_ref is None  # a local broadcast, through the fastlane
    await room.assert_push("presence_diff", {"joins": {"ann": {"metas": [meta]}}, "leaves": {}})

    ref = await room.push("rename", {"name": "Annie"})
    await room.assert_reply(ref, "ok")
    update = await room.assert_push("presence_diff", ANY)
    [new] = update["joins"]["ann"]["metas"]
    assert new["name"] == "Annie" and new["phx_ref_prev"] == meta["phx_ref"]
    assert update["leaves"] == {"ann": {"metas": [meta]}}

    bob = await user("bob")
    _, bob_room = await bob.join("room:p1")
    state = await bob_room.assert_push("presence_state")
    assert sorted(state) == ["ann", "bob"]
    await ann.close()  # a tracked channel that stops leaves
    left = await bob_room.assert_push("presence_diff", {"joins": {}, "leaves": ANY})
    assert list(left["leaves"]) == ["ann"]
    await bob.close()


async def test_a_presence_that_fetches_more() -> None:
    pubsub = PubSub()
    counting = page.CountingPresence(pubsub)
    endpoint = Endpoint(pubsub, state=page.Services(counting))
    tab_1, tab_2 = await user("ann", endpoint), await user("ann", endpoint)
    await tab_1.join("room:tabs")
    await tab_2.join("room:tabs")
    state = await tab_2.assert_push("presence_state")
    assert state["ann"]["count"] == 2 and len(state["ann"]["metas"]) == 2
    assert counting.get_by_key("room:tabs", "ann")["count"] == 2
    assert counting.get_by_key("room:tabs", "nobody") == []
