"""``phoenix_py.uvicorn.WebSocketProtocol`` loaded the way users load it: from the
uvicorn command line (``--ws phoenix_py.uvicorn:WebSocketProtocol``), on a real
uvicorn process, with a real WebSocket client.

The protocol is recognisable from outside: it declines permessage-deflate,
which uvicorn's own protocols accept. A stopping server closes its
connections with 1012 and exits at once (no connection keeps it waiting).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
import websockets

from .conftest import HOST, _free_port

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hello_cli() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``uvicorn examples.hello.app:app --ws phoenix_py.uvicorn:WebSocketProtocol``."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])}
    env["PYTHONPATH"] += os.pathsep + os.environ.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "examples.hello.app:app"),
            *("--host", HOST, "--port", str(port), "--log-level", "warning"),
            *("--ws", "phoenix_py.uvicorn:WebSocketProtocol"),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                output = proc.communicate()[0].decode(errors="replace")
                pytest.fail(f"uvicorn did not start:\n{output}")
            time.sleep(0.05)
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_the_cli_loads_the_protocol_and_it_serves_channels(
    hello_cli: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = hello_cli
    url = f"ws://{HOST}:{port}/socket/websocket?vsn=2.0.0&user=ann"

    async def scenario() -> dict[str, object]:
        # websockets' client offers permessage-deflate by default.
        async with websockets.connect(url) as ws:
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
            await ws.send(json.dumps(["1", "1", "room:lobby", "phx_join", {}]))
            joined = json.loads(await ws.recv())
            await ws.send(json.dumps(["1", "2", "room:lobby", "ping", {"n": 1}]))
            pong = json.loads(await ws.recv())
            # uvicorn stops: the connection is closed with 1012 (clients reconnect).
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
            return {"extensions": extensions, "joined": joined, "pong": pong, "code": code}

    observed = asyncio.run(scenario())
    assert observed["extensions"] is None  # declined: this is phoenix_py's protocol
    assert observed["joined"] == [
        "1",
        "1",
        "room:lobby",
        "phx_reply",
        {"status": "ok", "response": {"user": "ann"}},
    ]
    assert observed["pong"] == [
        "1",
        "2",
        "room:lobby",
        "phx_reply",
        {"status": "ok", "response": {"pong": {"n": 1}}},
    ]
    assert observed["code"] == 1012
    # No connection kept the shutdown waiting; uvicorn re-raises the signal at its end.
    assert proc.wait(5) in (0, -signal.SIGTERM)


def test_uvicorn_run_loads_the_class(tmp_path: Path) -> None:
    """``uvicorn.Config(app, ws=WebSocketProtocol)`` (what ``uvicorn.run`` builds)."""
    from examples.hello.app import app
    from phoenix_py.uvicorn import WebSocketProtocol

    config = uvicorn.Config(app, ws=WebSocketProtocol)
    config.load()
    assert config.ws_protocol_class is WebSocketProtocol
    by_name = uvicorn.Config(app, ws="phoenix_py.uvicorn:WebSocketProtocol")
    by_name.load()
    assert by_name.ws_protocol_class is WebSocketProtocol
