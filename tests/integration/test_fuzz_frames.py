"""10,000 hypothesis-generated frames against a real server: none crashes it,
and when the clients are gone nothing is left behind (sockets, subscriptions,
tasks)."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from examples.contract.app import create_app
from phoenix_py import Endpoint
from phoenix_py._channel_server import ChannelServer
from phoenix_py._socket_server import SocketServer

from .servers import ThreadedServer, serve

FRAMES_PER_EXAMPLE = 50
EXAMPLES = 200  # 200 x 50 = 10,000 frames

json_leaf = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
topics = st.sampled_from(
    ["room:a", "room:b", "room:forbidden", "presence:p", "bench:1", "phoenix", "nope", ""]
) | st.text(max_size=12)
events = st.sampled_from(
    [
        "phx_join",
        "phx_leave",
        "heartbeat",
        "echo",
        "echo_error",
        "noreply",
        "shout",
        "shout_others",
        "push_me",
        "censor",
        "crash",
        "stop",
        "update",
        "broadcast",
        "binary_echo",
    ]
) | st.text(max_size=12)
refs = st.none() | st.sampled_from(["1", "2", "3"]) | st.text(max_size=4) | st.integers()
payloads = (
    st.dictionaries(st.sampled_from(["crash", "text", "name", "ms", "x"]), json_value, max_size=3)
    | json_value
)

well_formed = st.builds(
    lambda j, r, t, e, p: json.dumps([j, r, t, e, p]), refs, refs, topics, events, payloads
)
junk_text = st.text(max_size=40) | st.builds(json.dumps, json_value)
binary = st.builds(
    lambda kind, fields, payload: (
        bytes([kind, *(len(f) for f in fields)]) + b"".join(fields) + payload
    ),
    st.integers(0, 3),
    st.lists(
        st.sampled_from([b"", b"1", b"room:a", b"binary_echo", b"\xff"]), min_size=4, max_size=4
    ),
    st.binary(max_size=8),
) | st.binary(max_size=30)
frames = st.lists(
    well_formed | junk_text | binary, min_size=FRAMES_PER_EXAMPLE, max_size=FRAMES_PER_EXAMPLE
)


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with serve(create_app()) as running:
        yield running


def wait_until_idle(endpoint: Endpoint, subscriptions: int) -> tuple[int, int]:
    """(sockets, subscriptions) once back to (0, ``subscriptions``), or after 5 s."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if endpoint.socket_count == 0 and endpoint.pubsub.subscriber_count() == subscriptions:
            break
        time.sleep(0.02)
    return endpoint.socket_count, endpoint.pubsub.subscriber_count()


async def send_all(url: str, batch: list[Any]) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        for frame in batch:
            try:
                await ws.send(frame)
            except ConnectionClosed:
                return  # a malformed frame closed it: the documented answer
        # a heartbeat, then drain until its reply or the close, so the server saw everything
        try:
            await ws.send(json.dumps([None, "final", "phoenix", "heartbeat", {}]))
            while True:
                raw = await asyncio.wait_for(ws.recv(), 5)
                if isinstance(raw, str) and '"final"' in raw:
                    return
        except ConnectionClosed as exc:
            assert exc.rcvd is None or exc.rcvd.code in (1000, 1009, 1011), exc


def test_ten_thousand_frames_crash_nothing_and_leak_nothing(server: ThreadedServer) -> None:
    endpoint: Endpoint = server.app.state.endpoint
    baseline_tasks = server.task_count()
    baseline_subscriptions = endpoint.pubsub.subscriber_count()  # the presence tracker's
    sent = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(batch=frames)
    def one_connection(batch: list[Any]) -> None:
        nonlocal sent
        asyncio.run(send_all(server.url(), batch))
        sent += len(batch)
        assert wait_until_idle(endpoint, baseline_subscriptions) == (0, baseline_subscriptions)

    one_connection()
    assert sent >= 10_000
    assert server.app.state.presence.list("presence:p") == {}
    # Channel terminate tasks and writers finish shortly after their socket.
    deadline = time.monotonic() + 5
    while server.task_count() > baseline_tasks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.task_count() <= baseline_tasks
    # No connection or channel object survives its connection (memory does not leak with them).
    gc.collect()
    survivors = [
        o
        for o in gc.get_objects()
        if (isinstance(o, SocketServer) and o.pubsub is endpoint.pubsub)
        or (isinstance(o, ChannelServer) and o.host.pubsub is endpoint.pubsub)
    ]
    assert survivors == []

    # The server still answers.
    async def heartbeat() -> Any:
        async with websockets.connect(server.url()) as ws:
            await ws.send(json.dumps([None, "1", "phoenix", "heartbeat", {}]))
            return json.loads(await ws.recv())

    assert asyncio.run(heartbeat())[4] == {"response": {}, "status": "ok"}
