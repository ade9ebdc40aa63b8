"""Telemetry from a real uvicorn, on both WebSocket paths: what the transports
report (connections, frames, limits, closes with their reasons)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import websockets

from examples.contract.app import create_app
from phoenix_py import telemetry

from ..waiting import eventually
from .servers import WS_MODES, serve

pytestmark = pytest.mark.slow

WATCHED = [
    telemetry.SOCKET_CONNECTED,
    telemetry.SOCKET_CLOSED,
    telemetry.CHANNEL_JOINED,
    telemetry.CHANNEL_LEFT,
    telemetry.MESSAGE_IN,
    telemetry.LIMIT_REACHED,
]


class Recorder:
    """Handlers run on the server's thread; list appends are atomic."""

    def __init__(self) -> None:
        self.seen: list[tuple[telemetry.EventName, Mapping[str, Any], Mapping[str, Any]]] = []

    def __call__(self, name: Any, measurements: Any, metadata: Any, config: Any) -> None:
        self.seen.append((name, measurements, metadata))

    def metadata(self, event: telemetry.Event) -> list[Mapping[str, Any]]:
        return [metadata for name, _, metadata in self.seen if name == event.name]


@pytest.fixture()
def recorder() -> Iterator[Recorder]:
    recording = Recorder()
    telemetry.attach("ws-recorder", [event.name for event in WATCHED], recording)
    yield recording
    telemetry.detach("ws-recorder")


@pytest.mark.parametrize("ws", WS_MODES)
def test_a_connection_and_its_oversized_frame_are_reported_with_reasons(
    ws: str, recorder: Recorder
) -> None:
    app = create_app(max_frame_size=1_000)
    with serve(app, ws) as server:

        async def go() -> None:
            async with websockets.connect(server.url() + "&user=ann") as client:
                await client.send(json.dumps(["1", "1", "room:lobby", "phx_join", {}]))
                assert json.loads(await client.recv())[4]["status"] == "ok"
                await client.send(json.dumps(["1", "2", "room:lobby", "shout", "x" * 2_000]))
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(client.recv(), 5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            await eventually(lambda: recorder.metadata(telemetry.SOCKET_CLOSED) != [])

        asyncio.run(go())

    [connected] = recorder.metadata(telemetry.SOCKET_CONNECTED)
    assert connected["result"] == "ok" and connected["transport"] == "websocket"
    [joined] = recorder.metadata(telemetry.CHANNEL_JOINED)
    assert joined["topic"] == "room:lobby" and joined["result"] == "ok"
    assert len(recorder.metadata(telemetry.MESSAGE_IN)) == 2
    assert recorder.metadata(telemetry.LIMIT_REACHED) == [
        {"limit": "max_frame_size", "transport": "websocket"}
    ]
    [left] = recorder.metadata(telemetry.CHANNEL_LEFT)
    assert left["topic"] == "room:lobby" and left["reason"] == "closed"
    [closed] = recorder.metadata(telemetry.SOCKET_CLOSED)
    assert closed["code"] == 1009 and "exceeds 1000" in closed["reason"]
    assert closed["transport"] == "websocket"


@pytest.mark.parametrize("ws", WS_MODES)
def test_a_refused_connection_is_reported_with_its_reason(ws: str, recorder: Recorder) -> None:
    with serve(create_app(), ws) as server:

        async def go() -> None:
            with pytest.raises(websockets.InvalidStatus):
                async with websockets.connect(server.url() + "&token=bad"):
                    pass

        asyncio.run(go())
    [refused] = recorder.metadata(telemetry.SOCKET_CONNECTED)
    assert refused["result"] == "error" and refused["transport"] == "websocket"
    assert recorder.metadata(telemetry.SOCKET_CLOSED) == []
