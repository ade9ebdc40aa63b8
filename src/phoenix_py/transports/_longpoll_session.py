"""One LongPoll session: a socket server whose transport is a buffer that polls drain.

Phoenix runs a ``LongPoll.Server`` process per session (PHOENIX_PROTOCOL.md
§4.3-§4.6); this is its counterpart. The session is the ``Transport`` of its
``SocketServer``: ``write`` buffers frames and wakes the waiting poll, and
``close`` ends the session. The same socket and channel code runs behind it
as behind a WebSocket.

Invariants:

* At most one poll waits at a time. A newer poll takes the place of an older
  one, which then gets nothing and returns empty when its window ends (as in
  Phoenix, where only the newest listener is told of new messages).
* Client frames reach the socket server in arrival order (``feed``), even
  when several POSTs overlap. A POST that stops waiting (408) does not cancel
  the frame being handled; the session goes on with it.
* The buffer holds text frames only, at most ``max_buffered_messages``; binary
  frames cannot travel over LongPoll and are dropped with a warning (Phoenix
  cannot send them either, §7.9).
* Once closed, a session buffers nothing, accepts no frame, and has told its
  owner (``on_end``) exactly once. It closes on a server-side close (a
  ``disconnect``, a malformed frame, shutdown) and when no poll has waited on
  it for ``window * 1.5`` seconds (reason ``"inactive"``, §4.6).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence

from .._core.longpoll_wire import ClientFrame
from .._core.serializer import Frame
from .._socket_server import SocketServer
from ..telemetry import SLOW_CONSUMER
from ..types import Transport

logger = logging.getLogger("phoenix_py.transport")

#: The JSON ``status`` of a POST (§4.4).
ACCEPTED, REQUEST_TIMEOUT, GONE = 200, 408, 410


class LongPollSession:
    """The server side of one LongPoll client; see the module docs.

    Args:
        open_server: makes the session's socket server, given the session as
            its transport (``SocketHost.open`` with the connected socket).
        window: seconds a poll waits for frames, and a POST for each frame.
        max_buffered_messages: frames held for a client that does not poll;
            one more closes the session (1013).
        on_end: called once with this session when it closes.
    """

    name = "longpoll"

    def __init__(
        self,
        open_server: Callable[[Transport], SocketServer],
        *,
        window: float,
        max_buffered_messages: int,
        on_end: Callable[[LongPollSession], None],
    ) -> None:
        self.session_id = secrets.token_urlsafe(16)
        self.closed = False
        self._window = window
        self._inactive_after = window * 1.5
        self._max_buffered = max_buffered_messages
        self._on_end = on_end
        self._buffer: list[Frame] = []
        self._waiting_poll: asyncio.Future[None] | None = None
        self._warned_binary = False
        self._loop = asyncio.get_running_loop()
        self._last_poll = self._loop.time()
        self._expiry = self._loop.call_later(self._inactive_after, self._check_inactive)
        self.server = open_server(self)

    def __repr__(self) -> str:
        return f"<LongPollSession {self.session_id} {self.server!r}>"

    # Transport (from the socket server)

    def write(self, frame: Frame) -> None:
        if self.closed:
            return
        if frame.binary:
            if not self._warned_binary:
                self._warned_binary = True
                logger.warning(
                    "%r: binary frames cannot be sent over LongPoll (nor can Phoenix send "
                    "them); dropped. Send JSON payloads to LongPoll clients",
                    self,
                )
            return
        if len(self._buffer) >= self._max_buffered:
            buffered = len(self._buffer)
            logger.warning("%r is not polling: %d frames buffered; closing", self, buffered)
            if SLOW_CONSUMER.handlers:
                size = sum(len(item.data) for item in self._buffer)
                queued = {"queued_frames": buffered, "queued_bytes": size, "dropped": 0}
                SLOW_CONSUMER.emit(queued, {"transport": "longpoll", "action": "disconnect"})
            self._buffer.clear()
            self.server.close(1013, "outbound buffer full")
            return
        self._buffer.append(frame)
        self._wake_poll()

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self._expiry.cancel()
        self._wake_poll()  # it answers with what is still buffered
        self._on_end(self)

    # From requests (local, or forwarded from another node)

    async def poll(self) -> list[str]:
        """The buffered frames, at once, or once one arrives within the window;
        empty when the window ends first, or when a newer poll took this one's place."""
        self._last_poll = self._loop.time()
        if self._buffer or self.closed:
            return self._take()
        waiter = self._waiting_poll = self._loop.create_future()
        try:
            async with asyncio.timeout(self._window):
                await waiter
        except TimeoutError:
            return []
        finally:
            if self._waiting_poll is waiter:
                self._waiting_poll = None
            self._last_poll = self._loop.time()
        return self._take()

    async def publish(self, frames: Sequence[ClientFrame]) -> int:
        """Hand ``frames`` to the socket in order, waiting up to the window for each.

        Returns the POST's status: ``ACCEPTED``; ``REQUEST_TIMEOUT`` when a frame
        was not handled within the window (the rest are skipped); ``GONE`` when
        the session is closed, or closed while handling them.
        """
        for data, binary in frames:
            if self.closed:
                return GONE
            self.server.feed(data, binary=binary)
            try:
                async with asyncio.timeout(self._window):
                    await self.server.settled()
            except TimeoutError:
                return REQUEST_TIMEOUT
        return GONE if self.closed else ACCEPTED

    # Internals

    def _take(self) -> list[str]:
        messages = [frame.text for frame in self._buffer]
        self._buffer.clear()
        return messages

    def _wake_poll(self) -> None:
        waiter = self._waiting_poll
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _check_inactive(self) -> None:
        idle = self._loop.time() - self._last_poll
        if self._waiting_poll is None and idle >= self._inactive_after:
            self.server.close(1001, "inactive", channel_reason="inactive")
        else:
            delay = self._inactive_after - idle if self._waiting_poll is None else self._window
            self._expiry = self._loop.call_later(max(delay, 0.001), self._check_inactive)
