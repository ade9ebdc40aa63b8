"""Message history and recovery (issue 15): its cost while connected, and a reconnect storm.

    python -m benchmarks recovery [--parts fanout,storm] [--clients 1000] [--missed 100]
        [--topics 1] [--subscribers 1000] [--rates 20000,100000] [--rounds 4] [--redis]

Both parts run the contract app (``benchmarks.servers.contract_server``, fresh
for each part, pinned to ``--server-cpus``) and a client of Phoenix V2 JSON
on picows in this process (pinned to ``--client-cpus``), whose own CPU share
is reported: near 100 % it, not the server, was the bound.

fanout: ``--subscribers`` connections each join ``room:fanout`` (no history)
and ``history:fanout``; publishers (one per 100 messages/s, also joined to
both) ``shout`` on one topic at a time at ``--rates`` deliveries/s, through a
``--warmup`` and a measured ``--window``; the two topics alternate in every
round (room then history, then history then room) on the same server and
connections. Per window: server CPU per delivery (utime + stime of its
process ÷ receipts in the window), lost deliveries, fan-out completion p99.

storm: ``--clients`` connections join ``history:storm-<i mod topics>`` and note
the reply's offset and epoch, then close their WebSockets; after ``--away``
seconds a publisher (joined all along) shouts ``--missed`` messages on every
topic. Then every client reconnects at once and rejoins with ``since``. The
storm time runs from the first connect until the last client has received all
its missed messages; each client's messages are checked for lost, duplicated,
out of order and unnumbered (no ``"<offset>:<epoch>"`` ref). One live message
after the storm must reach every client next. With ``--redis`` the storm
runs on two contract nodes (``python -m examples.contract --redis``) on a
real redis-server: the clients join node A and rejoin node B.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import resource
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic_ns
from typing import Any

import msgspec
import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from benchmarks import report
from benchmarks.loadgen.adapters import Sample, payload
from benchmarks.loadgen.coordinator import source_addresses
from benchmarks.loadgen.worker import Recorder
from benchmarks.loadgen.worker import cpu_seconds as own_cpu_seconds
from benchmarks.scenarios import PAD, START_DELAY_NS, percentile, sleep_until
from benchmarks.servers.launch import (
    BUILTIN,
    RunningServer,
    Target,
    cores_busy_seconds,
    cpu_seconds,
)
from tests.redis_server import RedisServer

HEARTBEAT_SECONDS = 30.0
#: Messages/s one publisher sends at most (the contract socket admits 200 frames/s).
PUBLISHER_RATE = 100
_frame = msgspec.json.Decoder(tuple[str | None, str | None, str, str, msgspec.Raw]).decode
_reply = msgspec.json.Decoder(dict[str, Any]).decode
_sample = msgspec.json.Decoder(Sample).decode
_PAD = PAD.encode()


class Client(WSListener):
    """One connection: joins, shouts, heartbeats, and the ``shout`` broadcasts it receives."""

    def __init__(self, keep_seqs: bool) -> None:
        self.transport: WSTransport | None = None
        self.ref = 0
        self.join_refs: dict[str, bytes] = {}
        self.replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        #: The seq of every ``shout`` received, in order (with ``keep_seqs``).
        self.seqs: list[int] | None = [] if keep_seqs else None
        #: ``shout`` broadcasts of a ``history:*`` topic without an offset in the ref slot.
        self.unnumbered = 0
        self.refused = 0
        self.record: Callable[[int, int], None] = lambda seq, sent_ns: None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._heartbeat: asyncio.TimerHandle | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self._heartbeat = asyncio.get_running_loop().call_later(HEARTBEAT_SECONDS, self.beat)

    def beat(self) -> None:
        self.send(b'[null,"%s","phoenix","heartbeat",{}]' % self.next_ref())
        self._heartbeat = asyncio.get_running_loop().call_later(HEARTBEAT_SECONDS, self.beat)

    def next_ref(self) -> bytes:
        self.ref += 1
        return b"%d" % self.ref

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.closed.done():
            self.transport.send(WSMsgType.TEXT, data)

    def push(
        self, topic: str, event: bytes, body: bytes, join: bool = False
    ) -> asyncio.Future[Any]:
        ref = self.next_ref()
        if join:
            self.join_refs[topic] = ref
        frame = b'["%s","%s","%s","%s",%s]' % (
            self.join_refs[topic],
            ref,
            topic.encode(),
            event,
            body,
        )
        waiter = self.replies[ref.decode()] = asyncio.get_running_loop().create_future()
        self.send(frame)
        return waiter

    async def join(self, topic: str, body: bytes = b"{}") -> dict[str, Any]:
        reply = await self.push(topic, b"phx_join", body, join=True)
        if reply["status"] != "ok":
            raise RuntimeError(f"join {topic} refused: {reply}")
        response: dict[str, Any] = reply["response"]
        return response

    def shout(self, topic: str, seq: int) -> asyncio.Future[Any]:
        return self.push(topic, b"shout", payload(seq, monotonic_ns(), _PAD))

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            self.on_text(frame.get_payload_as_bytes())
        elif frame.msg_type is WSMsgType.CLOSE:
            transport.disconnect()

    def on_text(self, data: bytes) -> None:
        _join_ref, ref, topic, event, body = _frame(data)
        if event == "shout":
            sample = _sample(body)
            if self.seqs is not None:
                self.seqs.append(sample.seq)
            if topic.startswith("history:") and (ref is None or ":" not in ref):
                self.unnumbered += 1
            self.record(sample.seq, sample.t)
        elif event == "phx_reply" and ref is not None:
            reply = _reply(body)
            waiter = self.replies.pop(ref, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(reply)
            elif reply.get("status") != "ok":
                self.refused += 1

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for waiter in self.replies.values():
            if not waiter.done():
                waiter.set_exception(RuntimeError("disconnected before the reply"))
        if not self.closed.done():
            self.closed.set_result(None)

    async def close(self) -> None:
        if self.transport is not None and not self.closed.done():
            self.transport.send_close()
            self.transport.disconnect()
        await asyncio.wait_for(self.closed, 10)


async def connect(server: RunningServer, address: str, keep_seqs: bool = False) -> Client:
    _, client = await ws_connect(
        lambda: Client(keep_seqs),
        server.url + "/websocket?vsn=2.0.0",
        local_addr=(address, 0),
        enable_auto_pong=True,
        websocket_handshake_timeout=60,
    )
    assert isinstance(client, Client)
    return client


def loadgen_share(cpu_before: float, started_ns: int) -> float:
    """This process's CPU since ``cpu_before``, as a share of a core."""
    return round((own_cpu_seconds() - cpu_before) / ((monotonic_ns() - started_ns) / 1e9), 3)


@dataclass
class FanoutWindow:
    """One measured window of fanout on one topic."""

    topic: str
    target_deliveries_per_s: int
    round: int
    deliveries_per_s: float
    published: int
    lost: int
    p99_ms: float | None
    server_cpu_us_per_delivery: float | None
    loadgen_cpu: float
    #: Busy time of the server's core not the server's own, as a share of a core.
    server_core_other_share: float | None


async def fanout_window(
    server: RunningServer,
    publishers: list[Client],
    recipients: int,
    topic: str,
    rate: int,
    round_: int,
    args: argparse.Namespace,
    recorder: Recorder,
    seqs: Iterator[int],
) -> FanoutWindow:
    """Shout on ``topic`` at ``rate`` deliveries/s through warm-up and window, wait
    for the last receipts (at most 10 s), and add up the window."""
    start_ns = monotonic_ns() + START_DELAY_NS
    window_start = start_ns + int(args.warmup * 1e9)
    window_end = window_start + int(args.window * 1e9)
    recorder.reset(window_start, window_end, keep_latencies=False)
    interval_ns = 1e9 * recipients / rate
    published: list[tuple[int, int]] = []  # (seq, sent_ns) inside the window

    async def publish() -> None:
        sent = 0
        while (due := start_ns + int(sent * interval_ns)) < window_end:
            await sleep_until(due)
            seq, sent_ns = next(seqs), monotonic_ns()
            publishers[sent % len(publishers)].shout(topic, seq)
            if window_start <= sent_ns <= window_end:
                published.append((seq, sent_ns))
            sent += 1

    publishing = asyncio.create_task(publish())
    await sleep_until(window_start)
    cpu_before, core_before = cpu_seconds(server.pid), cores_busy_seconds(args.server_cpus)
    loadgen_before = own_cpu_seconds()
    await sleep_until(window_end)
    cpu_after, core_after = cpu_seconds(server.pid), cores_busy_seconds(args.server_cpus)
    loadgen = round((own_cpu_seconds() - loadgen_before) / args.window, 3)
    await publishing
    expected = recipients * len(published)
    deadline = monotonic_ns() + 10 * 10**9
    while recorder.received_for_window < expected and monotonic_ns() < deadline:
        await asyncio.sleep(0.1)
    received = recorder.received_in_window
    used = other = None
    if cpu_before is not None and cpu_after is not None:
        used = cpu_after - cpu_before
        if core_before is not None and core_after is not None:
            other = round(max(0.0, (core_after - core_before - used) / args.window), 3)
    completions = sorted(
        recorder.by_seq[seq][1] - sent_ns
        for seq, sent_ns in published
        if recorder.by_seq.get(seq, [0])[0] >= recipients
    )
    return FanoutWindow(
        topic,
        rate,
        round_,
        round(received / args.window),
        len(published),
        expected - recorder.received_for_window,
        round(percentile(completions, 0.99) / 1e6, 2) if completions else None,
        round(used / received * 1e6, 2) if used is not None and received else None,
        loadgen,
        other,
    )


FANOUT_TOPICS = ("room:fanout", "history:fanout")


async def fanout(args: argparse.Namespace) -> list[FanoutWindow]:
    """Both topics on the same server and connections, alternating in every round."""
    server = await RunningServer.start(BUILTIN["contract_noping"], args.server_cpus)
    recorder = Recorder()
    addresses = source_addresses()
    windows: list[FanoutWindow] = []
    clients: list[Client] = []
    try:
        address = next(addresses)
        gate = asyncio.Semaphore(100)

        async def subscriber() -> Client:
            async with gate:
                client = await connect(server, address)
                client.record = recorder
                for topic in FANOUT_TOPICS:
                    await client.join(topic)
                return client

        publishers = math.ceil(max(args.rates) / args.subscribers / PUBLISHER_RATE)
        clients = list(await asyncio.gather(*(subscriber() for _ in range(args.subscribers))))
        clients += await asyncio.gather(*(subscriber() for _ in range(publishers)))
        seqs = iter(range(1, 10**12))
        for rate in args.rates:
            for round_ in range(args.rounds):
                order = FANOUT_TOPICS if round_ % 2 == 0 else FANOUT_TOPICS[::-1]
                for topic in order:
                    window = await fanout_window(
                        server,
                        clients[-publishers:],
                        len(clients),
                        topic,
                        rate,
                        round_,
                        args,
                        recorder,
                        seqs,
                    )
                    print(f"  fanout {window}", flush=True)
                    windows.append(window)
        server.check_alive()
    finally:
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
        await server.stop()
    return windows


@dataclass
class StormResult:
    """One reconnect storm: every figure of it, and what went wrong."""

    clients: int
    missed: int
    topics: int
    nodes: int
    #: From the first reconnect until the last client had all its missed messages.
    storm_s: float | None = None
    all_joined_s: float | None = None
    #: Join reply latency: from the storm's start (connect included) and from the join frame.
    reply_from_start_p50_ms: float | None = None
    reply_from_start_p99_ms: float | None = None
    reply_from_join_p50_ms: float | None = None
    reply_from_join_p99_ms: float | None = None
    not_recovered: int = 0
    received: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    unnumbered: int = 0
    #: The live message after the storm: to the last client, and how many missed it.
    live_ms: float | None = None
    live_lost: int = 0
    server_cpu_s: float | None = None
    server_cpu_share: float | None = None
    server_cpu_us_per_message: float | None = None
    redis_cpu_s: float | None = None
    loadgen_cpu: float | None = None
    errors: dict[str, int] = field(default_factory=dict)


async def start_nodes(args: argparse.Namespace) -> tuple[list[RunningServer], RedisServer | None]:
    if not args.redis:
        return [await RunningServer.start(BUILTIN["contract_noping"], args.server_cpus)], None
    redis = RedisServer()
    redis.start()
    module = ("examples.contract", "--log-level", "warning", "--redis", redis.url)
    nodes = [
        await RunningServer.start(
            Target(f"node_{name}", "phoenix", "/socket", module), args.server_cpus
        )
        for name in "ab"
    ]
    return nodes, redis


def check(seqs: list[int], expected: list[int], result: StormResult) -> None:
    """Add one client's losses, duplicates and disorder to ``result``."""
    result.received += len(seqs)
    result.lost += len(set(expected) - set(seqs))
    result.duplicated += len(seqs) - len(set(seqs))
    result.out_of_order += sum(1 for before, after in itertools.pairwise(seqs) if after < before)


async def storm(args: argparse.Namespace) -> StormResult:
    result = StormResult(args.clients, args.missed, args.topics, 2 if args.redis else 1)
    nodes, redis = await start_nodes(args)
    first, last = nodes[0], nodes[-1]
    topics = [f"history:storm-{index}" for index in range(args.topics)]
    addresses = source_addresses()
    rejoined: list[tuple[Client, str]] = []
    try:
        publisher = await connect(first, next(addresses))
        for topic in topics:
            await publisher.join(topic)
        address, storm_address = next(addresses), next(addresses)
        gate = asyncio.Semaphore(100)

        async def first_join(index: int) -> tuple[Client, bytes]:
            async with gate:
                client = await connect(first, address)
                reply = await client.join(topics[index % len(topics)])
                since = {"offset": reply["offset"], "epoch": reply["epoch"]}
                return client, msgspec.json.encode({"since": since})

        joined = await asyncio.gather(*(first_join(index) for index in range(args.clients)))
        await asyncio.gather(*(client.close() for client, _ in joined))
        await asyncio.sleep(args.away)
        expected: dict[str, list[int]] = {topic: [] for topic in topics}
        shouts = []
        for seq in range(1, args.missed * len(topics) + 1):
            topic = topics[seq % len(topics)]
            expected[topic].append(seq)
            shouts.append(publisher.shout(topic, seq))
        if refused := [reply for reply in await asyncio.gather(*shouts) if reply["status"] != "ok"]:
            raise RuntimeError(f"shouts refused: {refused[:3]}")

        done = asyncio.Event()
        finished: list[int] = []
        #: Clients that can still complete (those whose rejoin failed cannot).
        completing = [args.clients]
        replies: list[tuple[int, int]] = []  # (from start, from join) ns
        started_ns, loadgen_before = monotonic_ns(), own_cpu_seconds()
        cpu_before = cpu_seconds(last.pid)
        redis_before = cpu_seconds(redis.process.pid) if redis and redis.process else None

        async def rejoin(index: int, since: bytes) -> None:
            topic = topics[index % len(topics)]
            client = await connect(last, storm_address, keep_seqs=True)
            rejoined.append((client, topic))
            wanted = len(expected[topic])

            def record(seq: int, sent_ns: int) -> None:
                assert client.seqs is not None
                if len(client.seqs) == wanted:
                    finished.append(monotonic_ns())
                    if len(finished) >= completing[0]:
                        done.set()

            client.record = record
            join_sent = monotonic_ns()
            reply = await client.join(topic, since)
            replies.append((monotonic_ns() - started_ns, monotonic_ns() - join_sent))
            result.not_recovered += reply.get("recovered") is not True

        attempts = await asyncio.gather(
            *(rejoin(index, since) for index, (_, since) in enumerate(joined)),
            return_exceptions=True,
        )
        for attempt in attempts:
            if isinstance(attempt, BaseException):
                key = f"{type(attempt).__name__}: {attempt}"[:120]
                result.errors[key] = result.errors.get(key, 0) + 1
                completing[0] -= 1
        if len(finished) >= completing[0]:
            done.set()
        try:
            await asyncio.wait_for(done.wait(), args.storm_timeout)
        except TimeoutError:
            result.errors["missed messages still missing"] = completing[0] - len(finished)
        cpu_after = cpu_seconds(last.pid)
        ended_ns = max(finished, default=monotonic_ns())
        seconds = (ended_ns - started_ns) / 1e9
        result.loadgen_cpu = loadgen_share(loadgen_before, started_ns)
        if redis_before is not None and redis and redis.process:
            result.redis_cpu_s = round((cpu_seconds(redis.process.pid) or 0) - redis_before, 3)
        if not result.errors:
            result.storm_s = round(seconds, 3)
        if replies:
            result.all_joined_s = round(max(start for start, _ in replies) / 1e9, 3)
            for name, values in (
                ("start", [r[0] for r in replies]),
                ("join", [r[1] for r in replies]),
            ):
                values.sort()
                setattr(
                    result, f"reply_from_{name}_p50_ms", round(percentile(values, 0.5) / 1e6, 1)
                )
                setattr(
                    result, f"reply_from_{name}_p99_ms", round(percentile(values, 0.99) / 1e6, 1)
                )
        if cpu_before is not None and cpu_after is not None:
            result.server_cpu_s = round(cpu_after - cpu_before, 3)
            result.server_cpu_share = round(result.server_cpu_s / seconds, 3)
            messages = args.clients * args.missed
            result.server_cpu_us_per_message = round(result.server_cpu_s / messages * 1e6, 1)
        await live_message(publisher, rejoined, expected, result)
    finally:
        clients = [client for client, _ in rejoined]
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
        for node in nodes:
            await node.stop()
        if redis is not None:
            redis.stop()
    return result


async def live_message(
    publisher: Client,
    rejoined: list[tuple[Client, str]],
    expected: dict[str, list[int]],
    result: StormResult,
) -> None:
    """One more message per topic must reach every client next; then check each client."""
    total = sum(len(seqs) for seqs in expected.values())
    live = {topic: total + 1 + index for index, topic in enumerate(expected)}
    latest = [0]
    waiting = {id(client) for client, _ in rejoined}
    done = asyncio.Event()
    for client, topic in rejoined:

        def record(seq: int, sent_ns: int, client: Client = client, topic: str = topic) -> None:
            if seq == live[topic] and id(client) in waiting:
                waiting.discard(id(client))
                latest[0] = max(latest[0], monotonic_ns())
                if not waiting:
                    done.set()

        client.record = record
    sent_ns = monotonic_ns()
    await asyncio.gather(*(publisher.shout(topic, seq) for topic, seq in live.items()))
    try:
        await asyncio.wait_for(done.wait(), 10)
        result.live_ms = round((latest[0] - sent_ns) / 1e6, 1)
    except TimeoutError:
        result.live_lost = len(waiting)
    for client, topic in rejoined:
        assert client.seqs is not None
        check(client.seqs, [*expected[topic], live[topic]], result)
        result.unnumbered += client.unnumbered


def fanout_markdown(windows: list[FanoutWindow]) -> str:
    """Per rate: each topic's median CPU per delivery, and the per-round ratio."""
    rows = []
    for rate in sorted({window.target_deliveries_per_s for window in windows}):
        at_rate = [window for window in windows if window.target_deliveries_per_s == rate]
        cpu = {
            topic: [w.server_cpu_us_per_delivery or 0.0 for w in at_rate if w.topic == topic]
            for topic in FANOUT_TOPICS
        }
        ratios = [history / room for room, history in zip(*cpu.values(), strict=True) if room]
        rows.append(
            [
                f"{rate:,}",
                len(ratios),
                *(f"{statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})" for v in cpu.values()),
                f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"
                if ratios
                else None,
                sum(w.lost for w in at_rate),
                max((w.p99_ms or 0.0) for w in at_rate),
                max(w.loadgen_cpu for w in at_rate),
                max((w.server_core_other_share or 0.0) for w in at_rate),
            ]
        )
    header = ["deliveries/s", "rounds", "room:* µs/delivery (min-max)"]
    header += ["history:* µs/delivery (min-max)", "history ÷ room (min-max)", "lost"]
    header += ["worst p99 ms", "worst loadgen CPU", "worst other load"]
    return report.table(header, rows)


def storm_markdown(results: list[StormResult]) -> str:
    header = ["clients x missed", "nodes", "storm s", "all joined s", "reply p50/p99 ms"]
    header += ["lost / dup / disorder / unnumbered", "not recovered", "live ms"]
    header += ["server CPU s (share)", "µs/message", "loadgen CPU", "errors"]
    rows = [
        [
            f"{r.clients:,} x {r.missed} ({r.topics} topic{'s' * (r.topics > 1)})",
            r.nodes,
            r.storm_s,
            r.all_joined_s,
            f"{r.reply_from_start_p50_ms} / {r.reply_from_start_p99_ms}",
            f"{r.lost} / {r.duplicated} / {r.out_of_order} / {r.unnumbered}",
            r.not_recovered,
            r.live_ms,
            f"{r.server_cpu_s} ({r.server_cpu_share})",
            r.server_cpu_us_per_message,
            r.loadgen_cpu,
            r.errors or None,
        ]
        for r in results
    ]
    return report.table(header, rows)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks recovery",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--parts", default="fanout,storm", help="fanout, storm or both")
    group = parser.add_argument_group("fanout")
    group.add_argument("--subscribers", type=int, default=1000)
    group.add_argument("--rates", default="20000,100000", help="deliveries/s, comma-separated")
    group.add_argument("--rounds", type=int, default=4, help="rounds of both topics per rate")
    group.add_argument("--warmup", type=float, default=1.0, help="seconds before each window")
    group.add_argument("--window", type=float, default=3.0, help="seconds measured per window")
    group = parser.add_argument_group("storm")
    group.add_argument("--clients", type=int, default=1000)
    group.add_argument("--missed", type=int, default=100, help="messages missed per topic")
    group.add_argument(
        "--topics", type=int, default=1, help="client i joins history:storm-<i mod N>"
    )
    group.add_argument(
        "--away", type=float, default=1.0, help="seconds between leaving and missing"
    )
    group.add_argument("--storm-timeout", type=float, default=60.0)
    group.add_argument("--repeat", type=int, default=1, help="storms, each on fresh servers")
    group.add_argument("--redis", action="store_true", help="two nodes on a real redis-server")
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--client-cpus", default="1")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    args.rates = [int(rate.replace("_", "")) for rate in args.rates.split(",") if rate]
    args.parts = [part for part in args.parts.split(",") if part]
    return args


async def run(args: argparse.Namespace) -> None:
    windows = await fanout(args) if "fanout" in args.parts else []
    storms = []
    for _ in range(args.repeat if "storm" in args.parts else 0):
        storms.append(await storm(args))
        print(f"  storm {storms[-1]}", flush=True)
    markdown = ""
    if windows:
        markdown += "## fanout: room:* against history:*\n\n" + fanout_markdown(windows) + "\n"
    if storms:
        markdown += "## reconnect storm\n\n" + storm_markdown(storms)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {key: value for key, value in vars(args).items() if key != "out"}
    report.write_json(args.out, "recovery", settings, [*windows, *storms])
    (args.out / "recovery.md").write_text(markdown)
    print(markdown, flush=True)


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    if args.client_cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.client_cpus.split(",")})
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
