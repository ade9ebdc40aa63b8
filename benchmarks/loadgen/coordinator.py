"""The coordinator's side of the load generator: worker processes and fresh source addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import math
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

#: A file-limit of 20,000 per process leaves room for 15,000 sockets and more.
MAX_SOCKETS_PER_WORKER = 15_000
#: Seqs of different workers never meet: worker i publishes from i * SEQ_SPACING.
SEQ_SPACING = 1_000_000_000
#: Saturation: a load generator core this busy bounds the figure, not the server.
SATURATED_CPU_FRACTION = 0.85


def source_addresses() -> Iterator[str]:
    """127.0.0.2, 127.0.0.3, ... : the whole of 127/8 routes to loopback on Linux.

    Each session takes fresh addresses, so the previous session's TIME_WAIT
    sockets (client side, 60 s) never hold the ephemeral ports it needs.
    """
    first = int(ipaddress.IPv4Address("127.0.0.2"))
    last = int(ipaddress.IPv4Address("127.255.255.254"))
    for number in range(first, last + 1):
        address = ipaddress.IPv4Address(number)
        if address.packed[-1] not in (0, 255):
            yield str(address)


class Worker:
    """One worker process and its command channel (JSON lines over its stdin/stdout)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._lock = asyncio.Lock()

    @classmethod
    async def spawn(cls, index: int, cpus: str) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.loadgen.worker",
            "--cpus",
            cpus,
            "--seq-base",
            str(index * SEQ_SPACING),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
            limit=1 << 28,
        )
        return cls(process)

    async def call(self, command: str, **arguments: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        async with self._lock:
            self.process.stdin.write(msgspec.json.encode({"cmd": command, **arguments}) + b"\n")
            await self.process.stdin.drain()
            line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"load generator worker exited ({self.process.returncode})")
        answer: dict[str, Any] = msgspec.json.decode(line)
        if "error" in answer:
            raise RuntimeError(f"load generator worker: {answer['error']}")
        return answer

    async def stop(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.write(b'{"cmd":"exit"}\n')
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@dataclass
class Opened:
    """How a session's connect-and-join went."""

    wanted: int
    connected: int
    seconds: float
    errors: Counter[str] = field(default_factory=Counter)
    #: CPU time each worker spent on it.
    worker_cpu_seconds: list[float] = field(default_factory=list)

    def failure(self) -> str | None:
        if self.connected == self.wanted:
            return None
        top = ", ".join(f"{reason}: {count}" for reason, count in self.errors.most_common(3))
        return f"connected and joined {self.connected} of {self.wanted} ({top})"


class LoadGenerator:
    """Workers holding one session's connections to one server.

    ``groups[i]`` are the ``(topic, count)`` groups worker i connects and joins;
    a worker's sockets are spread over ``sockets_per_address`` per source address.
    """

    def __init__(self, workers: list[Worker], cpus: str) -> None:
        self.workers = workers
        self.cpus = cpus

    @classmethod
    async def start(cls, count: int, cpus: str) -> LoadGenerator:
        workers = await asyncio.gather(*(Worker.spawn(index, cpus) for index in range(count)))
        return cls(list(workers), cpus)

    async def open(
        self,
        url: str,
        adapter: str,
        groups: list[list[tuple[str, int]]],
        addresses: Iterator[str],
        *,
        sockets_per_address: int,
        concurrency: int,
        heartbeat_seconds: float,
        rate: float | None = None,
    ) -> Opened:
        """Connect and join; ``rate``: connections/s in all, spread over the workers
        (default: as fast as ``concurrency`` connects in flight per worker allow)."""
        calls = []
        wanted = 0
        for worker, worker_groups in zip(self.workers, groups, strict=True):
            sockets = sum(count for _, count in worker_groups)
            if sockets > MAX_SOCKETS_PER_WORKER:
                raise ValueError(
                    f"{sockets} sockets for one worker; at most {MAX_SOCKETS_PER_WORKER}"
                )
            wanted += sockets
            worker_addresses = [
                next(addresses) for _ in range(max(1, math.ceil(sockets / sockets_per_address)))
            ]
            calls.append(
                worker.call(
                    "open",
                    url=url,
                    adapter=adapter,
                    groups=worker_groups,
                    addresses=worker_addresses,
                    per_address=sockets_per_address,
                    concurrency=concurrency,
                    heartbeat_seconds=heartbeat_seconds,
                    rate=rate / len(self.workers) if rate else None,
                )
            )
        loop = asyncio.get_running_loop()
        started = loop.time()
        answers = await asyncio.gather(*calls)
        errors: Counter[str] = Counter()
        for answer in answers:
            errors.update(answer["errors"])
        return Opened(
            wanted,
            sum(answer["connected"] for answer in answers),
            loop.time() - started,
            errors,
            [answer["cpu_seconds"] for answer in answers],
        )

    async def call_all(self, command: str, **arguments: Any) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(w.call(command, **arguments) for w in self.workers)))

    async def close(self) -> None:
        await self.call_all("close")

    async def stop(self) -> None:
        await asyncio.gather(*(worker.stop() for worker in self.workers))


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` near-equal shares."""
    share, extra = divmod(total, parts)
    return [share + (1 if index < extra else 0) for index in range(parts)]


def workers_for(sockets: int, sockets_per_worker: int) -> int:
    return max(1, math.ceil(sockets / sockets_per_worker))


def loadgen_saturation(cpu_fractions: list[float], cpus: str) -> bool:
    """Whether the load generator was the bound: a worker above 85 % of a core, or
    the workers together above 85 % of the cores they are pinned to."""
    cores = len(cpus.split(",")) if cpus else len(os.sched_getaffinity(0))
    return max(cpu_fractions, default=0.0) > SATURATED_CPU_FRACTION or (
        sum(cpu_fractions) > SATURATED_CPU_FRACTION * cores
    )
