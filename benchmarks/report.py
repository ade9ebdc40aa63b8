"""Results on disk: ``<scenario>.json`` (everything), ``<scenario>.md`` (tables), PNG plots."""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from benchmarks.scenarios import FanoutResult, IdleResult, RoomsResult, Step


def machine() -> dict[str, Any]:
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    versions = {}
    for package in ("uvicorn", "picows", "uvloop", "python-socketio", "websockets"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "packages": versions,
    }


def write_json(out: Path, scenario: str, settings: dict[str, Any], results: list[Any]) -> None:
    document = {
        "scenario": scenario,
        "machine": machine(),
        "settings": settings,
        "results": [dataclasses.asdict(result) for result in results],
    }
    (out / f"{scenario}.json").write_text(json.dumps(document, indent=2) + "\n")


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join("-" if cell is None else str(cell) for cell in row) + " |" for row in rows
    ]
    return "\n".join(lines) + "\n"


def thousands(value: float | None) -> str | None:
    return None if value is None else f"{value:,.0f}"


def fanout_markdown(results: list[FanoutResult]) -> str:
    summary = []
    for result in results:
        best = result.best
        failed = next((step for step in result.steps if not step.passed), None)
        note = result.error or (f"next step: {failed.failure}" if failed else "ladder top passed")
        summary.append(
            [
                result.server,
                f"{result.subscribers:,}",
                thousands(best.deliveries_per_s) if best else "no passing step",
                best.publish_rate if best else None,
                best.p50_ms if best else None,
                best.p99_ms if best else None,
                best.server_cpu_us_per_delivery if best else None,
                saturation(best) if best else None,
                other_load(best) if best else None,
                note,
            ]
        )
    steps = [
        [
            result.server,
            f"{result.subscribers:,}",
            step.publish_rate,
            thousands(step.deliveries_per_s),
            step.p50_ms,
            step.p99_ms,
            f"{step.lost}/{step.expected}",
            step.server_cpu_us_per_delivery,
            saturation(step),
            other_load(step),
            "pass" if step.passed else f"fail: {step.failure}",
        ]
        for result in results
        for step in result.steps
    ]
    return (
        "### Fan-out: best passing step (zero loss, p99 ≤ 250 ms)\n\n"
        + table(
            [
                "server",
                "subscribers",
                "deliveries/s",
                "publish msg/s",
                "p50 ms",
                "p99 ms",
                "server CPU µs/delivery",
                "load generator CPU",
                "other load on the server's core",
                "note",
            ],
            summary,
        )
        + "\n### Fan-out: every step\n\n"
        + table(
            [
                "server",
                "subscribers",
                "publish msg/s",
                "deliveries/s",
                "p50 ms",
                "p99 ms",
                "lost/expected",
                "server CPU µs/delivery",
                "load generator CPU",
                "other load on the server's core",
                "result",
            ],
            steps,
        )
    )


def other_load(step: Step) -> str | None:
    """What else ran on the server's core in the window (a share of a core)."""
    return share_and_repeats(step.server_core_other_share, step.repeats)


def share_and_repeats(share: float | None, repeats: int) -> str | None:
    """``1.2%``, and how many disturbed windows were measured again before it."""
    if share is None:
        return None
    return f"{share:.1%} (after {repeats} disturbed)" if repeats else f"{share:.1%}"


def saturation(step: Step) -> str:
    cpu = " + ".join(f"{fraction:.0%}" for fraction in step.loadgen_cpu)
    return f"{cpu} **saturated**" if step.loadgen_saturated else cpu


def idle_markdown(results: list[IdleResult]) -> str:
    rows = [
        [
            result.server,
            f"{result.connections:,}",
            f"{result.connected:,}",
            f"{result.topics}, {result.heartbeat_spread}",
            thousands(result.connects_per_s),
            connect_bound(result),
            None
            if result.memory_per_connection_bytes is None
            else f"{result.memory_per_connection_bytes / 1024:.1f}",
            result.idle_cpu_us_per_connection_per_s,
            result.idle_cpu_us_per_keepalive,
            None
            if result.keepalives_in_window is None
            else f"{result.keepalives_in_window:,} / {result.pings_in_window:,}",
            result.window_seconds,
            share_and_repeats(result.server_core_other_share, result.repeats),
            result.error or "",
        ]
        for result in results
    ]
    return "### Idle connections\n\n" + table(
        [
            "server",
            "connections",
            "joined",
            "topics, heartbeats",
            "connect+join/s",
            "connect: server µs/conn; server, load generator CPU",
            "memory KiB/connection",
            "idle CPU µs per connection per s",
            "idle CPU µs per keep-alive",
            "keep-alives / WS pings in window",
            "window s",
            "other load on the server's core",
            "note",
        ],
        rows,
    )


def connect_bound(result: IdleResult) -> str | None:
    """The connect phase's server CPU per connection and who was busy (shares of a core)."""
    if result.connect_server_cpu_us_per_connection is None:
        return None
    loadgen = " + ".join(f"{share:.0%}" for share in result.connect_loadgen_cpu)
    return (
        f"{result.connect_server_cpu_us_per_connection:.0f}; "
        f"{result.connect_server_cpu_share:.0%}, {loadgen}"
    )


def rooms_markdown(results: list[RoomsResult]) -> str:
    rows = []
    for result in results:
        step = result.step
        rows.append(
            [
                result.server,
                f"{result.rooms:,}",
                f"{result.members:,}",
                thousands(step.deliveries_per_s) if step else None,
                step.p50_ms if step else None,
                step.p99_ms if step else None,
                f"{step.lost}/{step.expected}" if step else None,
                step.server_cpu_us_per_delivery if step else None,
                saturation(step) if step else None,
                other_load(step) if step else None,
                result.error or (step.failure if step and step.failure else ""),
            ]
        )
    return "### Rooms\n\n" + table(
        [
            "server",
            "rooms",
            "members",
            "deliveries/s",
            "p50 ms",
            "p99 ms",
            "lost/expected",
            "server CPU µs/delivery",
            "load generator CPU",
            "other load on the server's core",
            "note",
        ],
        rows,
    )


def line_plot(
    path: Path, title: str, xlabel: str, ylabel: str, lines: dict[str, list[tuple[int, float]]]
) -> None:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    plotted = {name: points for name, points in lines.items() if points}
    for name, points in plotted.items():
        xs, ys = zip(*points, strict=True)
        axes.plot(xs, ys, marker="o", label=name)
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.grid(True, alpha=0.3)
    if plotted:  # a server with no passing step has no line
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def fanout_plots(out: Path, results: list[FanoutResult]) -> None:
    throughput: dict[str, list[tuple[int, float]]] = {}
    p99: dict[str, list[tuple[int, float]]] = {}
    for result in results:
        throughput.setdefault(result.server, [])
        p99.setdefault(result.server, [])
        if result.best is not None:
            throughput[result.server].append((result.subscribers, result.best.deliveries_per_s))
            if result.best.p99_ms is not None:
                p99[result.server].append((result.subscribers, result.best.p99_ms))
    line_plot(
        out / "fanout_throughput.png",
        "Fan-out: best passing deliveries/s",
        "subscribers",
        "deliveries/s",
        throughput,
    )
    line_plot(
        out / "fanout_p99.png",
        "Fan-out: p99 completion at the best passing step",
        "subscribers",
        "p99 ms (publish → last subscriber)",
        p99,
    )
    # The same load for every server: the ladder's first step, passed or not.
    first_cpu: dict[str, list[tuple[int, float]]] = {}
    first_p99: dict[str, list[tuple[int, float]]] = {}
    for result in results:
        first = result.steps[0] if result.steps else None
        if first is not None and first.server_cpu_us_per_delivery is not None:
            point = (result.subscribers, first.server_cpu_us_per_delivery)
            first_cpu.setdefault(result.server, []).append(point)
        if first is not None and first.p99_ms is not None:
            first_p99.setdefault(result.server, []).append((result.subscribers, first.p99_ms))
    line_plot(
        out / "fanout_first_step_cpu.png",
        "Fan-out at the first step's load: server CPU per delivery",
        "subscribers",
        "server CPU µs/delivery",
        first_cpu,
    )
    line_plot(
        out / "fanout_first_step_p99.png",
        "Fan-out at the first step's load: p99 completion",
        "subscribers",
        "p99 ms (publish → last subscriber)",
        first_p99,
    )


def idle_plots(out: Path, results: list[IdleResult]) -> None:
    memory: dict[str, list[tuple[int, float]]] = {}
    cpu: dict[str, list[tuple[int, float]]] = {}
    for result in results:
        memory.setdefault(result.server, [])
        cpu.setdefault(result.server, [])
        if result.memory_per_connection_bytes is not None:
            memory[result.server].append(
                (result.connections, result.memory_per_connection_bytes / 1024)
            )
        if result.idle_cpu_us_per_connection_per_s is not None:
            cpu[result.server].append((result.connections, result.idle_cpu_us_per_connection_per_s))
    line_plot(
        out / "idle_memory.png",
        "Idle: server memory per connection",
        "connections",
        "KiB per connection",
        memory,
    )
    line_plot(
        out / "idle_cpu.png",
        "Idle: server CPU per connection",
        "connections",
        "µs CPU per connection per second",
        cpu,
    )


def rooms_plot(out: Path, results: list[RoomsResult]) -> None:
    measured = [result for result in results if result.step is not None]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    names = [result.server for result in measured]
    left.bar(names, [result.step.deliveries_per_s for result in measured if result.step])
    left.set(title="Rooms: deliveries/s", ylabel="deliveries/s")
    right.bar(names, [result.step.p99_ms or 0 for result in measured if result.step])
    right.set(title="Rooms: p99 per delivery", ylabel="ms")
    figure.tight_layout()
    figure.savefig(out / "rooms.png", dpi=120)
    plt.close(figure)
