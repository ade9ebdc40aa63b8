"""The frames waiting for one WebSocket client, bounded, with the slow-consumer policy.

Frames are shared between the sockets a broadcast reaches, so the queue
holds references; the byte count is what the frames would take alone.
Subclasses say how the queue is drained (``_wake``): a writer task through
ASGI ``send`` (``_asgi_websocket``) or a write straight to the connection
(``_direct_websocket``).

Invariants:

* At most ``max_frames`` frames and ``max_bytes`` bytes wait, except that one
  frame larger than ``max_bytes`` may wait alone.
* Beyond the bounds, ``"disconnect"`` empties the queue and closes with 1013;
  ``"drop_oldest"`` drops from the front until the new frame fits.
* After ``close`` nothing more is queued.
"""

from __future__ import annotations

import logging
from collections.abc import MutableSequence
from dataclasses import dataclass
from typing import Literal

from .._core.serializer import Frame
from ..telemetry import SLOW_CONSUMER
from .base import CheckOrigin

logger = logging.getLogger("phoenix_py.transport")


@dataclass(frozen=True, slots=True)
class WebSocketOptions:
    """Options of the WebSocket transport, with Phoenix's defaults.

    Args:
        check_origin: see ``transports.base.CheckOrigin``; default: the request's host.
        timeout: seconds without any data from the client before the socket
            closes (1001). phoenix.js heartbeats every 30 s.
        max_frame_size: bytes; a larger frame closes the socket with 1009.
        max_buffered_frames, max_buffered_bytes: what may wait for a client
            that does not read (a slow phone, a stalled network).
        slow_consumer: what happens beyond that: ``"disconnect"`` (close
            1013, phoenix.js reconnects and rejoins) or ``"drop_oldest"``
            (the oldest queued frames are dropped, the socket stays).
    """

    check_origin: CheckOrigin = True
    timeout: float = 60.0
    max_frame_size: int = 10_000_000
    max_buffered_frames: int = 10_000
    max_buffered_bytes: int = 8_000_000
    slow_consumer: Literal["disconnect", "drop_oldest"] = "disconnect"


class Outbox:
    """A bounded queue of frames for one client; see the module docs."""

    __slots__ = (
        "_closing",
        "_drop_oldest",
        "_max_bytes",
        "_max_frames",
        "_queue",
        "_queued_bytes",
        "closed",
        "dropped",
    )

    name = "websocket"

    def __init__(self, options: WebSocketOptions, queue: MutableSequence[Frame]) -> None:
        self._max_frames = options.max_buffered_frames
        self._max_bytes = options.max_buffered_bytes
        self._drop_oldest = options.slow_consumer == "drop_oldest"
        self._queue = queue
        self._queued_bytes = 0
        self.dropped = 0
        self._closing: tuple[int, str] | None = None
        self.closed = False

    def _wake(self) -> None:
        raise NotImplementedError

    def write(self, frame: Frame) -> None:
        if self._closing is not None or self.closed:
            return
        size = len(frame.data)
        queue = self._queue
        if not queue or self._make_room(size):
            queue.append(frame)
            self._queued_bytes += size
            self._wake()

    def _make_room(self, size: int) -> bool:
        """Apply the slow-consumer policy until ``size`` more bytes fit; False when closing."""
        queue = self._queue
        dropped = 0
        while queue and (
            len(queue) >= self._max_frames or self._queued_bytes + size > self._max_bytes
        ):
            if not self._drop_oldest:
                logger.warning(
                    "client is not reading: %d frames (%d bytes) queued; closing with 1013",
                    len(queue),
                    self._queued_bytes,
                )
                self._report("disconnect", 0)
                queue.clear()
                self._queued_bytes = 0
                self.close(1013, "outbound buffer full")
                return False
            if self.dropped == 0:
                logger.warning("client is not reading; dropping its oldest frames")
            self._queued_bytes -= len(queue[0].data)
            del queue[0]
            self.dropped += 1
            dropped += 1
        if dropped:
            self._report("drop_oldest", dropped)
        return True

    def _report(self, action: str, dropped: int) -> None:
        if SLOW_CONSUMER.handlers:
            measurements = {"queued_frames": len(self._queue), "queued_bytes": self._queued_bytes}
            SLOW_CONSUMER.emit(
                {**measurements, "dropped": dropped}, {"transport": self.name, "action": action}
            )

    @property
    def closed_with(self) -> tuple[int, str] | None:
        """The code and reason this side closed with, if it did."""
        return self._closing

    def close(self, code: int, reason: str) -> None:
        if self._closing is None and not self.closed:
            self._closing = (code, reason)
            self._wake()
