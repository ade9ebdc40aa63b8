"""One load generator process: up to ~15,000 client sockets on uvloop + picows.

The coordinator drives it with one JSON command per line on stdin and reads
one JSON answer per line on stdout (see ``Worker.handle``). Times are
``time.monotonic_ns()``: CLOCK_MONOTONIC is system-wide, so a publish time
taken in one process compares with a receipt time taken in another.

Run by the coordinator as ``python -m benchmarks.loadgen.worker --cpus 1 --seq-base N``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
from collections import Counter
from dataclasses import dataclass, field
from time import monotonic_ns
from typing import Any

import msgspec
import uvloop
from picows import ws_connect

from .adapters import ADAPTERS, BenchConnection, PhoenixConnection, payload

CONNECT_TIMEOUT_SECONDS = 30.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Recorder:
    """Receipts of ``msg`` broadcasts during one measurement step.

    Only messages published inside the window are tracked per seq (count and
    latest receipt), so warm-up traffic and stragglers of the previous step
    never count; throughput counts receipts whose arrival falls in the window.
    """

    def __init__(self) -> None:
        self.reset(0, 0, keep_latencies=False)

    def reset(self, start_ns: int, end_ns: int, *, keep_latencies: bool) -> None:
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.by_seq: dict[int, list[int]] = {}
        self.received_for_window = 0
        self.received_in_window = 0
        self.latencies_ns: list[int] | None = [] if keep_latencies else None

    def __call__(self, seq: int, sent_ns: int) -> None:
        now = monotonic_ns()
        if self.start_ns <= now <= self.end_ns:
            self.received_in_window += 1
        if self.start_ns <= sent_ns <= self.end_ns:
            self.received_for_window += 1
            entry = self.by_seq.get(seq)
            if entry is None:
                self.by_seq[seq] = [1, now]
            else:
                entry[0] += 1
                entry[1] = now  # receipts come in time order: this one is the latest
            if self.latencies_ns is not None:
                self.latencies_ns.append(now - sent_ns)


@dataclass
class Group:
    """Connections joined to one topic; the first one publishes for the group."""

    topic: str
    connections: list[BenchConnection] = field(default_factory=list)


class Worker:
    def __init__(self, seq_base: int) -> None:
        self.recorder = Recorder()
        self.groups: list[Group] = []
        self.next_seq = seq_base
        self.published: list[list[int]] = []  # [seq, sent_ns, expected receipts] in the window
        self.publishing: asyncio.Task[None] | None = None
        self.cpu_at_start = 0.0
        self.cpu_used = 0.0
        self.window_timers: list[asyncio.TimerHandle] = []

    @property
    def connections(self) -> list[BenchConnection]:
        return [connection for group in self.groups for connection in group.connections]

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        name = command["cmd"]
        if name == "open":
            return await self.open(command)
        if name == "measure":
            self.measure(command["start_ns"], command["end_ns"], command["latencies"])
            return {}
        if name == "publish":
            self.publishing = asyncio.create_task(
                self.publish(
                    command["rate"],
                    command["start_ns"],
                    command["end_ns"],
                    command["recipients"],
                    command["pad"].encode(),
                )
            )
            return {}
        if name == "spread_heartbeats":
            self.spread_heartbeats(
                command["start_ns"], command["slot"], command["slots"], command["total"]
            )
            return {}
        if name == "keepalive":
            # What the connections sent and got to stay alive since the last call.
            counts = BenchConnection.keepalive
            answer = {"sent": counts.sent, "pings": counts.pings}
            counts.reset()
            return answer
        if name == "progress":
            return self.progress()
        if name == "report":
            return await self.report()
        if name == "close":
            await self.close()
            return {}
        raise ValueError(f"unknown command {name!r}")

    async def open(self, command: dict[str, Any]) -> dict[str, Any]:
        """Connect and join ``groups`` ([topic, count] pairs), ``concurrency`` at a time."""
        connection_class = ADAPTERS[command["adapter"]]
        if issubclass(connection_class, PhoenixConnection):
            connection_class.heartbeat_seconds = command["heartbeat_seconds"]
        url = connection_class.url(command["url"])
        addresses: list[str] = command["addresses"]
        per_address: int = command["per_address"]
        limit = asyncio.Semaphore(command["concurrency"])
        errors: Counter[str] = Counter()
        # Paced: connection i starts at i / rate s (clients arriving over time), else at once.
        rate: float | None = command.get("rate")
        loop = asyncio.get_running_loop()
        begin = loop.time()

        async def open_one(group: Group, index: int) -> None:
            if rate:
                await asyncio.sleep(max(0.0, begin + index / rate - loop.time()))
            async with limit:
                address = addresses[index // per_address]
                connection: BenchConnection | None = None
                try:
                    _, connection = await ws_connect(
                        lambda: connection_class(self.recorder),
                        url,
                        websocket_handshake_timeout=CONNECT_TIMEOUT_SECONDS,
                        local_addr=(address, 0),
                        enable_auto_pong=False,  # the adapters answer (and count) pings
                    )
                    await asyncio.wait_for(connection.ready, CONNECT_TIMEOUT_SECONDS)
                    await asyncio.wait_for(connection.join(group.topic), CONNECT_TIMEOUT_SECONDS)
                except Exception as exc:
                    errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                    if connection is not None:
                        connection.close()
                    return
                group.connections.append(connection)

        started = monotonic_ns()
        cpu_before = cpu_seconds()
        jobs = []
        index = 0
        for topic, count in command["groups"]:
            group = Group(topic)
            self.groups.append(group)
            for _ in range(count):
                jobs.append(open_one(group, index))
                index += 1
        await asyncio.gather(*jobs)
        return {
            "connected": sum(len(group.connections) for group in self.groups),
            "failed": sum(errors.values()),
            "errors": dict(errors),
            "seconds": (monotonic_ns() - started) / 1e9,
            "cpu_seconds": cpu_seconds() - cpu_before,
        }

    def spread_heartbeats(self, start_ns: int, slot: int, slots: int, total: int) -> None:
        """Phoenix connections: move the heartbeats so that ``total`` connections over
        ``slots`` workers send theirs evenly spread over one heartbeat interval from
        ``start_ns`` (as clients that connected at random times do); this worker's
        j-th connection takes phase (j * slots + slot) / total of the interval."""
        now = monotonic_ns()
        for index, connection in enumerate(self.connections):
            if isinstance(connection, PhoenixConnection):
                phase = ((index * slots + slot) % max(total, 1)) / max(total, 1)
                delay_ns = start_ns - now + phase * connection.heartbeat_seconds * 1e9
                connection.rephase_heartbeat(delay_ns / 1e9)

    def measure(self, start_ns: int, end_ns: int, keep_latencies: bool) -> None:
        """Start a step: reset the counters, and take CPU time at the window's edges."""
        self.recorder.reset(start_ns, end_ns, keep_latencies=keep_latencies)
        self.published = []
        self.cpu_used = 0.0
        for timer in self.window_timers:
            timer.cancel()
        loop = asyncio.get_running_loop()
        now = monotonic_ns()
        self.window_timers = [
            loop.call_later((start_ns - now) / 1e9, self._window_started),
            loop.call_later((end_ns - now) / 1e9, self._window_ended),
        ]

    def _window_started(self) -> None:
        self.cpu_at_start = cpu_seconds()

    def _window_ended(self) -> None:
        self.cpu_used = cpu_seconds() - self.cpu_at_start

    async def publish(
        self, rate: float, start_ns: int, end_ns: int, recipients: list[int], pad: bytes
    ) -> None:
        """Send ``rate`` messages/s in total from ``start_ns`` to ``end_ns``, from the
        first connection of each group in turn (so each group gets rate/groups)."""
        sources = [
            (group.connections[0], group.topic, expected)
            for group, expected in zip(self.groups, recipients, strict=True)
            if group.connections
        ]
        if not sources:
            return
        interval_ns = 1e9 / rate
        sent = 0
        while True:
            due_ns = start_ns + int(sent * interval_ns)
            if due_ns >= end_ns:
                return
            now = monotonic_ns()
            if due_ns > now:
                await asyncio.sleep((due_ns - now) / 1e9)
                continue
            connection, topic, expected = sources[sent % len(sources)]
            seq = self.next_seq
            self.next_seq += 1
            sent_ns = monotonic_ns()
            connection.publish(topic, payload(seq, sent_ns, pad))
            if self.recorder.start_ns <= sent_ns <= self.recorder.end_ns:
                self.published.append([seq, sent_ns, expected])
            sent += 1

    def progress(self) -> dict[str, Any]:
        return {
            "received": self.recorder.received_for_window,
            "expected": sum(expected for _, _, expected in self.published),
            "publishing": self.publishing is not None and not self.publishing.done(),
            **self.connection_state(),
        }

    def connection_state(self) -> dict[str, Any]:
        lost = Counter(
            connection.closed.result()
            for connection in self.connections
            if connection.closed.done()
        )
        return {"open": len(self.connections) - sum(lost.values()), "lost": dict(lost)}

    async def report(self) -> dict[str, Any]:
        if self.publishing is not None:
            await self.publishing
            self.publishing = None
        recorder = self.recorder
        return {
            "cpu_seconds": self.cpu_used,
            "window_seconds": (recorder.end_ns - recorder.start_ns) / 1e9,
            "received_in_window": recorder.received_in_window,
            "by_seq": recorder.by_seq,
            "published": self.published,
            "latencies_ns": recorder.latencies_ns,
            **self.connection_state(),
        }

    async def close(self) -> None:
        connections = self.connections
        for connection in connections:
            connection.close()
        pending = [connection.closed for connection in connections if not connection.closed.done()]
        if pending:
            await asyncio.wait(pending, timeout=10)
        self.groups = []


async def serve(seq_base: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    worker = Worker(seq_base)
    encoder = msgspec.json.Encoder()
    out = sys.stdout.buffer
    while line := await reader.readline():
        command = msgspec.json.decode(line)
        if command["cmd"] == "exit":
            break
        try:
            answer = await worker.handle(command)
        except Exception as exc:  # answer the coordinator rather than hang it
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(encoder.encode(answer) + b"\n")
        out.flush()
    await worker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cpus", default="", help="comma-separated CPUs to pin to")
    parser.add_argument("--seq-base", type=int, default=0, help="first seq this worker publishes")
    args = parser.parse_args()
    if args.cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.cpus.split(",")})
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvloop.run(serve(args.seq_base))


if __name__ == "__main__":
    main()
