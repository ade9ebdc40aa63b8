"""phoenix_py.testing, used the way a library user would: the contract app's
channels tested in-process, plus what a failing assertion tells the user."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from examples.contract.app import ContractSocket, create_app
from phoenix_py import ConnectionRefused, Endpoint, Socket
from phoenix_py.testing import ANY, JoinRefused, TestSocket, connect

pytestmark = pytest.mark.anyio
SECRET = "t" * 40
SOCKET = ContractSocket
ENDPOINT: Endpoint = create_app().state.endpoint


async def user(name: str | None = None) -> TestSocket:
    return await connect(SOCKET, {"user": name} if name else {}, endpoint=ENDPOINT)


async def test_join_echo_and_errors() -> None:
    socket = await user("ann")
    response, room = await socket.join("room:1")
    assert response == {"topic": "room:1", "user": "ann"}
    ref = await room.push("echo", {"a": [1, 2]})
    assert await room.assert_reply(ref, "ok", {"a": [1, 2]}) == {"a": [1, 2]}
    ref = await room.push("echo_error", {"why": "x"})
    await room.assert_reply(ref, "error", {"why": "x"})
    ref = await room.push("noreply", {})
    await room.refute_reply(ref)
    with pytest.raises(JoinRefused) as refused:
        await socket.join("room:forbidden")
    assert refused.value.response == {"reason": "unauthorized"}
    await socket.close()


async def test_broadcasts_pushes_and_intercepts() -> None:
    ann, bob = await user("ann"), await user("bob")
    _, ann_room = await ann.subscribe_and_join("room:b")
    _, bob_room = await bob.join("room:b")
    ref = await ann_room.push("shout", {"hi": 1})
    await ann_room.assert_reply(ref, "ok", {})
    await ann.assert_broadcast("shout", {"hi": 1})
    await bob_room.assert_push("shout", {"hi": 1})
    await ann_room.assert_push("shout", {"hi": 1})

    await bob_room.push("shout_others", {"only": "ann"})
    await ann_room.assert_push("shout", {"only": "ann"})
    await bob_room.refute_push("shout", {"only": "ann"})

    await bob_room.push("censor", {"text": "rude", "by": "bob"})
    await ann_room.assert_push("censored", {"text": "***", "by": "bob"})

    await ann_room.push("push_me", {"n": 1})
    await ann_room.assert_push("pushed", {"n": 1})
    await bob_room.refute_push("pushed")
    await ann.close()
    await bob.close()


async def test_crash_is_reraised_in_the_test_and_stop_closes() -> None:
    socket = await user()
    _, room = await socket.join("room:c")
    await room.push("crash")
    with pytest.raises(RuntimeError, match="asked this channel to crash"):
        await room.assert_reply("nothing", "ok")
    _, room = await socket.join("room:c2")
    await room.push("crash")
    await room.assert_error()  # the crash is the expected outcome here
    _, room = await socket.join("room:d")
    ref = await room.push("stop")
    await room.assert_reply(ref, "ok")
    await room.assert_close()
    await socket.close()


async def test_failure_messages_show_what_arrived() -> None:
    socket = await user()
    _, room = await socket.join("room:f")
    await room.push("push_me", {"x": 1})
    with pytest.raises(AssertionError) as failure:
        await room.assert_push("pushed", {"x": 2})
    assert "pushed" in str(failure.value) and "{'x': 1}" in str(failure.value)
    assert await room.assert_push("pushed", ANY) == {"x": 1}
    await socket.close()


async def test_presence_state_after_join() -> None:
    socket = await user("zoe")
    await socket.join("presence:lobby", {"name": "Zoe"})
    state = await socket.assert_push("presence_state", topic="presence:lobby")
    assert state["zoe"]["metas"][0]["name"] == "Zoe"
    await socket.close()


async def test_refused_connect() -> None:
    with pytest.raises(ConnectionRefused) as refused:
        await connect(SOCKET, {"token": "bad"}, endpoint=ENDPOINT)
    assert refused.value.status == 403


async def test_jwt_mode_guards_and_expiry() -> None:
    jwt_endpoint: Endpoint = create_app(jwt_secret=SECRET).state.endpoint

    def token(**claims: Any) -> str:
        return jwt.encode(
            {"sub": "ann", "exp": int(time.time()) + 60, **claims}, SECRET, algorithm="HS256"
        )

    with pytest.raises(ConnectionRefused):
        await connect(SOCKET, {}, endpoint=jwt_endpoint)
    with pytest.raises(ConnectionRefused):
        await connect(SOCKET, {"token": token(exp=int(time.time()) - 60)}, endpoint=jwt_endpoint)
    socket = await connect(
        SOCKET, auth_token=token(exp=int(time.time()) + 1), endpoint=jwt_endpoint
    )
    assert socket.assigns["user"] == "ann"
    await socket.join("room:private:ann")
    with pytest.raises(JoinRefused):
        await socket.join("room:private:bob")
    assert await socket.assert_closed(1008, timeout=3) == 1008


async def test_revoked_token_closes_its_sockets_only() -> None:
    from phoenix_py.auth import JWTAuth

    auth = JWTAuth.hs256(SECRET)

    class GuardedSocket(Socket):
        async def connect(self, params: dict[str, Any], connect_info: Any) -> bool:
            return await self.authenticate(auth, params, connect_info)

    endpoint = Endpoint()
    revoked, kept = auth.issue("ann"), auth.issue("ann")
    first = await connect(GuardedSocket, {"token": revoked}, endpoint=endpoint)
    second = await connect(GuardedSocket, {"token": kept}, endpoint=endpoint)
    assert first.assigns["user_id"] == "ann"
    await endpoint.revoke(auth, revoked)
    assert await first.assert_closed(1001) == 1001
    with pytest.raises(AssertionError):
        await second.assert_closed()
    with pytest.raises(ConnectionRefused):
        await connect(GuardedSocket, {"token": revoked}, endpoint=endpoint)


async def test_tokens_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    jwt_endpoint: Endpoint = create_app(jwt_secret=SECRET).state.endpoint
    bad = [
        "not.a.jwt",
        jwt.encode({"sub": "ann", "exp": int(time.time()) - 60}, SECRET, algorithm="HS256"),
        jwt.encode({"sub": "ann", "exp": int(time.time()) + 60}, "w" * 40, algorithm="HS256"),
    ]
    for token in bad:
        with pytest.raises(ConnectionRefused):
            await connect(SOCKET, {"token": token}, endpoint=jwt_endpoint)
    good = jwt.encode({"sub": "ann", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    socket = await connect(SOCKET, auth_token=good, endpoint=jwt_endpoint)
    with pytest.raises(JoinRefused):
        await socket.join("room:private:bob")
    await socket.close()
    logged = caplog.text
    assert "socket refused: token" in logged  # the refusals are logged, by reason only
    for token in [*bad, good, SECRET]:
        assert token not in logged
    # One line per refused connection, per refused join and per close, with its reason.
    lines = [record.getMessage() for record in caplog.records]
    refusals = [line for line in lines if line.startswith("connection refused:")]
    assert refusals == [
        "connection refused: transport=test socket=ContractSocket status=403 "
        "reason=ContractSocket.connect refused"
    ] * len(bad)
    assert [line for line in lines if line.startswith("join refused:")] == [
        "join refused: topic=room:private:bob reason=unauthorized"
    ]
    [closed] = [line for line in lines if line.startswith("socket closed:")]
    assert closed.startswith(
        "socket closed: transport=test id=user_socket:ann code=None reason=closed by the client"
    )
