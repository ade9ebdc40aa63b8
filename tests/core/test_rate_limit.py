"""Admission control in the protocol's own terms, driven by a fake clock."""

from __future__ import annotations

import json

from phoenix_py._core.rate_limit import TokenBucket
from phoenix_py._core.serializer import V2_JSON
from phoenix_py._core.socket_state import CloseSocket, SendFrame, SocketState, StartJoin
from phoenix_py._core.topics import Router


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def frame(*fields: object) -> bytes:
    return json.dumps(list(fields)).encode()


def test_token_bucket_burst_then_rate() -> None:
    bucket = TokenBucket(3, 2, now=0.0)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.allow(0.5) is True  # one token back after half a second at 2/s
    assert bucket.allow(0.5) is False
    assert [bucket.allow(10.0) for _ in range(4)] == [True, True, True, False]  # capped


def test_joins_over_the_rate_get_rate_limited_replies() -> None:
    clock = Clock()
    state: SocketState[object, str] = SocketState(
        V2_JSON, Router([("room:*", "room")]), join_rate=(2, 1), clock=clock
    )
    outcomes = []
    for n in range(3):
        actions = state.receive(frame(str(n), str(n), f"room:{n}", "phx_join", {}), binary=False)
        outcomes.append(type(actions[0]).__name__)
        if isinstance(actions[0], StartJoin):
            state.join_finished(actions[0], "ok", {}, object())
    assert outcomes == ["StartJoin", "StartJoin", "SendFrame"]
    refused = state.receive(frame("9", "9", "room:9", "phx_join", {}), binary=False)
    assert isinstance(refused[0], SendFrame) and refused[0].limit == "join_rate"
    # ["9","9","room:9","phx_reply",{"response":{"reason":"rate_limited"},"status":"error"}]
    assert json.loads(refused[0].frame.data) == [
        "9",
        "9",
        "room:9",
        "phx_reply",
        {"response": {"reason": "rate_limited"}, "status": "error"},
    ]
    clock.now += 1.0
    assert isinstance(
        state.receive(frame("10", "10", "room:10", "phx_join", {}), binary=False)[0], StartJoin
    )


def test_a_message_flood_closes_the_socket_with_1008() -> None:
    clock = Clock()
    state: SocketState[object, str] = SocketState(
        V2_JSON, Router([]), message_rate=(5, 5), clock=clock
    )
    heartbeat = frame(None, "1", "phoenix", "heartbeat", {})
    for _ in range(5):
        assert isinstance(state.receive(heartbeat, binary=False)[0], SendFrame)
    actions = state.receive(heartbeat, binary=False)
    assert actions == [CloseSocket(1008, "too many messages per second", limit="message_rate")]
    assert state.receive(heartbeat, binary=False) == []


def test_steady_traffic_under_the_rate_is_never_limited() -> None:
    clock = Clock()
    state: SocketState[object, str] = SocketState(
        V2_JSON, Router([]), message_rate=(10, 10), clock=clock
    )
    heartbeat = frame(None, "1", "phoenix", "heartbeat", {})
    for _ in range(1_000):
        clock.now += 0.1
        assert isinstance(state.receive(heartbeat, binary=False)[0], SendFrame)
