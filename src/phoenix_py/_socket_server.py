"""The process around one connection: carries out ``SocketState``'s actions.

A transport (WebSocket, LongPoll, the test toolkit) owns the I/O. It calls
``feed`` for each client frame, the one way in for every transport, and
``connection_lost`` when the peer is gone. Everything else is here: a join
runs in a task while the frames after it wait, in order, in a backlog
(Phoenix's socket waits for a join the same way, §3.2); channel exits become
``phx_close``/``phx_error``; a ``disconnect`` broadcast on the socket id closes
the connection with 1001 (§1.10).

Invariants:

* Every frame to the client goes through ``write``, in call order.
* Client frames are handled in the order fed; none overtakes a pending join.
* Tasks started for this connection are held in ``_tasks`` until they finish.
* After the connection closes, no channel of it is subscribed to anything,
  and ``on_closed`` has been called exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from ._channel_server import ChannelServer
from ._core.message import Broadcast
from ._core.serializer import Frame, Serializer
from ._core.socket_state import (
    JOIN_CRASHED,
    Action,
    CloseSocket,
    Deliver,
    SendFrame,
    SocketState,
    StartJoin,
    StopChannel,
)
from .channel import Channel
from .pubsub.base import PubSub
from .socket import Socket
from .telemetry import CHANNEL_JOINED, LIMIT_REACHED, MESSAGE_IN
from .types import Transport

logger = logging.getLogger("phoenix_py.socket")


class SocketServer:
    """One connected socket: its protocol state, its channels, its backlog.

    Args:
        socket: the connected ``Socket`` (its ``connect`` has accepted).
        serializer: picked from the client's ``vsn``.
        transport: where frames to the client go.
        pubsub: the endpoint's pubsub.
        max_frame_size: bytes; a larger client frame closes the socket (1009).
        on_closed: called once when the connection is lost or closed by the
            server, whichever comes first (the endpoint forgets the socket then).
    """

    def __init__(
        self,
        socket: Socket,
        serializer: Serializer,
        transport: Transport,
        pubsub: PubSub,
        *,
        max_frame_size: int,
        on_closed: Callable[[SocketServer], None] | None = None,
    ) -> None:
        self.socket = socket
        self.serializer = serializer
        self.transport = transport
        # Pushes, replies and fastlane broadcasts all go straight to the transport.
        self.write: Callable[[Frame], None] = transport.write
        self.pubsub = pubsub
        self.max_mailbox = socket.max_mailbox
        self.state: SocketState[ChannelServer, type[Channel]] = SocketState(
            serializer,
            socket.router,
            max_channels=socket.max_channels,
            max_frame_size=max_frame_size,
            join_rate=socket.join_rate,
            message_rate=socket.message_rate,
        )
        self._on_closed = on_closed
        self._tasks: set[asyncio.Task[Any]] | None = None  # made on first use
        self._backlog: list[tuple[bytes | str, bool]] | None = None  # frames behind a join
        self._settled: asyncio.Future[None] | None = None  # made while someone waits
        self.on_crash: Callable[[str, BaseException], None] | None = None
        # Topics where a "disconnect" closes this socket: its id, revoked tokens.
        self._disconnect_topics = [
            *([socket.socket_id] if socket.socket_id is not None else []),
            *socket.disconnect_topics,
        ]
        for topic in self._disconnect_topics:
            pubsub.subscribe(topic, self)
        self._expiry: asyncio.TimerHandle | None = None
        self.opened_at = time.perf_counter_ns()
        #: How it ended: the close code and reason the server sent (None: the peer left).
        self.close_reason: tuple[int | None, str] = (None, "closed by the client")
        if socket.expires_at is not None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, socket.expires_at - time.time())
            self._expiry = loop.call_later(delay, self._expired)

    def __repr__(self) -> str:
        return f"<SocketServer {self.transport.name} id={self.socket.socket_id!r}>"

    # From the transport

    def feed(self, data: bytes | str, *, binary: bool) -> None:
        """Handle one client frame. A join in it runs in a task; the frames fed
        after it wait, in order, until it is done (``settled`` tells when)."""
        if MESSAGE_IN.handlers:
            MESSAGE_IN.emit({"bytes": len(data)}, {"transport": self.transport.name})
        backlog = self._backlog
        if backlog is not None:
            if len(backlog) >= self.max_mailbox:
                logger.warning("%r: %d frames behind a pending join; closing", self, len(backlog))
                self.limit_reached("inbound_backlog")
                self.close(1013, "inbound backlog full")
                return
            backlog.append((data, binary))
        elif not self.state.closed:
            self._carry_out(self.state.receive(data, binary=binary))

    async def settled(self) -> None:
        """Return once every frame fed so far has been handled (no join pending)."""
        if self._backlog is None:
            return
        if self._settled is None:
            self._settled = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._settled)

    def connection_lost(self, closed_with: tuple[int, str] | None = None) -> None:
        """The connection is gone: stop every channel (reason ``"closed"``).
        ``closed_with``: the code and reason the transport closed it with itself
        (a slow consumer's 1013), if it did."""
        if closed_with is not None:
            self.close_reason = closed_with
        self._apply_all(self.state.stop_all("closed"))
        self._stop_listening()
        self._backlog = None
        self._wake_settled()
        self._report_closed()

    def _carry_out(self, actions: list[Action]) -> None:
        for index, action in enumerate(actions):
            if isinstance(action, StartJoin):
                self._backlog = []
                self.spawn(self._join_then_resume(action, actions[index + 1 :]))
                return
            self._apply(action)

    async def _join_then_resume(self, start: StartJoin[type[Channel]], rest: list[Action]) -> None:
        try:
            await self._join(start)
        finally:
            backlog, self._backlog = self._backlog or [], None
            self._carry_out(rest)
            for data, binary in backlog:  # behind another join, they queue again
                self.feed(data, binary=binary)
            if self._backlog is None:
                self._wake_settled()

    def _wake_settled(self) -> None:
        settled, self._settled = self._settled, None
        if settled is not None and not settled.done():
            settled.set_result(None)

    # From channels and the endpoint

    def channel_exited(self, server: ChannelServer, *, crashed: bool) -> None:
        self._apply_all(self.state.channel_exited(server, crashed=crashed))

    def close(self, code: int, reason: str, *, channel_reason: str = "closed") -> None:
        """Close the connection from the server side; channels stop with ``channel_reason``."""
        actions = self.state.close(code, reason)
        for action in actions:
            if isinstance(action, StopChannel):
                action.reason = channel_reason
        self._apply_all(actions)

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        """Messages on the id (and revoked-token) topics: only ``disconnect`` counts (§1.10)."""
        if isinstance(message, Broadcast) and message.event == "disconnect":
            self.close(1001, "disconnected", channel_reason="disconnected")

    def limit_reached(self, limit: str) -> None:
        if LIMIT_REACHED.handlers:
            LIMIT_REACHED.emit({}, {"limit": limit, "transport": self.transport.name})

    def report_crash(self, topic: str, exc: BaseException) -> None:
        """A channel's callback raised (already logged); the test toolkit listens here."""
        if self.on_crash is not None:
            self.on_crash(topic, exc)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if self._tasks is not None:
            self._tasks.discard(task)
            if not self._tasks:
                self._tasks = None

    # Carrying out actions

    async def _join(self, start: StartJoin[type[Channel]]) -> None:
        message = start.message
        route = start.route
        server = ChannelServer(start.target, self, message.topic, start.join_ref, route)
        began = time.perf_counter_ns()
        status, response = await server.join(message.payload)
        if CHANNEL_JOINED.handlers:
            result = "crash" if response is JOIN_CRASHED else "ok" if status == "ok" else "error"
            metadata = {"result": result, "params": message.payload, "socket": self.socket}
            if result == "error" and isinstance(response, dict):
                metadata["reason"] = response.get("reason")
            CHANNEL_JOINED.emit(
                {"duration": time.perf_counter_ns() - began},
                {**metadata, "topic": message.topic, "route": route, "channel": start.target},
            )
        if status != "ok" and response is not JOIN_CRASHED:  # a crash is logged with its trace
            reason = response.get("reason") if isinstance(response, dict) else None
            logger.info("join refused: topic=%s reason=%s", message.topic, reason or status)
        handle = server if status == "ok" else None
        self._apply_all(self.state.join_finished(start, status, response, handle))
        if handle is not None and not self.state.closed:
            server.joined()

    def _apply_all(self, actions: list[Action]) -> None:
        for action in actions:
            self._apply(action)

    def _apply(self, action: Action) -> None:
        if isinstance(action, SendFrame):
            self.transport.write(action.frame)
            if action.limit is not None:
                self.limit_reached(action.limit)
        elif isinstance(action, Deliver):
            action.handle.deliver_in(action.message)
        elif isinstance(action, StopChannel):
            action.handle.stop(action.reason)
        elif isinstance(action, CloseSocket):
            if action.limit is not None:
                self.limit_reached(action.limit)
            self.close_reason = (action.code, action.reason)
            self._stop_listening()
            self.transport.close(action.code, action.reason)
            self._report_closed()
        else:  # StartJoin is carried out by _carry_out
            raise AssertionError(f"unexpected action {action!r}")

    def _report_closed(self) -> None:
        on_closed, self._on_closed = self._on_closed, None
        if on_closed is not None:
            on_closed(self)

    def _expired(self) -> None:
        self.close(1008, "token expired", channel_reason="expired")

    def _stop_listening(self) -> None:
        for topic in self._disconnect_topics:
            self.pubsub.unsubscribe(topic, self)
        self._disconnect_topics = []
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
