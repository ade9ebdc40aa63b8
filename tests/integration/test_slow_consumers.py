"""A subscriber that never reads must not delay the others, nor grow the
server's memory beyond its cap (a real uvicorn, real sockets)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from typing import Any

import pytest
import websockets

from examples.contract.app import create_app
from phoenix_py import Endpoint, telemetry

from ..waiting import eventually
from .servers import WS_MODES, ThreadedServer, serve

MESSAGES = 4_000
PAYLOAD = {"pad": "x" * 4_000}  # 4,000 messages of 4 kB: 16 MB per subscriber
FAST_CLIENTS = 5
CAP_BYTES = 256_000


def masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def stalled_client(port: int, topic: str) -> socket.socket:
    """A WebSocket client with a tiny receive buffer that joins and never reads again."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        f"GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += raw.recv(1024)
    assert b" 101 " in response.split(b"\r\n")[0]
    raw.sendall(masked_text_frame(json.dumps(["1", "1", topic, "phx_join", {}])))
    return raw


def queued_bytes(endpoint: Endpoint) -> list[int]:
    """Per socket: its queue, plus what the connection buffers under the direct path."""
    sizes = []
    for server in list(endpoint._sockets):
        transport: Any = server.transport
        connection = getattr(transport, "_connection", None)
        buffered = connection.buffered_bytes() if connection is not None else 0
        sizes.append(transport._queued_bytes + buffered)
    return sizes


def run_scenario(server: ThreadedServer, topic: str) -> dict[str, Any]:
    endpoint: Endpoint = server.app.state.endpoint
    stalled = stalled_client(server.port, topic)
    peak = 0

    async def fast_client(ready: asyncio.Event, counts: list[int], index: int) -> None:
        async with websockets.connect(server.url(), max_size=None) as ws:
            await ws.send(json.dumps(["1", "1", topic, "phx_join", {}]))
            await ws.recv()
            ready.set()
            received = 0
            while received < MESSAGES:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if frame[3] == "broadcast":
                    assert frame[4]["n"] == received  # in order, none lost
                    received += 1
            counts[index] = received

    async def publish() -> None:
        for n in range(MESSAGES):
            await endpoint.broadcast(topic, "broadcast", {"n": n, **PAYLOAD})
            if n % 50 == 0:
                await asyncio.sleep(0.02)  # a pace the fast (Python) clients keep up with

    async def go() -> dict[str, Any]:
        nonlocal peak
        counts = [0] * FAST_CLIENTS
        readies = [asyncio.Event() for _ in range(FAST_CLIENTS)]
        clients = [
            asyncio.create_task(fast_client(readies[i], counts, i)) for i in range(FAST_CLIENTS)
        ]
        for ready in readies:
            await asyncio.wait_for(ready.wait(), 5)
        await eventually(  # the stalled client's join is in
            lambda: endpoint.pubsub.subscriber_count(topic) == FAST_CLIENTS + 1
        )
        started = time.monotonic()
        publishing = asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(publish(), server.loop)  # type: ignore[arg-type]
        )
        while not all(c.done() for c in clients):
            peak = max([peak, *queued_bytes(endpoint)])
            await asyncio.sleep(0.01)
        await publishing
        for client in clients:
            await client  # re-raise an assertion from a fast client
        await eventually(lambda: len(endpoint._sockets) == 1)  # the fast clients' sockets go away
        stalled_transports = [s.transport for s in list(endpoint._sockets)]
        return {
            "counts": counts,
            "seconds": time.monotonic() - started,
            "peak": peak,
            "closing": [t._closing for t in stalled_transports],  # type: ignore[attr-defined]
            "dropped": [t.dropped for t in stalled_transports],  # type: ignore[attr-defined]
        }

    try:
        return asyncio.run(go())
    finally:
        stalled.close()


@pytest.mark.parametrize("ws", WS_MODES)
@pytest.mark.parametrize("policy", ["disconnect", "drop_oldest"])
def test_a_stalled_subscriber_delays_nobody_and_stays_within_its_cap(policy: str, ws: str) -> None:
    app = create_app(max_buffered_bytes=CAP_BYTES, slow_consumer=policy)
    reports: list[tuple[dict[str, Any], dict[str, Any]]] = []
    telemetry.attach(
        "slow-consumers",
        [telemetry.SLOW_CONSUMER.name],
        lambda _, measured, metadata, __: reports.append((dict(measured), dict(metadata))),
    )
    try:
        with serve(app, ws) as server:
            result = run_scenario(server, f"bench:{policy}")
    finally:
        telemetry.detach("slow-consumers")
    assert result["counts"] == [MESSAGES] * FAST_CLIENTS
    # What waits for the stalled client never exceeds the cap (plus one frame).
    assert result["peak"] <= CAP_BYTES + 5_000
    # Only the stalled socket is left, and the policy was applied to it.
    # ... and reported: once for a disconnect, per write that dropped for drop_oldest.
    assert {metadata["action"] for _, metadata in reports} == {policy}
    assert {metadata["transport"] for _, metadata in reports} == {"websocket"}
    if policy == "disconnect":
        assert result["closing"] == [(1013, "outbound buffer full")]
        assert len(reports) == 1 and reports[0][0]["queued_bytes"] > 0
    else:
        assert result["closing"] == [None]
        assert result["dropped"][0] > 0
        assert sum(measured["dropped"] for measured, _ in reports) == result["dropped"][0]
