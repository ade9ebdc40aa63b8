"""The direct path's writes: broadcasts share a write per loop pass; what a client's own
frames make (a heartbeat's reply) goes out at the end of that read, without waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from phoenix_py._core.serializer import Frame
from phoenix_py.transports._direct_websocket import DirectWebSocketTransport
from phoenix_py.transports._outbox import WebSocketOptions


class FakeConnection:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.writing_paused = False

    def adopt(self, *callbacks: Callable[..., None]) -> None:
        return None

    def write_frames(self, data: bytes) -> int:
        self.writes.append(data)
        return 0

    def buffered_bytes(self) -> int:
        return 0

    def close(self, code: int, reason: str) -> None:
        return None


def frame(text: str) -> Frame:
    return Frame(text.encode())


def test_a_reply_made_while_reading_goes_out_at_the_end_of_the_read() -> None:
    async def go() -> tuple[list[bytes], list[bytes]]:
        connection = FakeConnection()
        transport = DirectWebSocketTransport(connection, WebSocketOptions())
        transport.reading = True
        transport.write(frame("reply one"))
        transport.write(frame("reply two"))
        assert connection.writes == []
        transport.read_done()  # both in one write, at once
        at_once = list(connection.writes)
        await asyncio.sleep(0)
        return at_once, connection.writes

    at_once, after = asyncio.run(go())
    assert at_once == [frame("reply one").wire + frame("reply two").wire]
    assert after == at_once  # nothing more on the next pass


def test_broadcasts_wait_for_the_loop_pass_and_share_a_write() -> None:
    async def go() -> tuple[list[bytes], list[bytes]]:
        connection = FakeConnection()
        transport = DirectWebSocketTransport(connection, WebSocketOptions())
        transport.write(frame("one"))
        transport.write(frame("two"))
        before = list(connection.writes)
        await asyncio.sleep(0)
        return before, connection.writes

    before, after = asyncio.run(go())
    assert before == [] and after == [frame("one").wire + frame("two").wire]
