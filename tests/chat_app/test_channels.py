"""The channels of CHAT_API.md, with phoenix_py.testing on the app in-process."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from examples.chat_app.channels import ChatSocket
from phoenix_py import ConnectionRefused
from phoenix_py.testing import ANY, JoinRefused, TestSocket, connect

from .conftest import SignUp
from .test_http_api import lobby_id

pytestmark = pytest.mark.anyio


@pytest.fixture
def join_as(app: Starlette, sign_up: SignUp) -> Any:
    """``await join_as(name)``: a new user's socket, connected with its token."""

    async def connected(username: str) -> tuple[TestSocket, dict[str, Any]]:
        user = await sign_up(username)
        socket = await connect(ChatSocket, {"token": user["token"]}, endpoint=app.state.endpoint)
        return socket, user

    return connected


async def test_the_socket_needs_a_valid_token(app: Starlette, sign_up: SignUp) -> None:
    for params in ({}, {"token": "nope"}):
        with pytest.raises(ConnectionRefused):
            await connect(ChatSocket, params, endpoint=app.state.endpoint)
    ann = await sign_up("ann")
    socket = await connect(ChatSocket, auth_token=ann["token"], endpoint=app.state.endpoint)
    assert socket.assigns["user"] == ann["user"]


async def test_join_answers_the_room_and_the_last_50_messages(
    app: Starlette, client: httpx.AsyncClient, join_as: Any
) -> None:
    ann, user = await join_as("ann")
    lobby = await lobby_id(client, user["headers"])
    for n in range(60):
        await app.state.store.insert_message(lobby, user["user"], f"m{n}")
    response, _ = await ann.join(f"room:{lobby}")
    assert response["room"] == {"id": lobby, "name": "lobby", "private": False}
    assert [m["body"] for m in response["messages"]] == [f"m{n}" for n in range(10, 60)]


async def test_unknown_and_private_rooms_are_refused(
    client: httpx.AsyncClient, join_as: Any
) -> None:
    ann, ann_user = await join_as("ann")
    bob, _ = await join_as("bob")
    room = (
        await client.post(
            "/api/rooms", json={"name": "p", "private": True}, headers=ann_user["headers"]
        )
    ).json()["room"]
    with pytest.raises(JoinRefused) as refused:
        await bob.join(f"room:{room['id']}")
    assert refused.value.response == {"reason": "unauthorized"}
    for topic in (f"room:{room['id'] + 100}", "room:lobby", "room:"):
        with pytest.raises(JoinRefused) as missing:
            await bob.join(topic)
        assert missing.value.response == {"reason": "not_found"}
    await ann.join(f"room:{room['id']}")


async def test_new_message_is_stored_then_broadcast(
    app: Starlette, client: httpx.AsyncClient, join_as: Any
) -> None:
    ann, user = await join_as("ann")
    bob, _ = await join_as("bob")
    topic = f"room:{await lobby_id(client, user['headers'])}"
    _, ann_room = await ann.subscribe_and_join(topic)
    _, bob_room = await bob.join(topic)
    ref = await ann_room.push("new_message", {"body": "hello"})
    reply = await ann_room.assert_reply(ref, "ok")
    message = await bob_room.assert_push("new_message", timeout=1)
    assert message == {
        "id": reply["id"],
        "room_id": int(topic.split(":")[1]),
        "user": user["user"],
        "body": "hello",
        "inserted_at": ANY,
    }
    await ann_room.assert_push("new_message", message)
    history = await app.state.store.messages(message["room_id"])
    assert history == [message]


@pytest.mark.parametrize("payload", [{"body": ""}, {"body": "  \n"}, {"body": "x" * 4001}, {}, []])
async def test_invalid_bodies_are_refused_and_not_sent(
    app: Starlette, client: httpx.AsyncClient, join_as: Any, payload: Any
) -> None:
    ann, user = await join_as("ann")
    lobby = await lobby_id(client, user["headers"])
    _, room = await ann.join(f"room:{lobby}")
    ref = await room.push("new_message", payload)
    response = await room.assert_reply(ref, "error")
    assert list(response) == ["errors"] and isinstance(response["errors"]["body"][0], str)
    await room.refute_push("new_message")
    assert await app.state.store.messages(lobby) == []


async def test_a_4000_character_body_is_accepted(client: httpx.AsyncClient, join_as: Any) -> None:
    ann, user = await join_as("ann")
    _, room = await ann.join(f"room:{await lobby_id(client, user['headers'])}")
    ref = await room.push("new_message", {"body": "x" * 4000})
    await room.assert_reply(ref, "ok")


async def test_more_than_10_messages_a_second_are_rate_limited(
    client: httpx.AsyncClient, join_as: Any
) -> None:
    ann, user = await join_as("ann")
    _, room = await ann.join(f"room:{await lobby_id(client, user['headers'])}")
    refs = [await room.push("new_message", {"body": f"m{n}"}) for n in range(11)]
    for ref in refs[:10]:
        await room.assert_reply(ref, "ok", timeout=1)
    await room.assert_reply(refs[10], "error", {"reason": "rate_limited"}, timeout=1)


async def test_typing_reaches_the_others_only(client: httpx.AsyncClient, join_as: Any) -> None:
    ann, user = await join_as("ann")
    bob, _ = await join_as("bob")
    topic = f"room:{await lobby_id(client, user['headers'])}"
    _, ann_room = await ann.join(topic)
    _, bob_room = await bob.join(topic)
    await ann_room.push("typing", {})
    await bob_room.assert_push("typing", {"user": user["user"]})
    await ann_room.refute_push("typing")


async def test_presence_keyed_by_user_id_one_key_for_two_tabs(
    client: httpx.AsyncClient, app: Starlette, sign_up: SignUp, join_as: Any
) -> None:
    ann_tab1, ann = await join_as("ann")
    topic = f"room:{await lobby_id(client, ann['headers'])}"
    await ann_tab1.join(topic)
    state = await ann_tab1.assert_push("presence_state", topic=topic)
    key = str(ann["user"]["id"])
    assert list(state) == [key]
    assert state[key]["metas"] == [{"username": "ann", "online_at": ANY, "phx_ref": ANY}]
    ann_tab2 = await connect(ChatSocket, {"token": ann["token"]}, endpoint=app.state.endpoint)
    await ann_tab2.join(topic)
    state = await ann_tab2.assert_push("presence_state", topic=topic)
    assert list(state) == [key] and len(state[key]["metas"]) == 2
    diff = await ann_tab1.assert_push("presence_diff", topic=topic, timeout=1)
    assert list(diff["joins"]) == [key] and diff["leaves"] == {}


async def test_a_rejoin_with_since_gets_the_messages_it_missed_not_the_typing(
    app: Starlette, client: httpx.AsyncClient, join_as: Any
) -> None:
    ann, user = await join_as("ann")
    bob, _ = await join_as("bob")
    topic = f"room:{await lobby_id(client, user['headers'])}"
    first, _ = await ann.join(topic)
    assert first["messages"] == [] and first["offset"] == 0 and "recovered" not in first
    since = {"offset": first["offset"], "epoch": first["epoch"]}
    await ann.close()  # ann goes away; bob talks and types meanwhile
    _, bob_room = await bob.join(topic)
    for body in ("one", "two"):
        ref = await bob_room.push("new_message", {"body": body})
        await bob_room.assert_reply(ref, "ok")
    ref = await bob_room.push("typing", {})
    await bob_room.assert_reply(ref, "ok")

    back = await connect(ChatSocket, {"token": user["token"]}, endpoint=app.state.endpoint)
    response, room = await back.join(topic, {"since": since})
    assert response == {
        "room": first["room"],  # no "messages": they come next, through the channel
        "recovered": True,
        "offset": 2,
        "epoch": first["epoch"],
    }
    missed = [
        await back.wait_for(lambda m: m.event == "new_message", "a recovered message", 1)
        for _ in range(2)
    ]
    assert [m.payload["body"] for m in missed] == ["one", "two"]
    assert [m.ref for m in missed] == [f"{n}:{first['epoch']}" for n in (1, 2)]
    await room.refute_push("typing", timeout=0.1)

    # a since from another epoch (a restarted server) is not recovered: the page refetches
    response, _ = await back.join(topic, {"since": {"offset": 2, "epoch": "gone"}})
    assert response["recovered"] is False and "messages" not in response
    with pytest.raises(JoinRefused) as refused:
        await back.join(topic, {"since": {"offset": "2"}})
    assert refused.value.response == {"reason": "invalid since"}


async def test_typing_is_not_sent_to_the_typists_other_tabs(
    app: Starlette, client: httpx.AsyncClient, join_as: Any
) -> None:
    ann_tab1, user = await join_as("ann")
    bob, bob_user = await join_as("bob")
    ann_tab2 = await connect(ChatSocket, {"token": user["token"]}, endpoint=app.state.endpoint)
    topic = f"room:{await lobby_id(client, user['headers'])}"
    _, tab1 = await ann_tab1.join(topic)
    _, tab2 = await ann_tab2.join(topic)
    _, bob_room = await bob.join(topic)
    await tab1.push("typing", {})
    await bob_room.assert_push("typing", {"user": user["user"]})
    await tab2.refute_push("typing", timeout=0.1)
    await bob_room.push("typing", {})
    for tab in (tab1, tab2):
        await tab.assert_push("typing", {"user": bob_user["user"]})
