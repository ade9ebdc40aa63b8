"""The channel runtime in-process: a SocketServer driven with frames and a
transport that records what it would send. No network."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from phoenix_py import (
    Broadcast,
    Channel,
    ChannelReply,
    MemoryAdapter,
    PubSub,
    Socket,
    SocketRef,
    ok,
    reply,
)
from phoenix_py._core.serializer import V2_JSON, Frame
from phoenix_py._socket_server import SocketServer

terminated: list[tuple[str, Any]] = []


class RecordingTransport:
    name = "test"

    def __init__(self) -> None:
        self.frames: list[Any] = []
        self.closed_with: tuple[int, str] | None = None

    def write(self, frame: Frame) -> None:
        if self.closed_with is None:
            self.frames.append(frame.data if frame.binary else json.loads(frame.data))

    def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)


class Lab(Channel):
    intercepts = ("hidden", "shown")

    async def join(self, topic: str, payload: Any) -> dict[str, Any] | None:
        if payload.get("push_in_join"):
            self.push("too_early", {})
        self.assigns["mine"] = True
        self.send_info("after_join")
        return None

    async def handle_info(self, message: Any) -> None:
        if message == "after_join":
            self.push("welcome", {})
        elif isinstance(message, tuple) and message[0] == "late":
            reply(message[1], ok({"late": True}))

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "later":
            ref: SocketRef = self.socket_ref()
            asyncio.get_running_loop().call_later(0.01, self.send_info, ("late", ref))
            return None
        if event == "bad_shape":
            return {"not": "a reply"}  # type: ignore[return-value]
        if event == "stop_with":
            self.stop(payload["reason"])
            return ok({"stopping": True})
        if event == "broadcast":
            await self.broadcast(payload["event"], {})
            return None
        if event == "socket_assigns":
            return ok({"socket": sorted(self.socket.assigns), "channel": sorted(self.assigns)})
        if event == "block":
            await asyncio.sleep(10)
        raise ValueError(event)

    async def handle_out(self, event: str, payload: Any) -> None:
        if event == "shown":
            self.push(event, {"seen_by": self.topic})

    async def terminate(self, reason: str | BaseException) -> None:
        terminated.append((self.topic, reason if isinstance(reason, str) else type(reason)))


class LabSocket(Socket):
    channels = (("lab:*", Lab),)


class SmallMailboxSocket(LabSocket):
    max_mailbox = 3


def new_server(
    pubsub: PubSub | None = None, socket_cls: type[Socket] = LabSocket
) -> tuple[SocketServer, RecordingTransport]:
    socket = socket_cls()
    socket.assigns["user"] = "u"
    transport = RecordingTransport()
    server = SocketServer(socket, V2_JSON, transport, pubsub or PubSub(), max_frame_size=10_000)
    return server, transport


async def send(server: SocketServer, *frame: Any) -> None:
    server.feed(json.dumps(list(frame)), binary=False)
    await server.settled()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_info_after_join_arrives_after_the_join_reply() -> None:
    async def go() -> list[Any]:
        server, transport = new_server()
        await send(server, "1", "1", "lab:1", "phx_join", {})
        await settle()
        return transport.frames

    frames = asyncio.run(go())
    assert [f[3] for f in frames] == ["phx_reply", "welcome"]


def test_push_inside_join_is_a_join_crash() -> None:
    async def go() -> list[Any]:
        server, transport = new_server()
        await send(server, "1", "1", "lab:1", "phx_join", {"push_in_join": True})
        await settle()
        return transport.frames

    assert asyncio.run(go()) == [
        [
            "1",
            "1",
            "lab:1",
            "phx_reply",
            {"response": {"reason": "join crashed"}, "status": "error"},
        ]
    ]


def test_late_reply_through_socket_ref() -> None:
    async def go() -> list[Any]:
        server, transport = new_server()
        await send(server, "1", "1", "lab:1", "phx_join", {})
        await send(server, "1", "7", "lab:1", "later", {})
        await asyncio.sleep(0.05)
        return transport.frames

    frames = asyncio.run(go())
    assert frames[-1] == [
        "1",
        "7",
        "lab:1",
        "phx_reply",
        {"response": {"late": True}, "status": "ok"},
    ]


def test_bad_return_shape_crashes_the_channel_only() -> None:
    async def go() -> list[Any]:
        server, transport = new_server()
        await send(server, "1", "1", "lab:1", "phx_join", {})
        await send(server, "2", "2", "lab:2", "phx_join", {})
        await send(server, "1", "3", "lab:1", "bad_shape", {})
        await settle()
        await send(server, "2", "4", "lab:2", "socket_assigns", {})
        await settle()
        return transport.frames

    frames = asyncio.run(go())
    assert ["1", "1", "lab:1", "phx_error", {"reason": "channel_crash"}] in frames
    # assigns: the channel's copy changed at join; the socket's did not
    assert frames[-1][4]["response"] == {"socket": ["user"], "channel": ["mine", "user"]}


def test_stop_reasons_and_terminate() -> None:
    terminated.clear()

    async def go() -> list[Any]:
        server, transport = new_server()
        for n, topic in enumerate(["lab:normal", "lab:odd", "lab:left", "lab:dup", "lab:open"]):
            await send(server, str(n), str(n), topic, "phx_join", {})
        await send(server, "0", "10", "lab:normal", "stop_with", {"reason": "normal"})
        await send(server, "1", "11", "lab:odd", "stop_with", {"reason": "odd"})
        await send(server, "2", "12", "lab:left", "phx_leave", {})
        await send(server, "9", "9", "lab:dup", "phx_join", {})
        await settle()
        server.connection_lost()
        await settle()
        return transport.frames

    frames = asyncio.run(go())
    assert [
        "0",
        "10",
        "lab:normal",
        "phx_reply",
        {"response": {"stopping": True}, "status": "ok"},
    ] in frames
    assert ["0", "0", "lab:normal", "phx_close", {}] in frames
    assert ["1", "1", "lab:odd", "phx_error", {"reason": "channel_crash"}] in frames
    assert ["2", "2", "lab:left", "phx_close", {}] in frames
    assert ["3", "3", "lab:dup", "phx_close", {}] in frames
    assert sorted(terminated) == sorted(
        [
            ("lab:normal", "normal"),
            ("lab:odd", "odd"),
            ("lab:left", "left"),
            ("lab:dup", "duplicate_join"),
            ("lab:dup", "closed"),
            ("lab:open", "closed"),
        ]
    )


def test_intercepted_events_go_through_handle_out() -> None:
    async def go() -> list[Any]:
        pubsub = PubSub()
        server, transport = new_server(pubsub)
        await send(server, "1", "1", "lab:1", "phx_join", {})
        for event in ["hidden", "shown", "plain"]:
            await send(server, "1", "2", "lab:1", "broadcast", {"event": event})
        await settle()
        return transport.frames

    frames = asyncio.run(go())
    events = [f[3] for f in frames if f[3] not in ("phx_reply", "welcome")]
    # "hidden" is filtered by handle_out. "shown" queues behind the channel's pending
    # messages (as in Phoenix's mailbox), so the fastlane "plain" may pass it.
    assert sorted(events) == ["plain", "shown"]
    shown = next(f for f in frames if f[3] == "shown")
    assert shown == ["1", None, "lab:1", "shown", {"seen_by": "lab:1"}]  # re-pushed: join_ref


def test_full_mailbox_closes_the_socket() -> None:
    async def go() -> tuple[int, str] | None:
        server, transport = new_server(socket_cls=SmallMailboxSocket)
        await send(server, "1", "1", "lab:1", "phx_join", {})
        await send(server, "1", "2", "lab:1", "block", {})
        await settle()
        for ref in range(3, 10):
            await send(server, "1", str(ref), "lab:1", "block", {})
        server.connection_lost()
        return transport.closed_with

    assert asyncio.run(go()) == (1013, "channel mailbox full")


def test_nothing_subscribed_after_the_connection_is_lost() -> None:
    async def go() -> int:
        pubsub = PubSub()
        server, _ = new_server(pubsub)
        for n in range(5):
            await send(server, str(n), str(n), f"lab:{n}", "phx_join", {})
        server.connection_lost()
        await settle()
        return pubsub.subscriber_count()

    assert asyncio.run(go()) == 0


class SlowToConfirm(MemoryAdapter):
    """An adapter whose subscriptions are confirmed when the test says so (as Redis's are)."""

    def __init__(self) -> None:
        super().__init__()
        self.confirm = asyncio.Event()

    async def subscribed(self, topic: str) -> None:
        await self.confirm.wait()


def test_frames_made_while_the_subscription_is_confirmed_follow_the_join_reply() -> None:
    """A broadcast that reaches a channel whose join reply waits on the pubsub
    goes out after that reply, as in Phoenix (never ahead of it)."""

    async def go() -> list[Any]:
        adapter = SlowToConfirm()
        pubsub = PubSub(adapter)
        server, transport = new_server(pubsub)
        server.feed(json.dumps(["1", "1", "lab:1", "phx_join", {}]), binary=False)
        await settle()
        assert pubsub.subscriber_count("lab:1") == 1 and transport.frames == []
        pubsub.local_broadcast("lab:1", Broadcast("lab:1", "early", {"n": 1}))
        adapter.confirm.set()
        await server.settled()
        await settle()
        return transport.frames

    frames = asyncio.run(go())
    assert [f[3] for f in frames] == ["phx_reply", "early", "welcome"]
