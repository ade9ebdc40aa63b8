"""Protocol adapters: one client connection speaking Phoenix V2 JSON or Socket.IO 5.

Each adapter is a picows ``WSListener`` that does its protocol's handshake and
join, publishes, answers the server's keep-alive, and hands every ``msg``
broadcast (``{"seq": n, "t": ns, ...}``) to a ``Recorder``. Frames are built by
hand from bytes and parsed with msgspec so that the load generator spends as
little CPU per delivery as it can.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

import msgspec
from picows import WSFrame, WSListener, WSMsgType, WSTransport


class Sample(msgspec.Struct):
    """The part of a benchmark payload a receiver reads (the padding is skipped)."""

    seq: int
    t: int


# Called with (seq, publish time in monotonic ns) for each ``msg`` received.
Recorder = Callable[[int, int], None]

_decode_sample = msgspec.json.Decoder(Sample).decode


def payload(seq: int, sent_ns: int, pad: bytes) -> bytes:
    """A benchmark payload as JSON bytes: the same for every protocol."""
    return b'{"seq":%d,"t":%d,"pad":"%s"}' % (seq, sent_ns, pad)


class ProtocolClosed(Exception):
    """The server closed the connection or refused the join."""


class KeepAlive:
    """What a worker's connections did to stay alive, counted since the last ``reset``:
    the client keep-alives they sent (phoenix.js heartbeats, Engine.IO pongs) and
    the WebSocket pings the server sent them (answered with a pong, as browsers do)."""

    __slots__ = ("pings", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.pings = 0

    def reset(self) -> None:
        self.sent = self.pings = 0


class BenchConnection(WSListener):
    """One client socket of the load generator."""

    name: ClassVar[str]
    #: Shared by a worker's connections (one worker per process).
    keepalive: ClassVar[KeepAlive] = KeepAlive()

    def __init__(self, record: Recorder) -> None:
        self.record = record
        self.transport: WSTransport | None = None
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()

    @staticmethod
    def url(base: str) -> str:
        """The WebSocket URL to connect to, from the server's base URL."""
        raise NotImplementedError

    async def join(self, topic: str) -> None:
        raise NotImplementedError

    def publish(self, topic: str, body: bytes) -> None:
        raise NotImplementedError

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.closed.done():
            self.transport.send(WSMsgType.TEXT, data)

    def close(self) -> None:
        if self.transport is not None and not self.closed.done():
            self.transport.send_close()
            self.transport.disconnect()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._fail("disconnected")

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT:
            self.on_text(frame.get_payload_as_bytes())
        elif kind is WSMsgType.PING:
            # Answered here rather than by picows (enable_auto_pong=False) to count them.
            self.keepalive.pings += 1
            transport.send_pong(frame.get_payload_as_bytes())
        elif kind is WSMsgType.CLOSE:
            self._fail(f"closed by server ({frame.get_close_code().value})")
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_text(self, data: bytes) -> None:
        raise NotImplementedError

    def _fail(self, reason: str) -> None:
        if not self.closed.done():
            self.closed.set_result(reason)
        if not self.ready.done():
            self.ready.set_exception(ProtocolClosed(reason))


# Phoenix V2 JSON: [join_ref, ref, topic, event, payload]
_decode_phoenix = msgspec.json.Decoder(tuple[str | None, str | None, str, str, msgspec.Raw]).decode
_decode_reply = msgspec.json.Decoder(dict[str, Any]).decode


class PhoenixConnection(BenchConnection):
    """A Phoenix V2 JSON client, as phoenix.js 1.7/1.8 behaves on the wire."""

    name = "phoenix"
    #: phoenix.js sends a heartbeat every 30 s; tests shorten it.
    heartbeat_seconds: ClassVar[float] = 30.0

    def __init__(self, record: Recorder) -> None:
        super().__init__(record)
        self._ref = 0
        self._join_refs: dict[str, bytes] = {}
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._heartbeat: asyncio.TimerHandle | None = None

    @staticmethod
    def url(base: str) -> str:
        return base.rstrip("/") + "/websocket?vsn=2.0.0"

    def _next_ref(self) -> str:
        self._ref += 1
        return str(self._ref)

    def on_ws_connected(self, transport: WSTransport) -> None:
        super().on_ws_connected(transport)
        self.ready.set_result(None)
        self._schedule_heartbeat()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(ProtocolClosed("disconnected before the join reply"))
        super().on_ws_disconnected(transport)

    def _schedule_heartbeat(self, delay: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        if delay is None:
            delay = self.heartbeat_seconds
        self._heartbeat = loop.call_later(delay, self._send_heartbeat)

    def rephase_heartbeat(self, delay: float) -> None:
        """Send the next heartbeat in ``delay`` seconds, then every ``heartbeat_seconds``
        (phoenix.js times them from the socket's open; this moves the phase)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if not self.closed.done():
            self._schedule_heartbeat(max(0.0, delay))

    def _send_heartbeat(self) -> None:
        ref = self._next_ref().encode()
        self.send(b'[null,"%s","phoenix","heartbeat",{}]' % ref)
        self.keepalive.sent += 1
        self._schedule_heartbeat()

    async def join(self, topic: str) -> None:
        ref = self._next_ref()
        self._join_refs[topic] = ref.encode()
        waiter = asyncio.get_running_loop().create_future()
        self._pending[ref] = waiter
        self.send(b'["%s","%s","%s","phx_join",{}]' % (ref.encode(), ref.encode(), topic.encode()))
        await waiter

    def publish(self, topic: str, body: bytes) -> None:
        ref = self._next_ref().encode()
        self.send(
            b'["%s","%s","%s","publish",%s]' % (self._join_refs[topic], ref, topic.encode(), body)
        )

    def on_text(self, data: bytes) -> None:
        _join_ref, ref, _topic, event, body = _decode_phoenix(data)
        if event == "msg":
            sample = _decode_sample(body)
            self.record(sample.seq, sample.t)
        elif event == "phx_reply" and ref is not None:
            waiter = self._pending.pop(ref, None)
            if waiter is not None and not waiter.done():
                reply = _decode_reply(body)
                if reply.get("status") == "ok":
                    waiter.set_result(None)
                else:
                    waiter.set_exception(ProtocolClosed(f"join refused: {reply!r}"))


# Socket.IO event packet after the "42" prefix: ["event", data]
_decode_event = msgspec.json.Decoder(tuple[str, msgspec.Raw]).decode


class SocketIOConnection(BenchConnection):
    """An Engine.IO 4 / Socket.IO 5 client on a plain WebSocket (no polling upgrade)."""

    name = "socketio"

    def __init__(self, record: Recorder) -> None:
        super().__init__(record)
        self._ack_id = 0
        self._pending: dict[int, asyncio.Future[None]] = {}

    @staticmethod
    def url(base: str) -> str:
        return base.rstrip("/") + "/?EIO=4&transport=websocket"

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(ProtocolClosed("disconnected before the join ack"))
        super().on_ws_disconnected(transport)

    async def join(self, topic: str) -> None:
        # The join is acknowledged (ack id) so we know the room was entered.
        self._ack_id += 1
        waiter = asyncio.get_running_loop().create_future()
        self._pending[self._ack_id] = waiter
        self.send(b'42%d["join","%s"]' % (self._ack_id, topic.encode()))
        await waiter

    def publish(self, topic: str, body: bytes) -> None:
        self.send(b'42["publish","%s",%s]' % (topic.encode(), body))

    def on_text(self, data: bytes) -> None:
        kind = data[:1]
        if kind == b"4":  # a Socket.IO packet inside an Engine.IO message
            packet = data[1:2]
            if packet == b"2":
                event, body = _decode_event(data[2:])
                if event == "msg":
                    sample = _decode_sample(body)
                    self.record(sample.seq, sample.t)
            elif packet == b"3":
                ack_id = int(data[2 : data.index(b"[")])
                waiter = self._pending.pop(ack_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            elif packet == b"0" and not self.ready.done():
                self.ready.set_result(None)
            elif packet == b"4":
                self._fail(f"connect refused: {data[2:]!r}")
        elif kind == b"2":  # the server's ping: answer or be dropped
            self.send(b"3")
            self.keepalive.sent += 1
        elif kind == b"0":  # Engine.IO open: now connect to the default namespace
            self.send(b"40")
        elif kind == b"1":
            self._fail("engine.io close")


ADAPTERS: dict[str, type[BenchConnection]] = {
    PhoenixConnection.name: PhoenixConnection,
    SocketIOConnection.name: SocketIOConnection,
}
