"""Hypothesis-generated LongPoll POST bodies against a real server: none crashes it
(every answer is one of the documented ones), and once the sessions expire
nothing is left behind (sockets, sessions, subscriptions, tasks)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from examples.contract.app import create_app
from phoenix_py import Endpoint, LongPollOptions

from .servers import ThreadedServer, serve
from .test_fuzz_frames import binary, json_value, topics

WINDOW = 0.3
EXAMPLES = 300

events = st.sampled_from(
    ["phx_join", "phx_leave", "heartbeat", "echo", "shout", "push_me", "censor", "crash", "stop"]
) | st.text(max_size=8)
refs = st.none() | st.sampled_from(["1", "2"]) | st.integers()
well_formed = st.builds(
    lambda j, r, t, e, p: json.dumps([j, r, t, e, p]).encode(),
    refs,
    refs,
    topics,
    events,
    json_value,
)
lines = well_formed | st.text(max_size=30).map(str.encode) | binary.map(base64.b64encode)
ndjson = st.builds(
    lambda parts, sep: sep.join(parts),
    st.lists(lines, min_size=1, max_size=8),
    st.sampled_from([b"\n", b"\r\n"]),
)
bodies = ndjson | st.binary(max_size=200)
NDJSON = "application/x-ndjson"
content_types = st.sampled_from([NDJSON, "application/json", "", "text/plain"])


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with serve(create_app(longpoll=LongPollOptions(window=WINDOW))) as running:
        yield running


def test_junk_posts_crash_nothing_and_leak_nothing(server: ThreadedServer) -> None:
    endpoint: Endpoint = server.app.state.endpoint
    baseline_tasks = server.task_count()
    baseline_subscriptions = endpoint.pubsub.subscriber_count()  # tracker and LongPoll router
    url = f"http://127.0.0.1:{server.port}/socket/longpoll"
    http = httpx.Client(timeout=10)
    statuses: set[object] = set()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=bodies, content_type=content_types, vsn=st.sampled_from(["1.0.0", "2.0.0"]))
    # One of each answer, whatever hypothesis draws: accepted, bad base64, malformed frame.
    @example(body=b'[null,"1","phoenix","heartbeat",{}]', content_type=NDJSON, vsn="2.0.0")
    @example(body=b"!not base64!", content_type=NDJSON, vsn="2.0.0")
    @example(body=b"[1,2]", content_type="application/json", vsn="2.0.0")
    def one_session(body: bytes, content_type: str, vsn: str) -> None:
        token = http.get(url, params={"vsn": vsn}).json()["token"]
        response = http.post(
            url,
            params={"vsn": vsn, "token": token},
            content=body,
            headers={"content-type": content_type},
        )
        if response.status_code == 400:
            statuses.add(400)
            return
        assert response.status_code == 200, response.text
        assert response.json()["status"] in (200, 408, 410), response.text
        statuses.add(response.json()["status"])

    one_session()
    assert {200, 400, 410} <= statuses  # accepted, bad base64, malformed frame

    deadline = time.monotonic() + WINDOW * 1.5 + 5
    while time.monotonic() < deadline and (
        endpoint.socket_count or endpoint.pubsub.subscriber_count() != baseline_subscriptions
    ):
        time.sleep(0.05)
    assert endpoint.socket_count == 0
    assert endpoint._longpoll_sessions is not None and len(endpoint._longpoll_sessions) == 0
    assert endpoint.pubsub.subscriber_count() == baseline_subscriptions
    while server.task_count() > baseline_tasks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.task_count() <= baseline_tasks

    # The server still answers.
    token = http.get(url, params={"vsn": "2.0.0"}).json()["token"]
    frame = '[null,"1","phoenix","heartbeat",{}]'
    assert http.post(url, params={"vsn": "2.0.0", "token": token}, content=frame).json() == {
        "status": 200
    }
    assert http.get(url, params={"vsn": "2.0.0", "token": token}).json()["status"] == 200
