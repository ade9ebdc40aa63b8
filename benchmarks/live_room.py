"""Connected LiveViews of one room page, driven over the channel protocol (no browsers).

    python -m benchmarks.live_room [--views 1000] [--messages 30] [--rate 1]
        [--target NAME=http://host:port[,pid=PID]] [--no-builtin]

Each view is opened as the ``phoenix_live_view`` client opens one: the dead
render (``GET`` of the page: its cookies, ``<meta name="csrf-token">`` and
the container's id, ``data-phx-session`` and ``data-phx-static``), the
``/live`` WebSocket with the cookies and ``_csrf_token``, and the join of
``lv:<id>``; then phoenix.js's heartbeat every 30 s. The page is the
contract's room page (``LIVE_CONTRACT.md`` §8): every view tracks its own
name in Presence, so a join sends every view already there a diff.

Then one view posts ``--messages`` messages (``phx-submit="post"``) at
``--rate`` a second, each body carrying its sequence number and send time;
every view of the room receives the message as a ``diff`` push. Reported
per server, measured one after the other on the same cores:

- ``joins/s``: views opened (dead render, connect, join reply) per second,
  ``--concurrency`` at a time; ``settled``: from the first join until no view
  received a diff for a second (the presence diffs of every join have been
  rendered everywhere);
- ``memory/view``: the server's RSS once settled, less its RSS before the
  first view, per view (``pid`` needed for a server given by URL);
- ``CPU/update``: the server's CPU while the messages are delivered, less
  its idle rate measured just before, per view update (messages times views);
- ``diff bytes``: the mean payload of the ``diff`` push that brings a message
  (the frame less its ``[join_ref, ref, topic, "diff", ...]`` envelope);
- ``p50``/``p99``/``max``: from a message's post to the moment the last view
  received it; ``lost``: view updates that never arrived; ``duplicates``: a
  message a view received twice (both should be 0);
- ``loadgen``: the load generator's own CPU share while the views joined and
  while the messages went out (near 100 %: it, not the server, was the limit);
- ``kernel``: the system share of the server's CPU while messages went out
  (the loopback TCP path of every view's write).

Each run uses a room of its own (``--page`` plus a random suffix), so that a
server given by URL can be measured again without leftovers of the last run.

The built-in server is the contract app under the suite's uvicorn settings
(``benchmarks.servers.contract_server``, pinned with ``--server-cpus``); the
load generator runs pinned to ``--client-cpus``. ``--target`` takes any
server of the same page (Phoenix LiveView serving the contract's room page):
its base URL, and its OS pid for the CPU and memory figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import secrets
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import msgspec
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from benchmarks.servers.launch import ServerFailed, cpu_seconds, cpu_times, free_port, rss_bytes

HEARTBEAT_SECONDS = 30.0
QUIET_SECONDS = 1.0
IDLE_SAMPLE_SECONDS = 3.0

_reply = msgspec.json.Decoder(tuple[str | None, str | None, str, str, msgspec.Raw]).decode
_status = msgspec.json.Decoder(dict[str, Any]).decode
_MARKER = re.compile(rb"m(\d+)x(\d+)")
_CONTAINER = re.compile(
    r'<div id="([^"]+)" data-phx-main[^>]*?data-phx-session="([^"]*)"'
    r'[^>]*?data-phx-static="([^"]*)"'
)
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


@dataclass
class Page:
    """What the dead render gives the client to join with."""

    url: str
    cookie: str
    csrf_token: str
    view_id: str
    session: str
    static: str


async def dead_render(host: str, port: int, path: str) -> Page:
    """``GET path`` over a fresh HTTP/1.1 connection, parsed as the client reads the page."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    )
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].split()[1:2] == ["200"]:
        raise RuntimeError(f"GET {path}: {lines[0]}")
    cookies = [
        line.split(":", 1)[1].strip().split(";", 1)[0]
        for line in lines[1:]
        if line.lower().startswith("set-cookie:")
    ]
    text = body.decode()
    container, csrf = _CONTAINER.search(text), _CSRF.search(text)
    if container is None or csrf is None:
        raise RuntimeError(f"GET {path}: no live container or csrf-token meta tag")
    view_id, session, static = (unescape(part) for part in container.groups())
    return Page(
        f"http://{host}:{port}{path}",
        "; ".join(cookies),
        unescape(csrf[1]),
        view_id,
        session,
        static,
    )


@dataclass
class Deliveries:
    """What the views received, shared by all of them (one process)."""

    joined: int = 0
    last_diff: float = 0.0
    diffs: int = 0
    #: seq → (views that received it, time the last one did)
    messages: dict[int, list[int]] = field(default_factory=dict)
    sent: dict[int, int] = field(default_factory=dict)
    payload_bytes: int = 0
    single_diffs: int = 0
    #: a message a view had already received, received again
    duplicates: int = 0
    counting: bool = False


class ViewClient(WSListener):
    """One connected view: join, heartbeats, and the diffs that arrive."""

    def __init__(self, page: Page, deliveries: Deliveries) -> None:
        self.page = page
        self.deliveries = deliveries
        self.topic = f"lv:{page.view_id}"
        self.transport: WSTransport | None = None
        self.joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ref = 1  # "1" is the join's
        self.seen: set[int] = set()
        self._heartbeat: asyncio.TimerHandle | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        payload = {
            "url": self.page.url,
            "params": {"_csrf_token": self.page.csrf_token, "_mounts": 0, "_mount_attempts": 0},
            "session": self.page.session,
            "static": self.page.static,
            "sticky": False,
        }
        self.send(["1", "1", self.topic, "phx_join", payload])
        self._heartbeat = asyncio.get_running_loop().call_later(HEARTBEAT_SECONDS, self.beat)

    def beat(self) -> None:
        self.send([None, self.next_ref(), "phoenix", "heartbeat", {}])
        self._heartbeat = asyncio.get_running_loop().call_later(HEARTBEAT_SECONDS, self.beat)

    def next_ref(self) -> str:
        self.ref += 1
        return str(self.ref)

    def send(self, message: list[Any]) -> None:
        if self.transport is not None:
            self.transport.send(WSMsgType.TEXT, msgspec.json.encode(message))

    def post(self, body: str) -> None:
        value = f"body={quote(body)}"
        event = {"type": "form", "event": "post", "value": value}
        self.send(["1", self.next_ref(), self.topic, "event", event])

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CLOSE:
            transport.disconnect()
        elif frame.msg_type is WSMsgType.TEXT:
            self.on_text(frame.get_payload_as_bytes())

    def on_text(self, data: bytes) -> None:
        deliveries = self.deliveries
        _join_ref, ref, _topic, event, payload = _reply(data)
        if event == "diff":
            now = time.monotonic()
            deliveries.last_diff = now
            deliveries.diffs += 1
            if deliveries.counting:
                markers = _MARKER.findall(data)
                for seq, _sent in markers:
                    if int(seq) in self.seen:
                        deliveries.duplicates += 1
                        continue
                    self.seen.add(int(seq))
                    seen = deliveries.messages.setdefault(int(seq), [0, 0])
                    seen[0] += 1
                    seen[1] = time.monotonic_ns()
                if len(markers) == 1:  # a diff of one message alone: its size
                    deliveries.single_diffs += 1
                    deliveries.payload_bytes += len(payload)
        elif event == "phx_reply" and ref == "1" and not self.joined.done():
            status = _status(payload).get("status")
            if status == "ok":
                deliveries.joined += 1
                self.joined.set_result(None)
            else:
                self.joined.set_exception(RuntimeError(f"join refused: {bytes(payload)[:200]!r}"))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if not self.joined.done():
            self.joined.set_exception(RuntimeError("disconnected before the join reply"))

    def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self.transport is not None:
            self.transport.send_close()
            self.transport.disconnect()


@dataclass
class Server:
    name: str
    base: str
    pid: int | None
    process: asyncio.subprocess.Process | None = None


async def start_builtin(cpus: str, extra: str = "") -> Server:
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.servers.contract_server", "--port", str(port)]
    command += shlex.split(extra)
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=Path(__file__).resolve().parents[1]
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise ServerFailed(f"the contract server exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await asyncio.sleep(0.3)
        return Server("phoenix_py", f"http://127.0.0.1:{port}", process.pid, process)
    process.kill()
    raise ServerFailed("the contract server did not listen within 20 s")


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL: thousands of views leaving the room one by one (each
    a presence diff for every other) is no part of the measurement."""
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 5)
    except TimeoutError:
        process.kill()
        await process.wait()


def parse_target(spec: str) -> Server:
    first, *options = spec.split(",")
    name, separator, base = first.partition("=")
    settings = dict(option.partition("=")[::2] for option in options)
    if not separator or not base.startswith("http://"):
        raise SystemExit(f"--target {spec!r}: expected NAME=http://host:port[,pid=PID]")
    pid = settings.pop("pid", None)
    if settings:
        raise SystemExit(f"--target {spec!r}: unknown options {sorted(settings)}")
    return Server(name, base.rstrip("/"), int(pid) if pid else None)


async def open_view(
    server: Server, args: argparse.Namespace, room: str, index: int, deliveries: Deliveries
) -> ViewClient:
    parts = urlsplit(server.base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    page = await dead_render(host, port, f"{room}?name=u{index:05d}")
    query = f"_csrf_token={quote(page.csrf_token)}&vsn=2.0.0"
    url = f"ws://{host}:{port}{args.socket}/websocket?{query}"
    _, client = await ws_connect(
        lambda: ViewClient(page, deliveries),
        url,
        extra_headers={"cookie": page.cookie, "origin": f"http://{host}:{port}"},
        enable_auto_pong=True,
        # A server busy with a join storm answers late: that is measured, not a failure.
        websocket_handshake_timeout=120,
    )
    assert isinstance(client, ViewClient)
    await client.joined
    return client


async def wait_quiet(deliveries: Deliveries, limit: float) -> float | None:
    """Seconds until no diff arrived for ``QUIET_SECONDS`` (None: still busy at ``limit``)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        await asyncio.sleep(0.2)
        if time.monotonic() - max(deliveries.last_diff, started) >= QUIET_SECONDS:
            return time.monotonic() - started - QUIET_SECONDS
    return None


async def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    deliveries = Deliveries()
    room = f"{args.page}-{secrets.token_hex(3)}"
    rss_before = rss_bytes(server.pid)
    views: list[ViewClient] = []
    gate = asyncio.Semaphore(args.concurrency)

    async def one(index: int) -> None:
        async with gate:
            views.append(await open_view(server, args, room, index, deliveries))

    started, loadgen_started = time.monotonic(), time.process_time()
    await asyncio.gather(*(one(index) for index in range(args.views)))
    joined_in = time.monotonic() - started
    loadgen_joins = (time.process_time() - loadgen_started) / joined_in
    settled_after = await wait_quiet(deliveries, args.settle_limit)
    result: dict[str, Any] = {
        "server": server.name,
        "views": args.views,
        "joins_per_s": args.views / joined_in,
        "settled_s": None if settled_after is None else joined_in + settled_after,
        "join_diffs": deliveries.diffs,
        "loadgen_joins": loadgen_joins,
    }
    rss_after = rss_bytes(server.pid)
    if rss_before is not None and rss_after is not None:
        result["memory_per_view"] = (rss_after - rss_before) / args.views
    idle_before = cpu_seconds(server.pid)
    await asyncio.sleep(IDLE_SAMPLE_SECONDS)
    idle_after = cpu_seconds(server.pid)
    idle_rate = (
        (idle_after - idle_before) / IDLE_SAMPLE_SECONDS
        if idle_before is not None and idle_after is not None
        else 0.0
    )
    deliveries.counting = True
    publisher = views[0]
    cpu_start, window_start = cpu_times(server.pid), time.monotonic()
    loadgen_started = time.process_time()
    for seq in range(args.messages):
        deliveries.sent[seq] = time.monotonic_ns()
        publisher.post(f"m{seq}x{deliveries.sent[seq]}")
        await asyncio.sleep(1 / args.rate)
    await wait_quiet(deliveries, 60)
    cpu_end, window = cpu_times(server.pid), time.monotonic() - window_start - QUIET_SECONDS
    result["loadgen_messages"] = (time.process_time() - loadgen_started) / (window + QUIET_SECONDS)
    updates = sum(seen[0] for seen in deliveries.messages.values())
    result["lost"] = args.messages * args.views - updates
    result["duplicates"] = deliveries.duplicates
    singles = deliveries.single_diffs
    result["diff_bytes"] = deliveries.payload_bytes / singles if singles else None
    latencies = sorted(
        (seen[1] - deliveries.sent[seq]) / 1e6 for seq, seen in deliveries.messages.items()
    )
    if latencies:
        result["p50_ms"] = statistics.median(latencies)
        result["p99_ms"] = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        result["max_ms"] = latencies[-1]
    if cpu_start is not None and cpu_end is not None and updates:
        user, system = cpu_end[0] - cpu_start[0], cpu_end[1] - cpu_start[1]
        result["cpu_per_update_us"] = (user + system - idle_rate * window) / updates * 1e6
        result["kernel_share"] = system / (user + system) if user + system else None
        result["idle_cpu_share"] = idle_rate
    for view in views:
        view.close()
    await asyncio.sleep(0.5)
    return result


def report(result: dict[str, Any]) -> str:
    def figure(key: str, fmt: str) -> str:
        value = result.get(key)
        return "n/a" if value is None else format(value, fmt)

    settled = result["settled_s"]
    return (
        f"{result['server']:>12} {result['views']:>6} views  "
        f"joins/s {result['joins_per_s']:7.1f}  "
        f"settled {'not settled' if settled is None else f'{settled:6.1f} s'}  "
        f"join diffs {result['join_diffs']:>9}  "
        f"memory/view {figure('memory_per_view', ',.0f')} B  "
        f"CPU/update {figure('cpu_per_update_us', '.1f')} µs "
        f"(kernel {figure('kernel_share', '.0%')})  "
        f"diff {figure('diff_bytes', '.0f')} B  "
        f"p50 {figure('p50_ms', '.1f')} p99 {figure('p99_ms', '.1f')} "
        f"max {figure('max_ms', '.1f')} ms  lost {result['lost']}  "
        f"duplicates {result['duplicates']}  "
        f"loadgen {result['loadgen_joins']:.0%}/{result['loadgen_messages']:.0%}"
    )


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--views", type=int, action="append", help="repeatable (default 1000)")
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second")
    parser.add_argument("--concurrency", type=int, default=50, help="views opening at once")
    parser.add_argument(
        "--page", default="/lv/room/bench", help="the room page's path (a suffix is added)"
    )
    parser.add_argument("--socket", default="/live", help="the LiveView socket's path")
    parser.add_argument("--settle-limit", type=float, default=600.0, help="seconds")
    parser.add_argument("--target", action="append", default=[], type=parse_target)
    parser.add_argument("--no-builtin", action="store_true", help="only the --target servers")
    parser.add_argument(
        "--server-args",
        default="",
        help="more arguments for the built-in server (benchmarks/servers/common.py: --gc off, ...)",
    )
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--client-cpus", default="1")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.views = args.views or [1000]
    return args


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for views in args.views:
        servers = (
            [] if args.no_builtin else [await start_builtin(args.server_cpus, args.server_args)]
        )
        servers += args.target
        for server in servers:
            args_for = argparse.Namespace(**{**vars(args), "views": views})
            try:
                result = await measure(server, args_for)
            finally:
                if server.process is not None:
                    await stop(server.process)
            print(report(result), flush=True)
            results.append(result)
    return results


def main() -> None:
    args = arguments()
    if args.client_cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.client_cpus.split(",")})
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import uvloop

    results = uvloop.run(run(args))
    if args.json is not None:
        args.json.write_text(msgspec.json.encode(results).decode())


if __name__ == "__main__":
    main()
