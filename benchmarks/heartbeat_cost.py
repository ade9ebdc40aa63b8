"""What one idle connection's keep-alive costs the server, piece by piece, in process.

    python -m benchmarks.heartbeat_cost [--connections 5000] [--app bench|contract]

Builds the app under ``phoenix_py.uvicorn.WebSocketProtocol`` with in-memory
transports (no sockets), opens and joins ``--connections`` connections (each
on its own topic ``bench:<n>``, or ``--shared``), then times, per message and
best of ``--repeat`` rounds over every connection in turn:

- ``websockets parse``: websockets' sans-I/O ``ServerProtocol`` alone
  (``receive_data`` + ``events_received``) on a client heartbeat frame, and
  the same with permessage-deflate negotiated and the frame compressed (what a
  browser, or Node's ``ws``, sends to uvicorn, which accepts deflate by default);
- ``uvicorn protocol``: ``data_received`` of the whole stack with phoenix_py's
  handler replaced by a no-op (websockets + uvicorn's event dispatch and decode);
- ``phoenix_py``: the adopted connection's ``_on_message`` on the heartbeat
  text plus the flush of the reply (decode, the socket state machine, the
  reply's encoding and WebSocket framing, the write call);
- ``whole heartbeat``: ``data_received`` of the frame and the event-loop pass
  that flushes the reply;
- ``event-loop pass``: one pass of uvloop with nothing to do;
- ``uvicorn ping cycle``: with pings on, ``send_keepalive_ping`` (the ping's
  frame, its write, the pong deadline timer) and the pong's ``data_received``
  (cancel, reschedule);
- ``timer``: ``loop.call_later`` + ``cancel`` (uvloop), what the pings add per cycle;
- ``idle timer re-arm``: phoenix_py's ``_IdleTimer`` firing before the timeout;
- ``paced``: process CPU per call at ``--paced-rate`` (167/s: 5,000
  connections heartbeating every 30 s), each call from its own timer wake-up
  with the loop asleep in between: a wake-up doing nothing, and a whole
  heartbeat (the cold path an idle server runs, against the hot loops above);
- ``syscalls``: on a real loopback TCP pair, a server's ``recv`` of a
  heartbeat-sized segment and ``send`` of the reply-sized one (the client
  reads at once, so its wake-up is not in the figure as it is in a real run).

Connections are opened as uvicorn opens them, through its httptools protocol
and the upgrade (``--no-http``: straight to the WebSocket protocol). With
``--garbage`` it only reports what each joined connection costs the cyclic
collector: the objects it tracks per live connection (every full collection
visits them) and the garbage connect+join leaves (``--experiment
break-http-cycle`` to compare).

What this leaves out, the suite's ``idle`` scenario measures end to end: the
wake-ups by the network, uvloop's read callback on a real socket, the
kernel's TCP path. Garbage collections during the timed rounds are counted
and reported.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from benchmarks.servers.experiments import EXPERIMENTS
from phoenix_py.uvicorn import WebSocketProtocol

HANDSHAKE = (
    b"GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\n"
    b"Host: 127.0.0.1:4000\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


def masked(payload: bytes, opcode: int = 0x1) -> bytes:
    """A client frame (FIN, masked), as phoenix.js's browser sends it."""
    key = os.urandom(4)
    body = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    length = len(payload)
    assert length < 126
    return bytes([0x80 | opcode, 0x80 | length]) + key + body


def heartbeat(ref: int) -> bytes:
    return b'[null,"%d","phoenix","heartbeat",{}]' % ref


class FakeTransport(asyncio.Transport):
    """What uvicorn's protocol uses of an asyncio transport; writes are counted, not sent."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.written = 0
        self.writes = 0
        self.closing = False
        self.protocol: asyncio.BaseProtocol | None = None

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sockname":
            return ("127.0.0.1", 4000)
        if name == "peername":
            return ("127.0.0.2", self.port)
        return default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def build_app(name: str) -> Any:
    if name == "contract":
        from examples.contract.app import create_app

        return create_app()
    from benchmarks.servers.phoenix_py_server import build_app as bench_app

    return bench_app()


def best_per_call(rounds: list[float], calls: int) -> float:
    """µs per call of the best round (the least disturbed)."""
    return min(rounds) / calls * 1e6


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.results: dict[str, float] = {}
        self.notes: dict[str, str] = {}

    async def open(self, ping_interval: float | None) -> list[WebSocketProtocol]:
        app = build_app(self.args.app)
        protocol_class = EXPERIMENTS[self.args.experiment] if self.args.experiment else None
        config = uvicorn.Config(
            app,
            ws=protocol_class or WebSocketProtocol,
            ws_ping_interval=ping_interval,
            ws_ping_timeout=ping_interval,
            lifespan="off",
            log_level="warning",
        )
        config.load()
        state = ServerState()
        lifespan = getattr(app.router, "lifespan_context", None)
        self._lifespan = lifespan(app) if lifespan else None
        if self._lifespan is not None:
            await self._lifespan.__aenter__()
        connections = []
        for index in range(self.args.connections):
            transport = FakeTransport(10_000 + index)
            if self.args.no_http:
                protocol = WebSocketProtocol(config, state, {})
                protocol.connection_made(transport)
                protocol.data_received(HANDSHAKE)
            else:  # as uvicorn does: httptools parses the request, then upgrades
                http = HttpToolsProtocol(config, state, {})
                http.connection_made(transport)
                transport.set_protocol(http)
                http.data_received(HANDSHAKE)
                protocol = transport.get_protocol()  # type: ignore[assignment]
                assert isinstance(protocol, WebSocketProtocol)
            connections.append(protocol)
            if index % 100 == 99:
                await settle()
        await settle()
        for index, protocol in enumerate(connections):
            topic = b"bench:shared" if self.args.shared else b"bench:%d" % index
            protocol.data_received(masked(b'["1","1","%s","phx_join",{}]' % topic))
            if index % 100 == 99:
                await settle()
        await settle()
        adopted = sum(protocol._on_message is not None for protocol in connections)
        assert adopted == len(connections), f"{adopted} of {len(connections)} adopted"
        return connections

    def time_rounds(self, name: str, body: Callable[[int], float | None], calls: int) -> None:
        """``body(calls)`` per round; it may return the seconds to count (else all of it)."""
        rounds = []
        collections_before = sum(stat["collections"] for stat in gc.get_stats())
        for _ in range(self.args.repeat):
            started = time.perf_counter()
            elapsed = body(calls)
            rounds.append(time.perf_counter() - started if elapsed is None else elapsed)
        collections = sum(stat["collections"] for stat in gc.get_stats()) - collections_before
        self.results[name] = best_per_call(rounds, calls)
        spread = statistics.median(rounds) / calls * 1e6
        self.notes[name] = f"median {spread:.2f}; {collections} collections in all rounds"

    async def time_async_rounds(self, name: str, body: Callable[[int], Any], calls: int) -> None:
        rounds = []
        collections_before = sum(stat["collections"] for stat in gc.get_stats())
        for _ in range(self.args.repeat):
            started = time.perf_counter()
            await body(calls)
            rounds.append(time.perf_counter() - started)
        collections = sum(stat["collections"] for stat in gc.get_stats()) - collections_before
        self.results[name] = best_per_call(rounds, calls)
        spread = statistics.median(rounds) / calls * 1e6
        self.notes[name] = f"median {spread:.2f}; {collections} collections in all rounds"

    async def garbage(self) -> None:
        """What connect+join leaves to the cyclic collector, per connection, by type."""
        gc.collect()
        before = Counter(kind_of(item) for item in gc.get_objects())
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        connections = await self.open(None)
        gc.collect()
        count = len(connections)
        after = Counter(kind_of(item) for item in gc.get_objects())
        after.subtract(before)
        tracked = sum(after.values())
        print(
            f"objects the cyclic collector tracks, per live joined connection: "
            f"{tracked / count:.1f} (each full collection visits them all)"
        )
        print("| type | tracked objects per connection |\n|---|---|")
        for kind, number in after.most_common(20):
            print(f"| {kind} | {number / count:.2f} |")
        print()
        kinds: Counter[str] = Counter()
        sizes: Counter[str] = Counter()
        for item in gc.garbage:
            kind = kind_of(item)
            kinds[kind] += 1
            sizes[kind] += sys.getsizeof(item)
        total = sum(sizes.values())
        print(
            f"cyclic garbage of connect+join: {len(gc.garbage) / count:.1f} objects, "
            f"{total / count:,.0f} bytes (getsizeof, shallow) per connection"
        )
        print("| type | objects per connection | bytes per connection |\n|---|---|---|")
        for kind, number in kinds.most_common(25):
            print(f"| {kind} | {number / count:.2f} | {sizes[kind] / count:,.0f} |")
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()

    async def run(self) -> None:
        args = self.args
        if args.garbage:
            await self.garbage()
            return
        connections = await self.open(None)
        count = len(connections)
        frames = [masked(heartbeat(ref)) for ref in range(100, 100 + count)]
        texts = [heartbeat(ref).decode() for ref in range(100, 100 + count)]

        # websockets alone, plain and with permessage-deflate
        self.time_rounds("websockets parse", parse_loop(frames, deflate=False), count)
        self.time_rounds(
            "websockets parse, permessage-deflate", parse_loop(frames, deflate=True), count
        )

        async def loop_pass(calls: int) -> None:
            for _ in range(calls):
                await asyncio.sleep(0)

        await self.time_async_rounds("event-loop pass alone", loop_pass, count)

        # phoenix_py: the adopted handler; the loop pass flushes the reply
        handlers = [protocol._on_message for protocol in connections]

        async def phoenix_py(calls: int) -> None:
            for index in range(calls):
                handlers[index](texts[index], False)  # type: ignore[misc]
                await asyncio.sleep(0)

        await self.time_async_rounds("phoenix_py (feed + reply flush)", phoenix_py, count)
        self.results["phoenix_py (feed + reply flush)"] -= self.results["event-loop pass alone"]

        # the whole stack; the loop pass flushes the reply
        async def whole(calls: int) -> None:
            for index in range(calls):
                connections[index].data_received(frames[index])
                await asyncio.sleep(0)

        await self.time_async_rounds("whole heartbeat + loop pass", whole, count)

        # uvicorn's dispatch: phoenix_py's handler a no-op
        saved = [protocol._on_message for protocol in connections]
        for protocol in connections:
            protocol._on_message = noop

        def uvicorn_only(calls: int) -> None:
            for index in range(calls):
                connections[index].data_received(frames[index])

        self.time_rounds("uvicorn protocol (websockets + dispatch)", uvicorn_only, count)
        for protocol, handler in zip(connections, saved, strict=True):
            protocol._on_message = handler

        loop = asyncio.get_running_loop()

        async def timer(calls: int) -> None:
            for index in range(calls):
                loop.call_later(20.0, noop).cancel()
                if index % 100 == 99:
                    await asyncio.sleep(0)

        await self.time_async_rounds("timer: call_later + cancel", timer, count)

        async def idle_timer(calls: int) -> None:
            for index in range(calls):
                idle = connections[index]._on_message.__self__._idle  # type: ignore[union-attr]
                idle._handle.cancel()
                idle.last_seen = loop.time() - 1.0
                idle._check()  # not yet idle: re-arms
                if index % 100 == 99:
                    await asyncio.sleep(0)

        await self.time_async_rounds("phoenix_py idle timer re-arm", idle_timer, count)

        # Paced as an idle server sees them: one at a time, the loop asleep between.
        rate = args.paced_rate
        await self.paced("paced: a timer wake-up doing nothing", rate, lambda index: None)

        def one_heartbeat(index: int) -> None:
            connections[index % count].data_received(frames[index % count])

        await self.paced("paced: a heartbeat (timer wake-up + whole stack)", rate, one_heartbeat)

        # The same, piece by piece (subtract the wake-up doing nothing).
        parse = parse_loop(frames, deflate=False)
        await self.paced("paced: websockets parse", rate, lambda index: parse(1))

        def phoenix_py_only(index: int) -> None:
            handlers[index % count](texts[index % count], False)  # type: ignore[misc]

        await self.paced("paced: phoenix_py (feed + reply flush)", rate, phoenix_py_only)
        for protocol in connections:
            protocol._on_message = noop
        await self.paced("paced: uvicorn protocol, handler a no-op", rate, one_heartbeat)
        for protocol, handler in zip(connections, handlers, strict=True):
            protocol._on_message = handler

        if not args.skip_ping:
            await self.ping_cycle()
        self.syscalls()
        self.report(count)

    async def paced(self, name: str, rate: float, body: Callable[[int], None]) -> None:
        """Process CPU per call of ``body`` at ``rate`` calls/s, each from its own
        timer wake-up (the loop sleeps in epoll_wait between): the cold path."""
        loop = asyncio.get_running_loop()
        seconds = self.args.paced_seconds
        calls = int(rate * seconds)
        done = loop.create_future()
        interval = 1.0 / rate
        start = loop.time() + 0.05
        counter = [0]

        def tick() -> None:
            index = counter[0]
            body(index)
            counter[0] = index + 1
            if counter[0] < calls:
                loop.call_at(start + counter[0] * interval, tick)
            else:
                done.set_result(None)

        loop.call_at(start, tick)
        cpu = time.process_time()
        await done
        used = time.process_time() - cpu
        self.results[name] = used / calls * 1e6
        self.notes[name] = f"{rate:g}/s for {seconds:g} s, process CPU ÷ calls"

    async def ping_cycle(self) -> None:
        """uvicorn's keepalive: a ping out, the pong in, on fresh connections with pings on.

        Only for a protocol that pings adopted connections (uvicorn's own, which the
        direct path used before phoenix_py had a protocol of its own); phoenix_py's
        never does, so there is nothing to time."""
        connections = await self.open(20.0)
        count = len(connections)
        if not all(hasattr(protocol, "send_keepalive_ping") for protocol in connections):
            self.notes["uvicorn ping cycle"] = (
                "none: the protocol never pings an adopted connection"
            )
            return
        for protocol in connections:
            protocol.stop_keepalive()

        pongs: list[bytes] = []

        async def cycle(calls: int) -> None:
            for index in range(calls):
                protocol = connections[index]
                protocol.send_keepalive_ping()  # the ping's frame and write, the pong timer
                payload = protocol.pending_ping_payload
                assert payload is not None
                pongs.append(masked(payload, opcode=0xA))
                protocol.data_received(pongs[-1])  # the pong: cancel, schedule the next ping
                protocol.stop_keepalive()
                if index % 100 == 99:
                    await asyncio.sleep(0)
            pongs.clear()

        async def build_pongs(calls: int) -> None:
            for index in range(calls):
                pongs.append(masked(b"abcd", opcode=0xA))
                if index % 100 == 99:
                    await asyncio.sleep(0)
            pongs.clear()

        name = "uvicorn ping cycle (ping out, pong in, timers)"
        await self.time_async_rounds("(building a pong frame, subtracted)", build_pongs, count)
        await self.time_async_rounds(name, cycle, count)
        self.results[name] -= self.results.pop("(building a pong frame, subtracted)")
        self.notes.pop("(building a pong frame, subtracted)")

    def syscalls(self) -> None:
        """A server's recv and send on loopback TCP (the client's side not timed)."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = masked(heartbeat(1))
        reply = (
            b"\x81"
            + bytes([len(b'[null,"1","phoenix","phx_reply",{"status":"ok","response":{}}]')])
            + b'[null,"1","phoenix","phx_reply",{"status":"ok","response":{}}]'
        )
        calls = 20_000
        recv_rounds, send_rounds = [], []
        for _ in range(self.args.repeat):
            recv_time = send_time = 0.0
            for _ in range(calls):
                client.send(request)
                started = time.perf_counter()
                server.recv(65536)
                middle = time.perf_counter()
                server.send(reply)
                send_time += time.perf_counter() - middle
                recv_time += middle - started
                client.recv(65536)
            recv_rounds.append(recv_time)
            send_rounds.append(send_time)
        self.results["syscall: recv of a heartbeat (loopback)"] = best_per_call(recv_rounds, calls)
        self.results["syscall: send of the reply (loopback)"] = best_per_call(send_rounds, calls)
        for sock in (client, server, listener):
            sock.close()

    def report(self, count: int) -> None:
        shape = "one shared topic" if self.args.shared else "a topic per connection"
        print(
            f"app {self.args.app}, {count:,} joined connections ({shape}), "
            f"gc {'on' if gc.isenabled() else 'off'}, threshold {gc.get_threshold()}"
        )
        print("| piece | µs per call (best round) | note |\n|---|---|---|")
        for name, value in self.results.items():
            print(f"| {name} | {value:.2f} | {self.notes.get(name, '')} |")


def kind_of(item: object) -> str:
    return f"{type(item).__module__}.{type(item).__qualname__}"


def noop(*args: Any) -> None:
    return None


def parse_loop(frames: list[bytes], *, deflate: bool) -> Callable[[int], float | None]:
    """websockets' ServerProtocol on an open connection, fed client frames.

    With permessage-deflate the client compresses with context takeover, so
    frames decode only once and in order: each round gets a fresh pair and
    fresh frames, and only the parse is timed.
    """
    texts = [unmask(frame) for frame in frames]
    if not deflate:
        server, wire = open_pair(texts, deflate=False)

        def parse(calls: int) -> None:
            for index in range(calls):
                server.receive_data(wire[index % len(wire)])
                server.events_received()

        return parse

    def parse_fresh(calls: int) -> float:
        fresh_server, fresh_wire = open_pair(texts[:calls], deflate=True)
        started = time.perf_counter()
        for data in fresh_wire:
            fresh_server.receive_data(data)
            fresh_server.events_received()
        return time.perf_counter() - started

    return parse_fresh


def unmask(frame: bytes) -> bytes:
    key, payload = frame[2:6], frame[6:]
    return bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))


def open_pair(texts: list[bytes], *, deflate: bool) -> tuple[ServerProtocol, list[bytes]]:
    """An open server protocol (uvicorn's settings) and the client's frames of ``texts``."""
    server = ServerProtocol(
        extensions=[
            ServerPerMessageDeflateFactory(
                server_max_window_bits=12,
                client_max_window_bits=12,
                compress_settings={"memLevel": 5},
            )
        ]
        if deflate
        else None,
        max_size=16 * 1024 * 1024,
    )
    client = ClientProtocol(
        parse_uri("ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0"),
        extensions=[ClientPerMessageDeflateFactory()] if deflate else None,
    )
    client.send_request(client.connect())
    server.receive_data(b"".join(client.data_to_send()))
    [event] = server.events_received()
    server.send_response(server.accept(event))
    client.receive_data(b"".join(server.data_to_send()))
    client.events_received()
    assert not deflate or server.extensions, "permessage-deflate was not negotiated"
    wire = []
    for text in texts:
        client.send_text(text)
        wire.append(b"".join(client.data_to_send()))
    return server, wire


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.heartbeat_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--app", choices=("bench", "contract"), default="bench")
    parser.add_argument("--shared", action="store_true", help="every connection on one topic")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best one is reported")
    parser.add_argument("--gc", choices=("on", "off", "freeze"), default="on")
    parser.add_argument("--skip-ping", action="store_true")
    parser.add_argument(
        "--no-http",
        action="store_true",
        help="hand the handshake straight to the WebSocket protocol, not through "
        "uvicorn's httptools protocol and its upgrade",
    )
    parser.add_argument(
        "--experiment",
        choices=sorted(EXPERIMENTS),
        help="an experimental protocol class (benchmarks/servers/experiments.py)",
    )
    parser.add_argument(
        "--garbage",
        action="store_true",
        help="only list the cyclic garbage that connect+join leaves, per connection",
    )
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=167.0,
        help="calls/s of the paced measurements (5,000 connections x 1 per 30 s: 167)",
    )
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.gc == "off":
        gc.disable()
    bench = Bench(args)

    async def run() -> None:
        if args.gc == "freeze":
            gc.freeze()
        await bench.run()

    uvloop.run(run())


if __name__ == "__main__":
    main()
