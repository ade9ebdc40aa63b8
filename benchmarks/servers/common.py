"""What every built-in server shares: its command line and the same uvicorn settings.

Besides ``--host``/``--port``, every built-in server takes the experiment
options below (``python -m benchmarks --variant`` passes them), so that one
run can measure, side by side, what uvicorn's WebSocket pings or the cyclic
garbage collector cost. The defaults are the suite's settings.
"""

from __future__ import annotations

import argparse
import gc
import json
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn


def arguments(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    group = parser.add_argument_group("experiments")
    group.add_argument(
        "--ws-ping-interval",
        type=float,
        default=None,
        help="uvicorn's WebSocket ping interval and timeout, seconds "
        "(default: none; uvicorn's own default is 20)",
    )
    group.add_argument(
        "--gc",
        choices=("on", "off", "freeze"),
        default="on",
        help="off: gc.disable(); freeze: gc.freeze() once serving, and again after "
        "--gc-freeze-after seconds (objects then are never collected)",
    )
    group.add_argument(
        "--gc-freeze-after",
        type=float,
        action="append",
        default=[],
        metavar="SECONDS",
        help="with --gc freeze: freeze again this long after start (repeatable)",
    )
    group.add_argument(
        "--gc-threshold", type=int, help="the generation-0 threshold (Python's default: 700)"
    )
    group.add_argument(
        "--gc-log",
        type=Path,
        help="append the collector's counts and time per generation (since start) "
        "here every 2 s, one JSON line each",
    )
    return parser


def serve(app: Any, args: argparse.Namespace, ws: Any = "websockets-sansio") -> None:
    """Serve ``app`` on uvicorn with uvloop and httptools, one process."""
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws=ws,
        # Both protocols keep connections alive themselves (phoenix.js
        # heartbeats, Engine.IO pings), as Phoenix does without WebSocket pings.
        ws_ping_interval=args.ws_ping_interval,
        ws_ping_timeout=args.ws_ping_interval,
        lifespan="on",
        log_level="warning",
        backlog=4096,
    )
    collector(args)
    uvicorn.Server(config).run()


def collector(args: argparse.Namespace) -> None:
    """Apply the ``--gc*`` options."""
    if args.gc_threshold is not None:
        _, first, second = gc.get_threshold()
        gc.set_threshold(args.gc_threshold, first, second)
    if args.gc == "off":
        gc.disable()
    elif args.gc == "freeze":
        gc.freeze()
        for delay in args.gc_freeze_after:
            timer = threading.Timer(delay, gc.freeze)
            timer.daemon = True
            timer.start()
    if args.gc_log is not None:
        GCLog(args.gc_log).start()


class GCLog:
    """Collections and their time per generation, from ``gc.callbacks``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.collected = [0, 0, 0]
        self._started = 0.0

    def start(self) -> None:
        gc.callbacks.append(self._callback)
        thread = threading.Thread(target=self._write_every, args=(2.0,), daemon=True)
        thread.start()

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        self.count[generation] += 1
        self.seconds[generation] += time.perf_counter() - self._started
        self.collected[generation] += info["collected"]

    def _write_every(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            document = {
                "time": time.monotonic(),
                "count": self.count,
                "seconds": self.seconds,
                "collected": self.collected,
                "frozen": gc.get_freeze_count(),
                "threshold": gc.get_threshold(),
            }
            with self.path.open("a") as log:
                log.write(json.dumps(document) + "\n")
