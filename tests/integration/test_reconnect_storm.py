"""A reconnect storm after kill -9 and restart (issue 8, "Restarts and deploys").

One Node process (``js/storm.mjs``) opens ``STORM_CLIENTS`` (default 1000) official phoenix.js
1.8 sockets with the default reconnect backoff, vsn 2.0.0, each joined to
``room:storm-<i % 50>``. The test kills the contract app with SIGKILL, restarts it on the same
port about a second later, and every client must come back on its own: open again, have its
channel rejoined (join ok) and get an ``echo`` reply, all within ``BOUND_S`` of the restart.

phoenix.js has no jitter in its backoff (``[10, 50, 100, 150, 200, 250, 500, 1000, 2000]`` ms,
then 5 s), so the clients, all dropped at the same instant, retry in lockstep: the restarted
server sees them arrive together. The only timing assert is the generous bound; the figures
(time from the restart to 50/90/100 % rejoined, the server's CPU seconds during the storm) are
printed (``pytest -s``) and written to ``reconnect_storm.json`` in the test's tmp_path.

By hand, a bigger storm: ``STORM_CLIENTS=3000 pytest -s tests/integration/test_reconnect_storm.py``.
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import conftest as integration
from .conftest import HOST, JS_DIR, ContractServer, JsSession

STORM_JS = JS_DIR / "storm.mjs"
N_CLIENTS = int(os.environ.get("STORM_CLIENTS", "1000"))
N_ROOMS = 50
DOWN_S = 1.0  # from the kill to the restart
BOUND_S = 60.0  # from the restart to every client rejoined and echoed
ECHO_TIMEOUT_S = 15.0
SETUP_TIMEOUT_S = 30.0
FDS_SPARE = 512  # descriptors beyond one per client, for each of the server and Node


def _fixed_port() -> int:
    """A free loopback port *below* the ephemeral range.

    While the server is down, thousands of client connects go to its port. An ephemeral port
    could be handed to one of them as its own source port (a TCP self-connect, or a socket
    holding the port so that the restarted server cannot bind it); a port outside the range
    never is.
    """
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="utf-8")
        low = int(text.split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    candidates = list(range(10_000, max(10_001, low)))
    random.shuffle(candidates)
    for port in candidates[:200]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free loopback port between 10000 and {low}")


@pytest.fixture
def fd_limit() -> Iterator[int]:
    """Raises this process's soft file limit (inherited by the server and Node) if needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = N_CLIENTS + FDS_SPARE
    if soft >= need:
        yield soft
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.fail(f"{N_CLIENTS} clients need {need} file descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    try:
        yield need
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def storm_server(monkeypatch: pytest.MonkeyPatch, fd_limit: int) -> Iterator[ContractServer]:
    """A contract app of its own, which (re)starts on one fixed port."""
    port = _fixed_port()
    monkeypatch.setattr(integration, "_free_port", lambda: port)
    server = ContractServer(label="storm server")
    try:
        server.start()
        server.test_log_offset = 0
        yield server
    finally:
        server.close()


class CpuSampler:
    """Samples a process's CPU seconds (utime + stime, /proc/<pid>/stat) every ``period`` s."""

    TICKS = os.sysconf("SC_CLK_TCK")

    def __init__(self, pid: int, period: float = 0.1) -> None:
        self.pid = pid
        self.period = period
        self.samples: list[tuple[float, float]] = []  # (epoch ms, CPU s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def read(self) -> float | None:
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text(encoding="utf-8")
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 (state)
        return (int(fields[11]) + int(fields[12])) / self.TICKS

    def sample(self) -> None:
        cpu = self.read()
        if cpu is not None:
            self.samples.append((time.time() * 1000, cpu))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.period)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sample()

    def at(self, when_ms: float) -> float:
        """The CPU seconds of the last sample taken at or before ``when_ms``."""
        before = [cpu for at, cpu in self.samples if at <= when_ms]
        return before[-1] if before else 0.0


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _storm_args(server: ContractServer) -> list[str]:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    return [
        node,
        str(STORM_JS),
        "--url",
        server.ws_url,
        "--clients",
        str(N_CLIENTS),
        "--rooms",
        str(N_ROOMS),
        "--setup-timeout-ms",
        str(int(SETUP_TIMEOUT_S * 1000)),
        "--rejoin-timeout-ms",
        str(int((BOUND_S - ECHO_TIMEOUT_S) * 1000)),
        "--echo-timeout-ms",
        str(int(ECHO_TIMEOUT_S * 1000)),
    ]


def test_reconnect_storm_after_kill_and_restart(
    js_deps: Path, storm_server: ContractServer, tmp_path: Path
) -> None:
    server = storm_server
    session = JsSession(
        _storm_args(server),
        f"storm.mjs ({N_CLIENTS} clients)",
        timeout=BOUND_S + 15,  # counted from the resume, when the storm has begun
    )
    sampler: CpuSampler | None = None
    try:
        joined = session.checkpoint("joined", timeout=SETUP_TIMEOUT_S)
        first_pid = server.proc.pid if server.proc is not None else None
        killed_at = server.kill()
        time.sleep(max(0.0, killed_at / 1000 + DOWN_S - time.time()))
        restarted_at = time.time() * 1000
        server.launch()
        assert server.proc is not None
        sampler = CpuSampler(server.proc.pid)
        sampler.start()
        server.wait_ready()
        ready_at = time.time() * 1000
        session.resume(killed_at_ms=killed_at, restarted_at_ms=restarted_at)
        result = session.result()
    finally:
        if sampler is not None:
            sampler.stop()
        session.close()
    assert server.proc is not None and server.proc.pid != first_pid
    assert result["library_version"] == "1.8.16"

    rows = [dict(zip(result["fields"], record, strict=True)) for record in result["records"]]
    assert len(rows) == N_CLIENTS
    not_closed = [i for i, r in enumerate(rows) if r["closed_at"] is None]
    not_back = [i for i, r in enumerate(rows) if r["rejoined_at"] is None]
    bad_echo = {i: r["echo_status"] for i, r in enumerate(rows) if r["echo_status"] != "ok"}

    def since_restart(key: str) -> list[float]:
        return [(r[key] - restarted_at) / 1000 for r in rows if r[key] is not None]

    rejoined = since_restart("rejoined_at")
    reopened = since_restart("reopened_at")
    echoed = since_restart("echo_replied_at")
    cpu_start = sampler.at(restarted_at) if sampler else 0.0
    all_rejoined_at = max(r["rejoined_at"] for r in rows) if not not_back else None
    last_echo_at = result["echo_ended_at"]
    figures: dict[str, Any] = {
        "clients": N_CLIENTS,
        "rooms": N_ROOMS,
        "setup_s": joined["setup_ms"] / 1000,
        "down_s": (restarted_at - killed_at) / 1000,
        "restart_to_ready_s": (ready_at - restarted_at) / 1000,
        "rejoined": len(rejoined),
        "rejoined_s": {
            f"p{int(p * 100)}": round(_percentile(rejoined, p), 3)
            for p in (0.5, 0.9, 1.0)
            if rejoined
        },
        "reopened_s": {
            f"p{int(p * 100)}": round(_percentile(reopened, p), 3)
            for p in (0.5, 0.9, 1.0)
            if reopened
        },
        "first_reopened_s": round(min(reopened), 3) if reopened else None,
        "echoed_ok": len(rows) - len(bad_echo),
        "all_echoed_s": round((last_echo_at - restarted_at) / 1000, 3),
        "echo_p100_s": round(max(echoed), 3) if echoed else None,
        "connect_attempts_after_kill": {
            "min": min(r["attempts"] for r in rows),
            "max": max(r["attempts"] for r in rows),
            "total": sum(r["attempts"] for r in rows),
        },
        "reconnects_per_client_max": max(r["opens"] for r in rows),
        "join_errors": sum(r["join_errors"] for r in rows),
        "server_cpu_s": {
            # the new process from its launch (including its own start-up) ...
            "startup": round(sampler.at(ready_at) - cpu_start, 3) if sampler else None,
            # ... and from accepting connections until every client rejoined / echoed
            "ready_to_all_rejoined": (
                round(sampler.at(all_rejoined_at) - sampler.at(ready_at), 3)
                if sampler and all_rejoined_at is not None
                else None
            ),
            "ready_to_all_echoed": (
                round(sampler.at(last_echo_at) - sampler.at(ready_at), 3) if sampler else None
            ),
        },
        "node_cpu_s_during_storm": round(result["node_cpu_s"], 3),
    }
    out = tmp_path / "reconnect_storm.json"
    out.write_text(
        json.dumps({"figures": figures, "cpu_samples": sampler.samples if sampler else []}),
        encoding="utf-8",
    )
    print(f"\nreconnect storm figures ({out}):\n{json.dumps(figures, indent=2)}")
    rj = figures["rejoined_s"]
    print(
        f"reconnect storm: {N_CLIENTS} clients, restart after {figures['down_s']:.1f} s, "
        f"rejoined p50 {rj.get('p50')} s / p90 {rj.get('p90')} s / p100 {rj.get('p100')} s, "
        f"all echoed {figures['all_echoed_s']} s, server CPU "
        f"{figures['server_cpu_s']['ready_to_all_echoed']} s"
    )

    assert not not_closed, f"{len(not_closed)} clients never saw the kill: {not_closed[:20]}"
    assert not not_back, (
        f"{len(not_back)} of {N_CLIENTS} clients not back and rejoined within "
        f"{BOUND_S - ECHO_TIMEOUT_S:.0f} s of the restart (first: {not_back[:20]}); "
        f"figures: {figures}"
    )
    assert not bad_echo, (
        f"{len(bad_echo)} echoes failed: {dict(list(bad_echo.items())[:20])}; figures: {figures}"
    )
    assert (last_echo_at - restarted_at) / 1000 <= BOUND_S, figures
