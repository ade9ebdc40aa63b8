"""The three scenarios (fanout, idle, rooms): sessions, measured steps and their figures.

Every figure comes from one run, servers measured one after the other with
the same load generator on the same machine. A server that cannot hold the
connections, dies or loses messages gets a failure noted in its result; the
run goes on with the next one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from time import monotonic_ns
from typing import Any

from benchmarks.loadgen.coordinator import (
    LoadGenerator,
    Opened,
    loadgen_saturation,
    source_addresses,
    split,
    workers_for,
)
from benchmarks.servers.launch import (
    RunningServer,
    ServerFailed,
    Target,
    cores_busy_seconds,
    cpu_seconds,
    cpu_times,
    rss_bytes,
)

FANOUT_TOPIC = "bench:fanout"
#: The idle scenario's topic when every connection joins the same one (``shared``);
#: with ``per-connection`` connection n joins ``bench:<n>``.
IDLE_TOPIC = "bench:idle"
IDLE_TOPICS = ("per-connection", "shared")
#: ``even``: phoenix.js heartbeats spread evenly over the interval across the
#: connections (clients that connected at random times); ``connect``: each
#: connection's heartbeats 30 s after its own open, so they come in bursts
#: as long as the connect phase.
HEARTBEAT_SPREADS = ("even", "connect")
#: Pads the payload ({"seq", "t", "pad"}) to about 200 bytes of JSON.
PAD = "x" * 160
START_DELAY_NS = 200_000_000


@dataclass
class Environment:
    """Where things run and how the load generator spreads its sockets."""

    server_cpus: str = "0"
    loadgen_cpus: str = "1"
    sockets_per_worker: int = 10_000
    sockets_per_address: int = 10_000
    connect_concurrency: int = 100
    #: Connections/s in all, paced (clients arriving over time); None: as fast as possible.
    connect_rate: float | None = None
    heartbeat_seconds: float = 30.0
    #: A window with more than ``disturbed_above`` of a core of other load on the
    #: server's core is measured again, up to ``retry_disturbed`` times.
    retry_disturbed: int = 0
    disturbed_above: float = 0.05
    addresses: Iterator[str] = field(default_factory=source_addresses, repr=False)

    def disturbed(self, share: float | None) -> bool:
        """Whether a window had more other load on the server's core than allowed."""
        return share is not None and share > self.disturbed_above

    def settings(self) -> dict[str, object]:
        """The settings, for the results (without the address iterator)."""
        return {
            item.name: getattr(self, item.name) for item in fields(self) if item.name != "addresses"
        }


@dataclass
class FanoutSettings:
    subscribers: list[int]
    #: The ladder, in deliveries/s; the publish rate of a step is this ÷ subscribers.
    delivery_rates: list[int]
    warmup: float
    window: float
    drain_timeout: float = 10.0
    p99_limit_ms: float = 250.0


@dataclass
class IdleSettings:
    connections: list[int]
    settle: float
    window: float
    #: Shapes to measure, each for every server and N (side by side in one run).
    topics: list[str] = field(default_factory=lambda: ["per-connection"])
    heartbeat_spread: list[str] = field(default_factory=lambda: ["even"])
    #: Seconds of the fresh server's CPU before any connection (its own idle work).
    baseline: float = 2.0


@dataclass
class RoomsSettings:
    rooms: int
    min_members: int
    max_members: int
    interval: float
    warmup: float
    window: float
    seed: int = 1
    drain_timeout: float = 10.0
    p99_limit_ms: float = 250.0


@dataclass
class Step:
    """One measured window at one publish rate."""

    publish_rate: float
    target_deliveries_per_s: float
    deliveries_per_s: float
    published: int
    expected: int
    received: int
    lost: int
    p50_ms: float | None
    p99_ms: float | None
    server_cpu_us_per_delivery: float | None
    loadgen_cpu: list[float]
    loadgen_saturated: bool
    connections_lost: int
    passed: bool = False
    failure: str | None = None
    #: What else kept the server's core busy in the window (share of a core):
    #: above a few per cent the step was disturbed (another process on that core).
    server_core_other_share: float | None = None
    #: Disturbed measurements of this step thrown away before this one (--retry-disturbed).
    repeats: int = 0


@dataclass
class FanoutResult:
    server: str
    subscribers: int
    error: str | None = None
    connect_seconds: float | None = None
    steps: list[Step] = field(default_factory=list)
    best: Step | None = None


@dataclass
class IdleResult:
    server: str
    connections: int
    error: str | None = None
    topics: str = ""
    heartbeat_spread: str = ""
    connected: int = 0
    connects_per_s: float | None = None
    rss_fresh_bytes: int | None = None
    rss_joined_bytes: int | None = None
    memory_per_connection_bytes: float | None = None
    window_seconds: float | None = None
    idle_cpu_us_per_connection_per_s: float | None = None
    connections_lost: int = 0
    #: The connect+join phase: server CPU per connection, the server's and each
    #: load generator worker's share of a core (what bounds connect+join/s).
    connect_server_cpu_us_per_connection: float | None = None
    connect_server_cpu_share: float | None = None
    connect_loadgen_cpu: list[float] = field(default_factory=list)
    #: The fresh server's CPU with no connection, ms per s.
    baseline_cpu_ms_per_s: float | None = None
    #: In the window: client keep-alives sent (heartbeats, Engine.IO pongs), the
    #: server's WebSocket pings received, and server CPU ÷ keep-alives.
    keepalives_in_window: int | None = None
    pings_in_window: int | None = None
    idle_cpu_us_per_keepalive: float | None = None
    #: What else kept the server's core busy in the window (share of a core):
    #: above a few per cent the run was disturbed (another process on that core).
    server_core_other_share: float | None = None
    #: The kernel's share (stime) of the server's CPU in the window.
    idle_cpu_system_share: float | None = None
    #: time.monotonic() at the window's start (to line up a server's own logs).
    window_start_monotonic: float | None = None
    #: Disturbed sessions thrown away before this one (--retry-disturbed).
    repeats: int = 0


@dataclass
class RoomsResult:
    server: str
    rooms: int
    members: int
    error: str | None = None
    step: Step | None = None


@dataclass
class Session:
    """One server (fresh, when the suite starts it) and the workers connected to it."""

    server: RunningServer
    loadgen: LoadGenerator
    environment: Environment

    async def open(self, groups: list[list[tuple[str, int]]]) -> Opened:
        """Connect and join ``groups[i]`` ((topic, count) pairs) from worker i."""
        opened = await self.loadgen.open(
            self.server.url,
            self.server.target.adapter,
            groups,
            self.environment.addresses,
            sockets_per_address=self.environment.sockets_per_address,
            concurrency=self.environment.connect_concurrency,
            rate=self.environment.connect_rate,
            heartbeat_seconds=self.environment.heartbeat_seconds,
        )
        self.server.check_alive()
        return opened


@asynccontextmanager
async def session(target: Target, environment: Environment, workers: int) -> AsyncIterator[Session]:
    server = await RunningServer.start(target, environment.server_cpus)
    loadgen = await LoadGenerator.start(workers, environment.loadgen_cpus)
    try:
        yield Session(server, loadgen, environment)
    finally:
        try:
            await loadgen.close()
        finally:
            await loadgen.stop()
            await server.stop()


@dataclass
class Publisher:
    """Worker ``worker`` publishes ``rate`` messages/s from its groups' first
    members; ``recipients`` per group is how many receipts each message should get."""

    worker: int
    rate: float
    recipients: list[int]


async def sleep_until(deadline_ns: int) -> None:
    await asyncio.sleep(max(0, deadline_ns - monotonic_ns()) / 1e9)


def percentile(sorted_values: list[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def measure_step(
    current: Session,
    publishers: list[Publisher],
    *,
    warmup: float,
    window: float,
    drain_timeout: float,
    per_delivery_latency: bool,
) -> Step:
    """Publish through warm-up and window, then wait for stragglers and add up.

    Latency is per delivery (receipt - publish) with ``per_delivery_latency``,
    else per message until its last receipt (fan-out completion). Both count
    only messages published inside the window; throughput counts receipts
    arriving inside it.
    """
    loadgen, server = current.loadgen, current.server
    start_ns = monotonic_ns() + START_DELAY_NS
    window_start = start_ns + int(warmup * 1e9)
    window_end = window_start + int(window * 1e9)
    await loadgen.call_all(
        "measure", start_ns=window_start, end_ns=window_end, latencies=per_delivery_latency
    )
    for publisher in publishers:
        await loadgen.workers[publisher.worker].call(
            "publish",
            rate=publisher.rate,
            start_ns=start_ns,
            end_ns=window_end,
            recipients=publisher.recipients,
            pad=PAD,
        )
    cores = current.environment.server_cpus
    await sleep_until(window_start)
    cpu_before, core_before = cpu_seconds(server.pid), cores_busy_seconds(cores)
    await sleep_until(window_end)
    cpu_after, core_after = cpu_seconds(server.pid), cores_busy_seconds(cores)
    await wait_for_stragglers(loadgen, drain_timeout)
    reports = await loadgen.call_all("report")
    server.check_alive()

    arrivals: dict[int, list[int]] = {}
    for report in reports:
        for seq, (count, latest) in report["by_seq"].items():
            entry = arrivals.setdefault(int(seq), [0, 0])
            entry[0] += count
            entry[1] = max(entry[1], latest)
    latencies: list[int] = []
    published = expected = received = lost = 0
    for report in reports:
        for seq, sent_ns, recipients in report["published"]:
            count, latest = arrivals.get(seq, (0, 0))
            published += 1
            expected += recipients
            received += count
            lost += max(0, recipients - count)
            if count >= recipients and not per_delivery_latency:
                latencies.append(latest - sent_ns)
        if per_delivery_latency:
            latencies.extend(report["latencies_ns"])
    latencies.sort()
    delivered_in_window = sum(report["received_in_window"] for report in reports)
    loadgen_cpu = [round(report["cpu_seconds"] / window, 3) for report in reports]
    server_cpu: float | None = None
    other: float | None = None
    if cpu_before is not None and cpu_after is not None:
        used = cpu_after - cpu_before
        if delivered_in_window:
            server_cpu = used / delivered_in_window * 1e6
        if core_before is not None and core_after is not None:
            other = round(max(0.0, (core_after - core_before - used) / window), 3)
    rate = sum(publisher.rate for publisher in publishers)
    return Step(
        publish_rate=round(rate, 3),
        target_deliveries_per_s=round(rate * expected / published) if published else 0,
        deliveries_per_s=round(delivered_in_window / window),
        published=published,
        expected=expected,
        received=received,
        lost=lost,
        p50_ms=round(percentile(latencies, 0.50) / 1e6, 3) if latencies else None,
        p99_ms=round(percentile(latencies, 0.99) / 1e6, 3) if latencies else None,
        server_cpu_us_per_delivery=round(server_cpu, 3) if server_cpu is not None else None,
        loadgen_cpu=loadgen_cpu,
        loadgen_saturated=loadgen_saturation(loadgen_cpu, loadgen.cpus),
        connections_lost=sum(sum(report["lost"].values()) for report in reports),
        server_core_other_share=other,
    )


async def measure_undisturbed(
    current: Session, publishers: list[Publisher], **options: Any
) -> Step:
    """``measure_step``, again while the server's core had other load (``--retry-disturbed``)."""
    environment = current.environment
    repeats = 0
    while True:
        step = await measure_step(current, publishers, **options)
        step.repeats = repeats
        if repeats >= environment.retry_disturbed or not environment.disturbed(
            step.server_core_other_share
        ):
            return step
        print(f"  disturbed, measured again: {describe(step)}", flush=True)
        await wait_until_quiet(environment, current.server.pid)
        repeats += 1


async def wait_until_quiet(
    environment: Environment,
    pid: int | None,
    sample: float = 2.0,
    samples: int = 10,
    timeout: float = 1800.0,
) -> None:
    """Until ``samples`` samples in a row of the server's core had no more other
    load than allowed (whatever disturbed a window is gone), or ``timeout``."""
    cores = environment.server_cpus
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet = 0
    while quiet < samples and loop.time() < deadline:
        core_before, cpu_before = cores_busy_seconds(cores), cpu_seconds(pid) or 0.0
        await asyncio.sleep(sample)
        core_after, cpu_after = cores_busy_seconds(cores), cpu_seconds(pid) or 0.0
        if core_before is None or core_after is None:
            return
        other = (core_after - core_before - (cpu_after - cpu_before)) / sample
        quiet = 0 if environment.disturbed(other) else quiet + 1


async def wait_for_stragglers(loadgen: LoadGenerator, timeout: float) -> None:
    """Until every expected receipt arrived, nothing arrived for 2 s, or ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_received, last_change = -1, loop.time()
    while loop.time() < deadline:
        progress = await loadgen.call_all("progress")
        received = sum(answer["received"] for answer in progress)
        expected = sum(answer["expected"] for answer in progress)
        publishing = any(answer["publishing"] for answer in progress)
        if not publishing and received >= expected:
            return
        if received != last_received:
            last_received, last_change = received, loop.time()
        elif loop.time() - last_change > 2.0:
            return
        await asyncio.sleep(0.25)


def judge(step: Step, p99_limit_ms: float) -> Step:
    """A step passes with zero loss, every connection alive and p99 within the limit."""
    if step.connections_lost:
        step.failure = f"{step.connections_lost} connections lost"
    elif step.published == 0:
        step.failure = "nothing published in the window"
    elif step.lost:
        step.failure = f"lost {step.lost} of {step.expected} deliveries"
    elif step.p99_ms is None or step.p99_ms > p99_limit_ms:
        step.failure = f"p99 {step.p99_ms} ms > {p99_limit_ms} ms"
    step.passed = step.failure is None
    return step


async def fanout(
    targets: list[Target], settings: FanoutSettings, environment: Environment
) -> list[FanoutResult]:
    """N subscribers on one topic, one publisher connection, a ladder of publish rates."""
    results = []
    for target in targets:
        for subscribers in settings.subscribers:
            result = FanoutResult(target.name, subscribers)
            results.append(result)
            shares = split(subscribers, workers_for(subscribers, environment.sockets_per_worker))
            # The publisher has a worker of its own, so its pace never waits on receipts.
            groups = [[(FANOUT_TOPIC, share)] for share in shares] + [[(FANOUT_TOPIC, 1)]]
            print(f"fanout: {target.name}, {subscribers} subscribers", flush=True)
            try:
                async with session(target, environment, len(groups)) as current:
                    opened = await current.open(groups)
                    result.connect_seconds = round(opened.seconds, 2)
                    if failure := opened.failure():
                        result.error = failure
                        continue
                    await climb(current, result, settings, publisher_worker=len(groups) - 1)
            except (ServerFailed, RuntimeError) as exc:
                result.error = str(exc)
            if result.error:
                print(f"  failed: {result.error}", flush=True)
    return results


async def climb(
    current: Session, result: FanoutResult, settings: FanoutSettings, publisher_worker: int
) -> None:
    """Raise the publish rate step by step; stop at the first step that fails."""
    subscribers = result.subscribers
    for deliveries in settings.delivery_rates:
        rate = deliveries / subscribers
        step = await measure_undisturbed(
            current,
            [Publisher(publisher_worker, rate, [subscribers])],
            warmup=settings.warmup,
            window=settings.window,
            drain_timeout=settings.drain_timeout,
            per_delivery_latency=False,
        )
        result.steps.append(judge(step, settings.p99_limit_ms))
        print(f"  {describe(step)}", flush=True)
        if not step.passed:
            return
        if result.best is None or step.deliveries_per_s > result.best.deliveries_per_s:
            result.best = step


def describe(step: Step) -> str:
    verdict = "pass" if step.passed else f"FAIL ({step.failure})"
    saturated = ", load generator saturated" if step.loadgen_saturated else ""
    return (
        f"{step.publish_rate} msg/s: {step.deliveries_per_s} deliveries/s, "
        f"p50 {step.p50_ms} ms, p99 {step.p99_ms} ms, "
        f"server {step.server_cpu_us_per_delivery} µs/delivery, "
        f"load generator CPU {step.loadgen_cpu}{saturated}, "
        f"other load on the server's core {step.server_core_other_share}: {verdict}"
    )


async def idle(
    targets: list[Target], settings: IdleSettings, environment: Environment
) -> list[IdleResult]:
    """N joined connections doing nothing but their protocol's keep-alive.

    For each N and each shape (topics and heartbeat spread), every server in
    turn, so that the servers of one shape are measured next to each other.
    """
    for topics in settings.topics:
        if topics not in IDLE_TOPICS:
            raise ValueError(f"idle topics must be of {IDLE_TOPICS}, not {topics!r}")
    for spread in settings.heartbeat_spread:
        if spread not in HEARTBEAT_SPREADS:
            raise ValueError(f"heartbeat spread must be of {HEARTBEAT_SPREADS}, not {spread!r}")
    results = []
    for connections in settings.connections:
        shares = split(connections, workers_for(connections, environment.sockets_per_worker))
        for topics in settings.topics:
            for spread in settings.heartbeat_spread:
                for target in targets:
                    print(
                        f"idle: {target.name}, {connections} connections, {topics} topics, "
                        f"{spread} heartbeats",
                        flush=True,
                    )
                    repeats = 0
                    while True:
                        result = IdleResult(
                            target.name,
                            connections,
                            topics=topics,
                            heartbeat_spread=spread,
                            repeats=repeats,
                        )
                        try:
                            async with session(target, environment, len(shares)) as current:
                                await measure_idle(
                                    current, idle_groups(shares, topics), settings, result
                                )
                        except (ServerFailed, RuntimeError) as exc:
                            result.error = str(exc)
                        print(f"  {result}", flush=True)
                        if repeats >= environment.retry_disturbed or not environment.disturbed(
                            result.server_core_other_share
                        ):
                            break
                        print("  disturbed: measured again with a fresh server", flush=True)
                        await wait_until_quiet(environment, None)
                        repeats += 1
                    results.append(result)
    return results


def idle_groups(shares: list[int], topics: str) -> list[list[tuple[str, int]]]:
    """Worker i's (topic, count) groups: all on ``IDLE_TOPIC``, or connection n on ``bench:<n>``."""
    if topics == "shared":
        return [[(IDLE_TOPIC, share)] for share in shares]
    groups, first = [], 0
    for share in shares:
        groups.append([(f"bench:{n}", 1) for n in range(first, first + share)])
        first += share
    return groups


async def measure_idle(
    current: Session,
    groups: list[list[tuple[str, int]]],
    settings: IdleSettings,
    result: IdleResult,
) -> None:
    pid = current.server.pid
    loop = asyncio.get_running_loop()
    if settings.baseline > 0:
        cpu_before, started = cpu_seconds(pid), loop.time()
        await asyncio.sleep(settings.baseline)
        cpu_after, ended = cpu_seconds(pid), loop.time()
        if cpu_before is not None and cpu_after is not None:
            result.baseline_cpu_ms_per_s = round(
                (cpu_after - cpu_before) / (ended - started) * 1e3, 3
            )
    result.rss_fresh_bytes = rss_bytes(pid)
    cpu_before = cpu_seconds(pid)
    opened = await current.open(groups)
    cpu_after = cpu_seconds(pid)
    result.connected = opened.connected
    result.connects_per_s = round(opened.connected / opened.seconds, 1)
    result.connect_loadgen_cpu = [
        round(seconds / opened.seconds, 3) for seconds in opened.worker_cpu_seconds
    ]
    if cpu_before is not None and cpu_after is not None and opened.connected:
        result.connect_server_cpu_us_per_connection = round(
            (cpu_after - cpu_before) / opened.connected * 1e6, 1
        )
        result.connect_server_cpu_share = round((cpu_after - cpu_before) / opened.seconds, 3)
    if failure := opened.failure():
        result.error = failure
        return
    if result.heartbeat_spread == "even":
        start_ns = monotonic_ns() + START_DELAY_NS
        workers = current.loadgen.workers
        await asyncio.gather(
            *(
                worker.call(
                    "spread_heartbeats",
                    start_ns=start_ns,
                    slot=slot,
                    slots=len(workers),
                    total=opened.connected,
                )
                for slot, worker in enumerate(workers)
            )
        )
    await asyncio.sleep(settings.settle)
    result.rss_joined_bytes = rss_bytes(pid)
    if result.rss_fresh_bytes is not None and result.rss_joined_bytes is not None:
        grown = result.rss_joined_bytes - result.rss_fresh_bytes
        result.memory_per_connection_bytes = round(grown / opened.connected, 1)
    await current.loadgen.call_all("keepalive")  # counts from the window's start
    cores = current.environment.server_cpus
    core_before = cores_busy_seconds(cores)
    times_before, started = cpu_times(pid), loop.time()
    result.window_start_monotonic = round(time.monotonic(), 3)
    await asyncio.sleep(settings.window)
    times_after, ended = cpu_times(pid), loop.time()
    core_after = cores_busy_seconds(cores)
    counts = await current.loadgen.call_all("keepalive")
    result.window_seconds = round(ended - started, 2)
    result.keepalives_in_window = sum(count["sent"] for count in counts)
    result.pings_in_window = sum(count["pings"] for count in counts)
    if times_before is not None and times_after is not None:
        used = sum(times_after) - sum(times_before)
        if used > 0:
            result.idle_cpu_system_share = round((times_after[1] - times_before[1]) / used, 3)
        per_connection = used / opened.connected / (ended - started)
        result.idle_cpu_us_per_connection_per_s = round(per_connection * 1e6, 3)
        if result.keepalives_in_window:
            result.idle_cpu_us_per_keepalive = round(used / result.keepalives_in_window * 1e6, 1)
        if core_before is not None and core_after is not None:
            other = (core_after - core_before - used) / (ended - started)
            result.server_core_other_share = round(max(0.0, other), 3)
    states = await current.loadgen.call_all("progress")
    result.connections_lost = sum(sum(state["lost"].values()) for state in states)
    if result.connections_lost:
        result.error = f"{result.connections_lost} connections lost while idle"
    current.server.check_alive()


def room_sizes(settings: RoomsSettings) -> list[int]:
    """Members per room: random in [min, max], the same for every server (fixed seed)."""
    chooser = random.Random(settings.seed)
    return [
        chooser.randint(settings.min_members, settings.max_members) for _ in range(settings.rooms)
    ]


async def rooms(
    targets: list[Target], settings: RoomsSettings, environment: Environment
) -> list[RoomsResult]:
    """Many small rooms; one member of each publishes every ``interval`` seconds."""
    sizes = room_sizes(settings)
    members = sum(sizes)
    worker_count = workers_for(members, environment.sockets_per_worker)
    # Whole rooms per worker (room i on worker i mod W): a publisher and its
    # receivers share a clock read, and each worker knows what it must receive.
    groups: list[list[tuple[str, int]]] = [[] for _ in range(worker_count)]
    for room, size in enumerate(sizes):
        groups[room % worker_count].append((f"bench:room-{room}", size))
    publishers = [
        Publisher(
            worker, len(worker_groups) / settings.interval, [size - 1 for _, size in worker_groups]
        )
        for worker, worker_groups in enumerate(groups)
        if worker_groups
    ]
    results = []
    for target in targets:
        result = RoomsResult(target.name, settings.rooms, members)
        results.append(result)
        print(f"rooms: {target.name}, {settings.rooms} rooms, {members} members", flush=True)
        try:
            async with session(target, environment, worker_count) as current:
                opened = await current.open(groups)
                if failure := opened.failure():
                    result.error = failure
                    continue
                step = await measure_undisturbed(
                    current,
                    publishers,
                    warmup=settings.warmup,
                    window=settings.window,
                    drain_timeout=settings.drain_timeout,
                    per_delivery_latency=True,
                )
                result.step = judge(step, settings.p99_limit_ms)
                print(f"  {describe(step)}", flush=True)
        except (ServerFailed, RuntimeError) as exc:
            result.error = str(exc)
            print(f"  failed: {result.error}", flush=True)
    return results
