"""The benchmark suite measures correctly: tiny fanout and idle runs, one server at a time.

These check the measurements (every delivery counted, latencies and CPU
present), never how fast anything is: figures come from ``python -m benchmarks``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIBERS = 50


SERVERS = ["phoenix_py_asgi", "socketio", "phoenix_py"]


def run_benchmark(out: Path, *arguments: str) -> dict[str, Any]:
    # Pin only where there are two CPUs to pin to.
    cpus = (
        ["--server-cpus", "0", "--loadgen-cpus", "1"]
        if (os.cpu_count() or 1) >= 2
        else ["--server-cpus", "", "--loadgen-cpus", ""]
    )
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", *arguments, *cpus, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    document: dict[str, Any] = json.loads((out / f"{arguments[0]}.json").read_text())
    return document


def positive_and_finite(value: float | None) -> bool:
    return value is not None and value > 0 and math.isfinite(value)


@pytest.mark.parametrize("server", SERVERS)
def test_fanout_counts_every_delivery(server: str, tmp_path: Path) -> None:
    document = run_benchmark(
        tmp_path,
        "fanout",
        "--servers",
        server,
        "--subscribers",
        str(SUBSCRIBERS),
        "--rates",
        "5000",
        "--warmup",
        "0.5",
        "--window",
        "2",
    )
    [result] = document["results"]
    assert result["error"] is None
    [step] = result["steps"]
    assert step["published"] > 0
    assert step["expected"] == SUBSCRIBERS * step["published"]
    assert step["received"] == step["expected"]
    assert step["lost"] == 0
    assert step["connections_lost"] == 0
    assert positive_and_finite(step["deliveries_per_s"])
    assert positive_and_finite(step["p50_ms"])
    assert positive_and_finite(step["p99_ms"])
    assert step["p50_ms"] <= step["p99_ms"]
    assert positive_and_finite(step["server_cpu_us_per_delivery"])
    assert all(cpu >= 0 for cpu in step["loadgen_cpu"])
    for name in ("fanout.md", "fanout_throughput.png", "fanout_p99.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize("server", SERVERS)
def test_idle_reports_memory_and_cpu(server: str, tmp_path: Path) -> None:
    document = run_benchmark(
        tmp_path,
        "idle",
        "--servers",
        server,
        "--connections",
        str(SUBSCRIBERS),
        "--settle",
        "0.5",
        "--idle-window",
        "6",
        "--heartbeat",
        "1",
    )
    [result] = document["results"]
    assert result["error"] is None
    assert result["connected"] == SUBSCRIBERS
    assert result["connections_lost"] == 0
    assert positive_and_finite(result["connects_per_s"])
    assert positive_and_finite(result["memory_per_connection_bytes"])
    assert positive_and_finite(result["idle_cpu_us_per_connection_per_s"])
    assert (tmp_path / "idle.md").stat().st_size > 0
