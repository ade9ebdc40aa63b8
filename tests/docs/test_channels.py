"""examples/docs/channels.py does what docs/channels.md says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from examples.docs import channels
from examples.docs.channels import UserSocket
from phoenix_py import ConnectionRefused, Endpoint, Reply
from phoenix_py._core.serializer import V2_JSON
from phoenix_py.testing import JoinRefused, TestSocket, connect

pytestmark = pytest.mark.anyio


async def alice(endpoint: Endpoint | None = None) -> TestSocket:
    return await connect(UserSocket, {"token": "secret-token"}, endpoint=endpoint)


async def bob(endpoint: Endpoint | None = None) -> TestSocket:
    return await connect(UserSocket, {"token": "token-of-bob"}, endpoint=endpoint)


async def test_the_socket_reads_the_auth_token_or_the_token_param() -> None:
    by_param = await alice()
    assert by_param.assigns == {"user": "alice"}
    assert by_param.socket.socket_id == "user_socket:alice"
    by_auth_token = await connect(UserSocket, auth_token="token-of-bob")
    assert by_auth_token.assigns == {"user": "bob"}
    for params in ({}, {"token": "forged"}, {"token": {"nested": "1"}}):
        with pytest.raises(ConnectionRefused) as refused:
            await connect(UserSocket, params)
        assert refused.value.status == 403


async def test_join_echo_push_and_refusal() -> None:
    socket = await alice()
    response, room = await socket.join("room:lobby")
    assert response == {"topic": "room:lobby", "user": "alice"}
    ref = await room.push("echo", {"a": [1, 2]})
    await room.assert_reply(ref, "ok", {"a": [1, 2]})
    ref = await room.push("push_me", {"n": 1})
    await room.assert_push("pushed", {"n": 1})
    await room.assert_reply(ref, "ok", {})
    with pytest.raises(JoinRefused) as refused:
        await socket.join("room:forbidden")
    assert refused.value.response == {"reason": "unauthorized"}


async def test_a_broadcast_reaches_the_sender_before_the_reply() -> None:
    endpoint = Endpoint()
    ann, bo = await alice(endpoint), await bob(endpoint)
    _, ann_room = await ann.join("room:1")
    _, bob_room = await bo.join("room:1")
    ref = await ann_room.push("shout", {"hi": 1})
    await ann_room.assert_reply(ref, "ok", {})
    await bob_room.assert_push("shout", {"hi": 1})
    events = [(m.event, m.ref) for m in ann.received() if m.topic == "room:1"]
    assert events[-2:] == [("shout", None), ("phx_reply", ref)]


async def test_an_intercepted_broadcast_goes_through_handle_out() -> None:
    endpoint = Endpoint()
    ann, bo = await alice(endpoint), await bob(endpoint)
    _, ann_room = await ann.join("room:2")
    _, bob_room = await bo.join("room:2")
    await bob_room.push("censor", {"text": "rude", "by": "bob"})
    await ann_room.assert_push("censored", {"text": "***", "by": "bob"})
    await bob_room.assert_push("censored", {"text": "***", "by": "bob"})
    pushed = [m for m in ann.received() if m.event == "censored"]
    assert pushed[0].join_ref == ann_room.join_ref  # a push of the channel, not the fastlane


async def test_an_unknown_event_crashes_that_channel_only() -> None:
    socket = await alice()
    _, room = await socket.join("room:a")
    _, other = await socket.join("room:b")
    await room.push("dance", {})
    await room.assert_error()
    ref = await other.push("echo", {"still": "here"})
    await other.assert_reply(ref, "ok", {"still": "here"})


def test_the_replies_are_what_their_comments_say() -> None:
    source = Path(channels.__file__).read_text(encoding="utf-8")
    comments = re.findall(r"^    \w.*\),  # (\{.*\})$", source.split("REPLIES = [")[1], re.M)
    assert len(comments) == len(channels.REPLIES) == 4
    for result, comment in zip(channels.REPLIES, comments, strict=True):
        frame = V2_JSON.encode_reply(Reply("room:1", result.status, result.payload, "2", "1"))
        assert json.loads(frame.data)[4] == json.loads(comment)


async def test_a_late_reply() -> None:
    socket = await alice()
    _, jobs = await socket.join("jobs:1")
    first = await jobs.push("run", {"n": 1})
    second = await jobs.push("run", {"n": 2})
    await jobs.refute_reply(first, timeout=0.001)  # not yet: the work takes 10 ms
    await jobs.assert_reply(first, "ok", {"result": {"n": 1}}, timeout=1)
    await jobs.assert_reply(second, "ok", {"result": {"n": 2}}, timeout=1)
