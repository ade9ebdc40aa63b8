"""The recovery benchmark measures what it names: a tiny storm and fanout, every message counted.

No figure is checked (they come from ``python -m benchmarks recovery``): every
client must rejoin recovered and receive each missed message once, in order,
then the live one; the fanout windows of both topics must deliver everything
and carry the server's CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENTS, MISSED = 20, 10


def test_a_small_storm_recovers_every_message_once_and_fanout_counts_both_topics(
    tmp_path: Path,
) -> None:
    pinned = (os.cpu_count() or 1) >= 2
    cpus = ["--server-cpus", "0" if pinned else "", "--client-cpus", "1" if pinned else ""]
    command = [sys.executable, "-m", "benchmarks", "recovery", "--out", str(tmp_path), *cpus]
    command += ["--clients", str(CLIENTS), "--missed", str(MISSED), "--topics", "2"]
    command += ["--subscribers", "20", "--rates", "400", "--rounds", "2", "--window", "1"]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads((tmp_path / "recovery.json").read_text())["results"]
    windows = [result for result in results if "topic" in result]
    [storm] = [result for result in results if "storm_s" in result]

    assert [window["topic"] for window in windows] == [
        "room:fanout",
        "history:fanout",
        "history:fanout",
        "room:fanout",
    ]
    for window in windows:
        assert window["published"] > 0 and window["lost"] == 0
        assert window["server_cpu_us_per_delivery"] is not None and window["p99_ms"] is not None

    assert storm["errors"] == {} and storm["not_recovered"] == 0
    # every client: the MISSED messages of its topic, then the live one
    assert storm["received"] == CLIENTS * (MISSED + 1)
    assert storm["lost"] == storm["duplicated"] == storm["out_of_order"] == 0
    assert storm["unnumbered"] == 0 and storm["live_lost"] == 0
    assert storm["storm_s"] > 0 and storm["all_joined_s"] <= storm["storm_s"]
    assert storm["reply_from_start_p50_ms"] <= storm["reply_from_start_p99_ms"]
    assert storm["server_cpu_s"] is not None and storm["live_ms"] is not None
    assert "history:*" in (tmp_path / "recovery.md").read_text()
