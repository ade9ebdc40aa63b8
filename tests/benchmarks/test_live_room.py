"""The LiveView benchmark measures what it names: a tiny room, every update counted.

No figure is checked (they come from ``python -m benchmarks.live_room``): the
run must join every view, deliver every message to every view exactly once,
and report CPU, memory, diff size and latency from the real server process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_small_room_delivers_every_message_to_every_view_once(tmp_path: Path) -> None:
    out = tmp_path / "live.json"
    pinned = (os.cpu_count() or 1) >= 2
    cpus = ["--server-cpus", "0" if pinned else "", "--client-cpus", "1" if pinned else ""]
    command = [sys.executable, "-m", "benchmarks.live_room", "--views", "25"]
    command += ["--messages", "4", "--rate", "8", "--json", str(out), *cpus]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    [result] = json.loads(out.read_text())
    assert result["views"] == 25 and result["lost"] == 0 and result["duplicates"] == 0
    # later joins reach the views already there as presence diffs (batched: at least one)
    assert result["join_diffs"] >= 1
    assert result["settled_s"] is not None and result["joins_per_s"] > 0
    assert 50 < result["diff_bytes"] < 400  # one message's entry, no statics
    assert result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["cpu_per_update_us"] is not None and result["memory_per_view"] is not None
