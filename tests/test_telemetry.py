"""phoenix_py.telemetry: the attach API, and the library's events from traffic
through the in-process toolkit (the transports' own events are in
tests/integration/test_telemetry_ws.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from phoenix_py import (
    Channel,
    ChannelReply,
    ConnectInfo,
    ConnectionRefused,
    Endpoint,
    Socket,
    error,
    ok,
    telemetry,
)
from phoenix_py.errors import UsageError
from phoenix_py.presence import Presence
from phoenix_py.testing import JoinRefused, connect

from .waiting import eventually

pytestmark = pytest.mark.anyio

Seen = tuple[telemetry.EventName, Mapping[str, Any], Mapping[str, Any]]

LIBRARY_EVENTS = [
    value.name for value in vars(telemetry).values() if isinstance(value, telemetry.Event)
] + [
    event.name
    for value in vars(telemetry).values()
    if isinstance(value, telemetry.Span)
    for event in (value.start, value.stop, value.exception)
]


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Seen] = []

    def __call__(
        self,
        name: telemetry.EventName,
        measurements: Mapping[str, Any],
        metadata: Mapping[str, Any],
        config: Any,
    ) -> None:
        self.seen.append((name, measurements, metadata))

    def of(self, event: telemetry.Event) -> list[Seen]:
        return [seen for seen in self.seen if seen[0] == event.name]


@pytest.fixture()
def recorder() -> Iterator[Recorder]:
    recording = Recorder()
    telemetry.attach("test-recorder", LIBRARY_EVENTS, recording)
    yield recording
    telemetry.detach("test-recorder")


# The API


def test_attach_calls_the_handler_with_the_config_until_detached() -> None:
    calls: list[Any] = []
    custom = telemetry.event("my_app", "thing")

    def handler(name: Any, measurements: Any, metadata: Any, config: Any) -> None:
        calls.append((name, dict(measurements), dict(metadata), config))

    telemetry.attach("h1", [("my_app", "thing")], handler, config="cfg")
    assert telemetry.handlers(("my_app", "thing")) == ["h1"]
    telemetry.execute(("my_app", "thing"), {"n": 1}, {"who": "me"})
    assert calls == [(("my_app", "thing"), {"n": 1}, {"who": "me"}, "cfg")]
    assert telemetry.detach("h1") and not telemetry.detach("h1")
    assert custom.handlers == ()
    telemetry.execute(("my_app", "thing"), {"n": 2})
    assert len(calls) == 1


def test_bad_names_and_duplicate_ids_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        telemetry.event()
    with pytest.raises(UsageError):
        telemetry.event("phoenix", "")
    with pytest.raises(UsageError):
        telemetry.attach("none", [], lambda *_: None)
    telemetry.attach("dup", [("my_app", "dup")], lambda *_: None)
    try:
        with pytest.raises(UsageError, match="attached already"):
            telemetry.attach("dup", [("my_app", "dup")], lambda *_: None)
    finally:
        telemetry.detach("dup")


def test_a_handler_that_raises_is_logged_and_detached_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def broken(*_: Any) -> None:
        raise RuntimeError("boom")

    telemetry.attach("broken", [("my_app", "fails")], broken)
    telemetry.attach("fine", [("my_app", "fails")], lambda *_: calls.append("fine"))
    with caplog.at_level(logging.ERROR, "phoenix_py.telemetry"):
        telemetry.execute(("my_app", "fails"), {})
        telemetry.execute(("my_app", "fails"), {})
    assert calls == ["fine", "fine"]
    assert telemetry.handlers(("my_app", "fails")) == ["fine"]
    assert "'broken' failed" in caplog.text
    telemetry.detach("fine")


def test_a_span_emits_start_and_stop_or_exception_with_a_duration() -> None:
    recording = Recorder()
    names = [("my_app", "work", part) for part in ("start", "stop", "exception")]
    telemetry.attach("span", names, recording)
    try:
        with telemetry.span(("my_app", "work"), {"job": 1}) as extra:
            extra["result"] = "done"
        with pytest.raises(ValueError), telemetry.span(("my_app", "work"), {"job": 2}):
            raise ValueError("bad")
    finally:
        telemetry.detach("span")
    assert [(seen[0][-1], seen[2]["job"]) for seen in recording.seen] == [
        ("start", 1),
        ("stop", 1),
        ("start", 2),
        ("exception", 2),
    ]
    assert recording.seen[1][2]["result"] == "done"
    assert recording.seen[1][1]["duration"] >= 0 and recording.seen[0][1]["system_time"] > 0
    assert recording.seen[3][2]["kind"] == "ValueError"


def test_the_library_events_have_phoenixs_names_where_phoenix_has_them() -> None:
    assert telemetry.SOCKET_CONNECTED.name == ("phoenix", "socket_connected")
    assert telemetry.CHANNEL_JOINED.name == ("phoenix", "channel_joined")
    assert telemetry.CHANNEL_HANDLED_IN.name == ("phoenix", "channel_handled_in")
    assert telemetry.SOCKET_DRAIN.name == ("phoenix", "socket_drain")
    assert telemetry.LIVE_VIEW_MOUNT.stop.name == ("phoenix", "live_view", "mount", "stop")
    assert telemetry.LIVE_VIEW_RENDER.start.name == ("phoenix", "live_view", "render", "start")


# From traffic

endpoint = Endpoint()
presence = Presence(endpoint.pubsub)


class RoomChannel(Channel):
    async def join(self, topic: str, payload: Any) -> ChannelReply | dict[str, Any]:
        if topic == "room:crash":
            raise RuntimeError("join crashed on purpose")
        if topic == "room:secret":
            return error({"reason": "unauthorized"})
        if payload.get("track"):
            self.send_info("track")
        return {}

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "shout":
            await self.broadcast("shout", payload)
            return None
        self.push("echo", payload)
        return ok({"echoed": True})

    async def handle_info(self, message: Any) -> None:
        presence.track(self, self.assigns["user"], {})


class UserSocket(Socket):
    channels = (("room:*", RoomChannel),)

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        self.assigns["user"] = params.get("user", "")
        return bool(self.assigns["user"])


async def test_a_sockets_life_emits_its_events_in_order(recorder: Recorder) -> None:
    ann = await connect(UserSocket, {"user": "ann"}, endpoint=endpoint)
    [(_, measured, connected)] = recorder.of(telemetry.SOCKET_CONNECTED)
    assert connected["result"] == "ok" and connected["transport"] == "test"
    assert connected["user_socket"] is UserSocket and measured["duration"] > 0

    _, room = await ann.join("room:lobby")
    with pytest.raises(JoinRefused):
        await ann.join("room:secret")
    with pytest.raises(RuntimeError, match="on purpose"):  # the toolkit raises crashes again
        await ann.join("room:crash")
    joins = [
        (seen[2]["topic"], seen[2]["result"]) for seen in recorder.of(telemetry.CHANNEL_JOINED)
    ]
    assert joins == [("room:lobby", "ok"), ("room:secret", "error"), ("room:crash", "crash")]

    ref = await room.push("echo", {"n": 1})
    await room.assert_reply(ref, "ok", {"echoed": True})
    [(_, handled_time, handled)] = recorder.of(telemetry.CHANNEL_HANDLED_IN)
    assert handled["event"] == "echo" and handled["channel"] is RoomChannel
    assert handled_time["duration"] > 0
    out = [(seen[2]["kind"], seen[2]["topic"]) for seen in recorder.of(telemetry.MESSAGE_OUT)]
    assert out == [("push", "room:lobby"), ("reply", "room:lobby")]
    assert all(seen[1]["bytes"] > 0 for seen in recorder.of(telemetry.MESSAGE_OUT))
    assert len(recorder.of(telemetry.MESSAGE_IN)) == 4  # three joins and the push

    bob = await connect(UserSocket, {"user": "bob"}, endpoint=endpoint)
    _, bob_room = await bob.join("room:lobby")
    await room.push("shout", {"hi": 1})
    await bob_room.assert_push("shout", {"hi": 1})
    [(_, fanned, broadcast)] = recorder.of(telemetry.BROADCAST)
    assert broadcast == {"topic": "room:lobby", "event": "shout"}
    assert fanned["subscribers"] == 2 and fanned["duration"] > 0

    await room.assert_reply(await room.leave(), "ok")
    await ann.close()
    await bob.close()
    left = [(seen[2]["topic"], seen[2]["reason"]) for seen in recorder.of(telemetry.CHANNEL_LEFT)]
    assert ("room:lobby", "left") in left and ("room:lobby", "closed") in left
    closed = recorder.of(telemetry.SOCKET_CLOSED)
    assert len(closed) == 2 and all(seen[1]["duration"] > 0 for seen in closed)


async def test_a_refused_connection_and_a_limit_are_reported(recorder: Recorder) -> None:
    with pytest.raises(ConnectionRefused):
        await connect(UserSocket, {}, endpoint=endpoint)
    [(_, _, refused)] = recorder.of(telemetry.SOCKET_CONNECTED)
    assert refused["result"] == "error"

    full = Endpoint(max_connections=1)
    first = await connect(UserSocket, {"user": "ann"}, endpoint=full)
    with pytest.raises(ConnectionRefused):
        await connect(UserSocket, {"user": "bob"}, endpoint=full)
    [(_, _, limit)] = recorder.of(telemetry.LIMIT_REACHED)
    assert limit == {"limit": "max_connections", "transport": "test"}
    await first.close()


async def test_presence_diffs_report_the_topics_size(recorder: Recorder) -> None:
    sockets = [await connect(UserSocket, {"user": name}, endpoint=endpoint) for name in "abc"]
    for count, socket in enumerate(sockets, 1):
        await socket.join("room:presence", {"track": True})
        await eventually(lambda n=count: len(recorder.of(telemetry.PRESENCE_DIFF)) == n)
    for socket in sockets:
        await socket.close()
    await eventually(lambda: len(recorder.of(telemetry.PRESENCE_DIFF)) == 6)
    sizes = [
        (seen[1]["joins"], seen[1]["leaves"], seen[1]["size"])
        for seen in recorder.of(telemetry.PRESENCE_DIFF)
    ]
    assert sizes[:3] == [(1, 0, 1), (1, 0, 2), (1, 0, 3)]
    assert sizes[-1] == (0, 1, 0)


def test_an_event_nobody_attached_to_has_no_handlers() -> None:
    # The call sites test ``handlers`` before they measure or build metadata.
    assert telemetry.BROADCAST.handlers == () and not telemetry.LIVE_VIEW_RENDER.listened


async def test_live_views_report_phoenixs_spans(recorder: Recorder) -> None:
    from examples.docs.live import Counter, Gallery, Stars
    from examples.docs.live import live as docs_live
    from phoenix_py.live.testing import live

    view = await live(docs_live, "/")
    await view.element("#inc").click()
    gallery = await live(docs_live, "/gallery")
    await gallery.element("#star-sea").click()

    def spans(span: telemetry.Span) -> list[tuple[str, Mapping[str, Any]]]:
        """The span's events of the live views (the dead renders' are checked below)."""
        return [
            (seen[0][-1], seen[2])
            for seen in recorder.seen
            if seen[0][:-1] == span.prefix and seen[2].get("connected", True)
        ]

    dead = [
        (seen[0][2], seen[0][-1], seen[2]["view"])
        for seen in recorder.seen
        if seen[0][:2] == ("phoenix", "live_view") and seen[2].get("connected") is False
    ]
    assert dead == [
        (callback, part, view)
        for view in (Counter, Gallery)
        for callback in ("mount", "handle_params", "render")
        for part in ("start", "stop")
    ]

    assert [(part, meta["view"]) for part, meta in spans(telemetry.LIVE_VIEW_MOUNT)] == [
        ("start", Counter),
        ("stop", Counter),
        ("start", Gallery),
        ("stop", Gallery),
    ]
    assert spans(telemetry.LIVE_VIEW_MOUNT)[0][1]["uri"].endswith("/")
    assert [part for part, _ in spans(telemetry.LIVE_VIEW_HANDLE_PARAMS)] == ["start", "stop"] * 2
    [(_, clicked), _] = spans(telemetry.LIVE_VIEW_HANDLE_EVENT)
    assert clicked["event"] == "inc" and clicked["params"]["by"] == "1"
    [(_, starred), (_, stopped)] = spans(telemetry.LIVE_COMPONENT_HANDLE_EVENT)
    assert starred["component"] is Stars and stopped["event"] == "star"
    renders = [meta for part, meta in spans(telemetry.LIVE_VIEW_RENDER) if part == "stop"]
    assert [(meta["view"], meta["full"]) for meta in renders] == [
        (Counter, True),
        (Counter, False),
        (Gallery, True),
        (Gallery, False),
    ]
    render_stops = [
        seen[1] for seen in recorder.seen if seen[0] == telemetry.LIVE_VIEW_RENDER.stop.name
    ]
    assert all(measured["duration"] > 0 for measured in render_stops)


async def test_a_live_callback_that_raises_reports_an_exception_span(recorder: Recorder) -> None:
    from examples.contract.app import create_app
    from phoenix_py.live.testing import live

    view = await live(create_app().state.live, "/lv/crash")
    with pytest.raises(RuntimeError, match="asked this view to crash"):
        await view.element("#boom").click()
    [(_, _, failed)] = [
        seen for seen in recorder.seen if seen[0] == telemetry.LIVE_VIEW_HANDLE_EVENT.exception.name
    ]
    assert failed["event"] == "boom" and failed["kind"] == "RuntimeError"


async def test_a_drain_reports_each_batch(recorder: Recorder) -> None:
    draining = Endpoint()
    sockets = [await connect(UserSocket, {"user": name}, endpoint=draining) for name in "abc"]
    await draining.drain(batch_size=2, interval=0)
    batches = [dict(seen[1]) for seen in recorder.of(telemetry.SOCKET_DRAIN)]
    assert batches == [
        {"count": 2, "total": 3, "index": 0, "rounds": 2},
        {"count": 1, "total": 3, "index": 1, "rounds": 2},
    ]
    for socket in sockets:
        await socket.assert_closed(1012)


async def test_a_client_gone_before_the_accept_is_a_closed_socket_too(recorder: Recorder) -> None:
    """Every socket_connected that said ok is followed by one socket_closed
    (a gauge fed by the two stays right)."""
    from phoenix_py._ws_asgi import ClientDisconnected

    gone = Endpoint()
    app = gone.socket_app(UserSocket, check_origin=False)
    scope = {
        "type": "websocket",
        "path": "/socket/websocket",
        "query_string": b"vsn=2.0.0&user=ann",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 4000),
        "scheme": "ws",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.accept":
            raise ClientDisconnected("the client left during connect")

    await app(scope, receive, send)
    [(_, _, connected)] = recorder.of(telemetry.SOCKET_CONNECTED)
    [(_, _, closed)] = recorder.of(telemetry.SOCKET_CLOSED)
    assert connected["result"] == "ok" and closed["transport"] == "websocket"
    assert closed["code"] is None and closed["reason"] == "closed by the client before the accept"
    assert gone.socket_count == 0
