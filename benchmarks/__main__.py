"""Run a benchmark scenario against several servers, side by side.

    python -m benchmarks fanout --servers phoenix_py,phoenix_py_asgi,socketio
    python -m benchmarks idle --connections 5000,18000
    python -m benchmarks idle --idle-topics shared --heartbeat-spread connect
    python -m benchmarks rooms --rooms 3000
    python -m benchmarks all [--quick]
    python -m benchmarks recovery [--clients 1000 --missed 100]   (benchmarks/recovery.py)

Results go to ``benchmarks/results/`` (``--out``); see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import uvloop

from benchmarks import report
from benchmarks.loadgen.coordinator import MAX_SOCKETS_PER_WORKER
from benchmarks.scenarios import (
    HEARTBEAT_SPREADS,
    IDLE_TOPICS,
    Environment,
    FanoutSettings,
    IdleSettings,
    RoomsSettings,
    fanout,
    idle,
    rooms,
)
from benchmarks.servers.launch import BUILTIN, Target, parse_target, parse_variant

# Defaults, then what --quick changes: (full, quick)
DEFAULTS: dict[str, tuple[Any, Any]] = {
    "subscribers": ("1000,5000,10000,18000", "100,1000"),
    "rates": (
        "20000,40000,70000,100000,150000,200000,300000,400000,600000,800000",
        "20000,50000,100000",
    ),
    "warmup": (2.0, 1.0),
    "window": (5.0, 2.0),
    "connections": ("5000,18000", "200"),
    "idle_window": (60.0, 5.0),
    "settle": (5.0, 1.0),
    "baseline": (2.0, 0.5),
    "rooms": (3000, 200),
    "interval": (2.0, 1.0),
}


def numbers(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def choices(text: str, allowed: tuple[str, ...], option: str) -> list[str]:
    chosen = [part for part in text.split(",") if part]
    for part in chosen:
        if part not in allowed:
            raise SystemExit(f"{option}: {part!r} is not one of {', '.join(allowed)}")
    return chosen


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", choices=("fanout", "idle", "rooms", "all"))
    parser.add_argument(
        "--servers",
        default="phoenix_py,phoenix_py_asgi,socketio",
        help=f"built-in servers, comma-separated, of {', '.join(BUILTIN)}; '' for none",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="SPEC",
        help="another server: name=ws://host:port/path,adapter=phoenix|socketio"
        "[,pid=1234] (repeatable)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="SPEC",
        help="a built-in server with more arguments, measured under its own name: "
        "name=builtin[:arguments], e.g. 'phoenix_py_gcoff=phoenix_py:--gc off' (repeatable)",
    )
    parser.add_argument("--quick", action="store_true", help="small N and short windows")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    group = parser.add_argument_group("fanout")
    group.add_argument("--subscribers", help="subscriber counts (default 1000,5000,10000,18000)")
    group.add_argument("--rates", help="the ladder in deliveries/s; publish rate = this ÷ N")
    group.add_argument("--warmup", type=float, help="seconds before each window (default 2)")
    group.add_argument("--window", type=float, help="seconds measured per step (default 5)")
    group.add_argument(
        "--drain-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for late deliveries after a window",
    )
    group = parser.add_argument_group("idle")
    group.add_argument("--connections", help="connection counts (default 5000,18000)")
    group.add_argument("--idle-window", type=float, help="seconds of idle CPU (default 60)")
    group.add_argument("--settle", type=float, help="seconds after joining before memory")
    group.add_argument(
        "--idle-topics",
        default="per-connection",
        help="per-connection: connection n joins bench:<n> (default); shared: every "
        "connection joins bench:idle; both, comma-separated, are measured side by side",
    )
    group.add_argument(
        "--heartbeat-spread",
        default="even",
        help="even: phoenix.js heartbeats spread evenly over the interval across the "
        "connections (default); connect: each one's 30 s after its own open, in bursts "
        "as long as the connect phase; comma-separated for both",
    )
    group.add_argument(
        "--baseline",
        type=float,
        help="seconds of the fresh server's own CPU before connecting (default 2)",
    )
    group = parser.add_argument_group("rooms")
    group.add_argument("--rooms", type=int, help="number of rooms (default 3000)")
    group.add_argument("--members", default="2-6", help="members per room, min-max")
    group.add_argument(
        "--interval", type=float, help="seconds between messages in each room (default 2)"
    )
    group.add_argument("--seed", type=int, default=1, help="seed of the room sizes")
    group = parser.add_argument_group("machine")
    group.add_argument("--server-cpus", default="0", help="CPUs of the server (taskset -c)")
    group.add_argument(
        "--loadgen-cpus", default="1", help="CPUs of the load generator, comma-separated"
    )
    group.add_argument("--sockets-per-worker", type=int, default=10_000)
    group.add_argument("--sockets-per-address", type=int, default=10_000)
    group.add_argument(
        "--connect-concurrency", type=int, default=100, help="connects in flight per worker"
    )
    group.add_argument(
        "--connect-rate",
        type=float,
        help="pace the connects at this many per second in all (clients arriving over "
        "time, so that per-connection timers such as uvicorn's pings are spread as in "
        "production); default: as fast as the server takes them",
    )
    group.add_argument(
        "--heartbeat",
        type=float,
        default=30.0,
        help="phoenix adapter heartbeat seconds (phoenix.js: 30)",
    )
    group.add_argument(
        "--retry-disturbed",
        type=int,
        default=0,
        metavar="N",
        help="measure a window again (a fanout or rooms step; an idle session, with a "
        "fresh server) while the server's core had more than --disturbed-above of other "
        "load, up to N times (default 0: never)",
    )
    group.add_argument(
        "--disturbed-above",
        type=float,
        default=0.05,
        metavar="SHARE",
        help="other load on the server's core, as a share of a core, above which a "
        "window is disturbed (default 0.05)",
    )
    return parser


def with_defaults(args: argparse.Namespace) -> argparse.Namespace:
    for name, (full, quick) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def targets(args: argparse.Namespace) -> list[Target]:
    chosen = []
    for name in filter(None, args.servers.split(",")):
        if name not in BUILTIN:
            raise SystemExit(f"unknown server {name!r}; built-in: {', '.join(BUILTIN)}")
        chosen.append(BUILTIN[name])
    chosen += [parse_variant(spec) for spec in args.variant]
    chosen += [parse_target(spec) for spec in args.target]
    if not chosen:
        raise SystemExit("no server to measure: give --servers or --target")
    return chosen


async def run(args: argparse.Namespace) -> None:
    servers = targets(args)
    if not 0 < args.sockets_per_worker < MAX_SOCKETS_PER_WORKER:
        raise SystemExit(f"--sockets-per-worker must be below {MAX_SOCKETS_PER_WORKER}")
    environment = Environment(
        server_cpus=args.server_cpus,
        loadgen_cpus=args.loadgen_cpus,
        sockets_per_worker=args.sockets_per_worker,
        sockets_per_address=args.sockets_per_address,
        connect_concurrency=args.connect_concurrency,
        connect_rate=args.connect_rate,
        heartbeat_seconds=args.heartbeat,
        retry_disturbed=args.retry_disturbed,
        disturbed_above=args.disturbed_above,
    )
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    machine_settings = environment.settings()
    sections = []
    if args.scenario in ("fanout", "all"):
        fanout_settings = FanoutSettings(
            numbers(args.subscribers),
            numbers(args.rates),
            args.warmup,
            args.window,
            args.drain_timeout,
        )
        fanout_results = await fanout(servers, fanout_settings, environment)
        sections.append(save(out, "fanout", fanout_settings, machine_settings, fanout_results))
    if args.scenario in ("idle", "all"):
        idle_settings = IdleSettings(
            numbers(args.connections),
            args.settle,
            args.idle_window,
            topics=choices(args.idle_topics, IDLE_TOPICS, "--idle-topics"),
            heartbeat_spread=choices(
                args.heartbeat_spread, HEARTBEAT_SPREADS, "--heartbeat-spread"
            ),
            baseline=args.baseline,
        )
        idle_results = await idle(servers, idle_settings, environment)
        sections.append(save(out, "idle", idle_settings, machine_settings, idle_results))
    if args.scenario in ("rooms", "all"):
        smallest, largest = numbers(args.members.replace("-", ","))
        rooms_settings = RoomsSettings(
            args.rooms,
            smallest,
            largest,
            args.interval,
            args.warmup,
            args.window,
            args.seed,
            args.drain_timeout,
        )
        rooms_results = await rooms(servers, rooms_settings, environment)
        sections.append(save(out, "rooms", rooms_settings, machine_settings, rooms_results))
    if args.scenario == "all":
        write(out, "all", "\n".join(sections))


# Per scenario: its markdown tables and its plots.
OUTPUTS: dict[str, tuple[Any, Any]] = {
    "fanout": (report.fanout_markdown, report.fanout_plots),
    "idle": (report.idle_markdown, report.idle_plots),
    "rooms": (report.rooms_markdown, report.rooms_plot),
}


def save(
    out: Path, scenario: str, settings: Any, machine_settings: dict[str, Any], results: list[Any]
) -> str:
    """JSON, markdown and plots of one scenario; return the markdown for ``all.md``."""
    report.write_json(out, scenario, {**dataclasses.asdict(settings), **machine_settings}, results)
    markdown, plots = OUTPUTS[scenario]
    plots(out, results)
    return write(out, scenario, markdown(results))


def write(out: Path, scenario: str, markdown: str) -> str:
    """Write ``<scenario>.md`` and print it; return it for ``all.md``."""
    (out / f"{scenario}.md").write_text(markdown)
    print(markdown, flush=True)
    return markdown


def main() -> None:
    if sys.argv[1:2] == ["recovery"]:  # its own options: python -m benchmarks recovery --help
        from benchmarks import recovery

        recovery.main(sys.argv[2:])
        return
    args = with_defaults(parser().parse_args())
    if args.loadgen_cpus:
        # The coordinator stays off the server's core too.
        os.sched_setaffinity(0, {int(cpu) for cpu in args.loadgen_cpus.split(",")})
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
