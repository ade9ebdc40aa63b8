"""Targets (built-in servers or any server by URL), starting them pinned, and /proc figures."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.loadgen.adapters import ADAPTERS

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class Target:
    """A server to measure: started by the suite (``module``) or already running (``url``)."""

    name: str
    adapter: str
    #: The server's base URL (``ws://host:port/socket``), or its mount path
    #: when the suite starts it on a free port.
    url: str
    module: tuple[str, ...] = ()
    pid: int | None = None


BUILTIN: dict[str, Target] = {
    "phoenix_py": Target(
        "phoenix_py",
        "phoenix",
        "/socket",
        ("benchmarks.servers.phoenix_py_server", "--mode", "direct"),
    ),
    "phoenix_py_asgi": Target(
        "phoenix_py_asgi",
        "phoenix",
        "/socket",
        ("benchmarks.servers.phoenix_py_server", "--mode", "asgi"),
    ),
    "socketio": Target(
        "socketio", "socketio", "/socket.io", ("benchmarks.servers.socketio_server",)
    ),
    # The contract app exactly as its launcher runs it (uvicorn's defaults,
    # among them a WebSocket ping to every connection every 20 s) ...
    "contract": Target(
        "contract", "phoenix", "/socket", ("examples.contract", "--log-level", "warning")
    ),
    # ... and the same app under the suite's uvicorn settings (no WebSocket pings).
    "contract_noping": Target(
        "contract_noping", "phoenix", "/socket", ("benchmarks.servers.contract_server",)
    ),
    # A server of another checkout (a worktree of an earlier commit), given
    # with --variant: "old=worktree:/path/to/tree MODULE [ARGUMENTS]".
    "worktree": Target("worktree", "phoenix", "/socket", ("benchmarks.servers.worktree",)),
}


def parse_target(spec: str) -> Target:
    """``name=ws://host:port/path,adapter=phoenix[,pid=1234]`` → ``Target``."""
    first, *options = spec.split(",")
    name, separator, url = first.partition("=")
    settings = dict(option.partition("=")[::2] for option in options)
    adapter = settings.pop("adapter", "")
    pid = settings.pop("pid", None)
    if not separator or not url.startswith(("ws://", "wss://")):
        raise ValueError(f"--target {spec!r}: expected name=ws://host:port/path,adapter=...")
    if adapter not in ADAPTERS:
        raise ValueError(f"--target {spec!r}: adapter must be one of {sorted(ADAPTERS)}")
    if settings:
        raise ValueError(f"--target {spec!r}: unknown options {sorted(settings)}")
    return Target(name, adapter, url, pid=int(pid) if pid else None)


def parse_variant(spec: str) -> Target:
    """``name=builtin[:arguments]`` → a built-in server started with more arguments,
    e.g. ``phoenix_py_gcoff=phoenix_py:--gc off`` (see ``benchmarks/servers/common.py``)."""
    name, separator, rest = spec.partition("=")
    base, _, extra = rest.partition(":")
    if not separator or not name or base not in BUILTIN:
        raise ValueError(
            f"--variant {spec!r}: expected name=builtin[:arguments], builtin one of "
            f"{', '.join(BUILTIN)}"
        )
    target = BUILTIN[base]
    return Target(name, target.adapter, target.url, (*target.module, *shlex.split(extra)))


def cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    times = cpu_times(pid)
    return None if times is None else times[0] + times[1]


def cpu_times(pid: int | None) -> tuple[float, float] | None:
    """(utime, stime) of a process (all its threads), from /proc/<pid>/stat."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which may hold spaces, closed by ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def cores_busy_seconds(cpus: str) -> float | None:
    """Busy time (all but idle and iowait) of these CPUs (``taskset -c`` list) from /proc/stat.

    Less the server's own CPU, it is what else ran on the server's core: other
    processes (a test run beside the benchmark), interrupts, the kernel.
    """
    wanted: set[int] = set()
    for part in filter(None, cpus.split(",")):
        first, _, last = part.partition("-")
        wanted.update(range(int(first), int(last or first) + 1))
    if not wanted:
        return None
    busy = 0
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in wanted:
            ticks = [int(value) for value in values]
            busy += sum(ticks[:8]) - ticks[3] - ticks[4]  # less idle and iowait
    return busy / CLOCK_TICKS


def rss_bytes(pid: int | None) -> int | None:
    """Resident memory of a process (VmRSS of /proc/<pid>/status)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServerFailed(Exception):
    """The server did not start, or died; the message says why."""


class RunningServer:
    """A target while it is measured; a built-in one is stopped on ``stop``."""

    def __init__(
        self,
        target: Target,
        url: str,
        pid: int | None,
        process: asyncio.subprocess.Process | None,
        log: Path | None,
    ) -> None:
        self.target = target
        self.url = url
        self.pid = pid
        self.process = process
        self.log = log

    @classmethod
    async def start(cls, target: Target, cpus: str) -> RunningServer:
        if not target.module:
            return cls(target, target.url, target.pid, None, None)
        port = free_port()
        log = Path(tempfile.mkstemp(prefix=f"bench-{target.name}-", suffix=".log")[1])
        command = [sys.executable, "-m", *target.module, "--port", str(port)]
        if cpus:
            command = ["taskset", "-c", cpus, *command]
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                *command, stdout=output, stderr=output, cwd=Path(__file__).resolve().parents[2]
            )
        server = cls(target, f"ws://127.0.0.1:{port}{target.url}", process.pid, process, log)
        await server._wait_listening(port)
        return server

    async def _wait_listening(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_SECONDS
        while loop.time() < deadline:
            self.check_alive()
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await asyncio.sleep(0.3)  # let it finish its lifespan startup
            return
        await self.stop()
        raise ServerFailed(f"{self.target.name} did not listen within {START_TIMEOUT_SECONDS} s")

    def check_alive(self) -> None:
        if self.process is not None and self.process.returncode is not None:
            raise ServerFailed(
                f"{self.target.name} exited with {self.process.returncode}: {self.log_tail()}"
            )

    def log_tail(self, lines: int = 5) -> str:
        if self.log is None:
            return ""
        return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
        if self.log is not None:
            self.log.unlink(missing_ok=True)
