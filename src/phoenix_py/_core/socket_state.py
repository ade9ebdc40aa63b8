"""The socket state machine, free of I/O (PHOENIX_PROTOCOL.md §3.1-§3.12).

``SocketState`` is what Phoenix's transport process does with each frame: it
answers heartbeats, routes joins, caps channels, replaces a channel on a
duplicate join, drops stale ``join_ref``s, and forwards everything else to the
joined channel. It never awaits: frames go in, ``Action`` values come out, and
the driver (``phoenix_py._socket_server``) carries them out.

Invariants:

* ``_channels`` maps a topic to its one live entry; every channel handle the
  driver holds is in it, or has been reported by ``StopChannel``.
* A join is reported by ``StartJoin`` and answered by ``join_finished``; the
  driver runs one join at a time per socket, as Phoenix does (§3.2).
* After ``CloseSocket`` nothing else comes out.
* Frames for one topic leave in the order the actions are listed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..errors import ProtocolError
from .message import Message, Ref, Reply
from .rate_limit import TokenBucket
from .serializer import Frame, Serializer
from .topics import Router

H = TypeVar("H")  # the driver's handle on a running channel
T = TypeVar("T")  # what a route points to (a Channel class)

HEARTBEAT_TOPIC = "phoenix"
UNMATCHED_TOPIC = {"reason": "unmatched topic"}
TOO_MANY_CHANNELS = {"reason": "too many channels joined"}
RATE_LIMITED = {"reason": "rate_limited"}
JOIN_CRASHED = {"reason": "join crashed"}
CHANNEL_CRASH = {"reason": "channel_crash"}


@dataclass(slots=True)
class SendFrame:
    """Write this frame to the client."""

    frame: Frame
    #: The limit that made it a refusal (``"join_rate"``, ``"max_channels"``), if one did.
    limit: str | None = None


@dataclass(slots=True)
class StartJoin(Generic[T]):
    """Start a channel of ``target`` for ``message`` (a ``phx_join``), then call
    ``SocketState.join_finished`` with this object and the outcome.

    ``join_ref`` is the channel's join_ref: the message's, or its ref for V1
    clients that send none (§3.2).
    """

    target: T
    message: Message
    join_ref: Ref
    replaced_join_ref: Ref = None
    replaces: bool = False
    #: The socket's pattern that routed the topic (``"room:*"``), for telemetry.
    route: str | None = field(default=None, compare=False)


@dataclass(slots=True)
class Deliver(Generic[H]):
    """Hand ``message`` to the running channel ``handle``, in order."""

    handle: H
    message: Message


@dataclass(slots=True)
class StopChannel(Generic[H]):
    """Stop channel ``handle`` at once, without any frame to the client."""

    handle: H
    reason: str


@dataclass(slots=True)
class CloseSocket:
    """Close the connection with this WebSocket close code."""

    code: int
    reason: str
    #: The limit that closed it (``"message_rate"``, ``"max_frame_size"``), if one did.
    limit: str | None = None


Action = SendFrame | StartJoin[Any] | Deliver[Any] | StopChannel[Any] | CloseSocket


@dataclass(slots=True)
class _Entry(Generic[H]):
    handle: H
    join_ref: Ref  # as the join message carried it (None for V1); phx_close/phx_error carry it


class SocketState(Generic[H, T]):
    """One client connection's protocol state.

    Args:
        serializer: the serializer picked from the client's ``vsn``.
        router: topic patterns to channel targets.
        max_channels: joins beyond this many live channels are refused (§3.5).
        max_frame_size: a larger frame closes the socket with 1009.
        join_rate: ``(burst, per_second)`` of joins; a join over it gets the
            error ``{"reason": "rate_limited"}`` and phoenix.js retries it on
            its rejoin backoff. ``None``: no limit.
        message_rate: ``(burst, per_second)`` of frames from the client; a
            flood over it closes this socket with 1008. ``None``: no limit.
        clock: monotonic seconds, for the rate limits.
    """

    def __init__(
        self,
        serializer: Serializer,
        router: Router[T],
        *,
        max_channels: int = 100,
        max_frame_size: int = 10_000_000,
        join_rate: tuple[float, float] | None = None,
        message_rate: tuple[float, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.serializer = serializer
        self._clock = clock
        now = clock()
        self._join_bucket = TokenBucket(*join_rate, now) if join_rate else None
        self._message_bucket = TokenBucket(*message_rate, now) if message_rate else None
        self._router = router
        self._max_channels = max_channels
        self._max_frame_size = max_frame_size
        self._channels: dict[str, _Entry[H]] = {}
        self._topics: dict[int, str] = {}  # id(handle) -> topic
        self.closed = False

    # Frames in

    def receive(self, data: bytes | str, *, binary: bool) -> list[Action]:
        """Handle one frame from the client."""
        if self.closed:
            return []
        if self._message_bucket is not None and not self._message_bucket.allow(self._clock()):
            return self._close(1008, "too many messages per second", limit="message_rate")
        size = _byte_size(data, self._max_frame_size)
        if size > self._max_frame_size:
            reason = f"frame of {size} bytes exceeds {self._max_frame_size}"
            return self._close(1009, reason, limit="max_frame_size")
        try:
            message = self.serializer.decode(data, binary=binary)
        except ProtocolError as exc:
            return self._close(exc.close_code, f"malformed frame: {exc}")
        return self.handle_message(message)

    def handle_message(self, message: Message) -> list[Action]:
        """Dispatch one decoded client message, in Phoenix's order (§3.1)."""
        if self.closed:
            return []
        topic, event = message.topic, message.event
        if topic == HEARTBEAT_TOPIC and event == "heartbeat":
            return [self._reply(message, "ok", {}, join_ref=None)]
        entry = self._channels.get(topic)
        if event == "phx_join":
            return self._join(message, entry)
        if entry is None:
            if event == "phx_leave":
                return [self._reply(message, "ok", {}, join_ref=message.join_ref)]
            return [self._reply(message, "error", UNMATCHED_TOPIC, join_ref=None)]
        if message.join_ref is not None and message.join_ref != entry.join_ref:
            return []  # stale join_ref: the client raced a server close (1.8.12)
        return [Deliver(entry.handle, message)]

    def _join(self, message: Message, existing: _Entry[H] | None) -> list[Action]:
        found = self._router.lookup(message.topic)
        if found is None:
            return [self._reply(message, "error", UNMATCHED_TOPIC, join_ref=None)]
        if self._join_bucket is not None and not self._join_bucket.allow(self._clock()):
            return [self._refuse_join(message, RATE_LIMITED, "join_rate")]
        actions: list[Action] = []
        join_ref = message.join_ref if message.join_ref is not None else message.ref
        route, target = found
        start = StartJoin(target, message, join_ref, route=route)
        if existing is not None:
            self._forget(message.topic, existing)
            actions.append(StopChannel(existing.handle, "duplicate_join"))
            start.replaces, start.replaced_join_ref = True, existing.join_ref
        elif len(self._channels) >= self._max_channels:
            return [self._refuse_join(message, TOO_MANY_CHANNELS, "max_channels")]
        actions.append(start)
        return actions

    # Outcomes reported by the driver

    def join_finished(
        self, join: StartJoin[T], status: str, response: Any, handle: H | None
    ) -> list[Action]:
        """Record a join's outcome: ``handle`` is the running channel when ``status`` is ok."""
        message = join.message
        actions: list[Action] = []
        if self.closed:
            if handle is not None:
                actions.append(StopChannel(handle, "closed"))
            return actions
        actions.append(self._reply(message, status, response, join_ref=message.join_ref))
        if handle is not None:
            self._channels[message.topic] = _Entry(handle, message.join_ref)
            self._topics[id(handle)] = message.topic
        if join.replaces:
            actions.append(self._close_frame(message.topic, join.replaced_join_ref))
        return actions

    def channel_exited(self, handle: H, *, crashed: bool) -> list[Action]:
        """A channel stopped by itself: ``phx_close`` when it stopped normally,
        ``phx_error`` when it crashed (§3.8, §3.9)."""
        topic = self._topics.get(id(handle))
        entry = self._channels.get(topic) if topic is not None else None
        if topic is None or entry is None or entry.handle is not handle or self.closed:
            return []
        self._forget(topic, entry)
        if crashed:
            push = Message(topic, "phx_error", CHANNEL_CRASH, entry.join_ref, entry.join_ref)
            return [SendFrame(self.serializer.encode_push(push))]
        return [self._close_frame(topic, entry.join_ref)]

    def close(self, code: int, reason: str) -> list[Action]:
        """Close the socket from the server side (disconnect, drain, idle timeout)."""
        if self.closed:
            return []
        return self._close(code, reason)

    def stop_all(self, reason: str) -> list[Action]:
        """The connection is gone: stop every channel without a frame."""
        self.closed = True
        actions: list[Action] = [StopChannel(e.handle, reason) for e in self._channels.values()]
        self._channels.clear()
        self._topics.clear()
        return actions

    # Views

    def handles(self) -> Iterator[H]:
        return (entry.handle for entry in self._channels.values())

    def joined_topics(self) -> list[str]:
        return list(self._channels)

    # Helpers

    def _forget(self, topic: str, entry: _Entry[H]) -> None:
        del self._channels[topic]
        self._topics.pop(id(entry.handle), None)

    def _close(self, code: int, reason: str, *, limit: str | None = None) -> list[Action]:
        actions: list[Action] = [CloseSocket(code, reason, limit)]
        actions.extend(self.stop_all("closed"))
        return actions

    def _reply(self, message: Message, status: str, payload: Any, *, join_ref: Ref) -> SendFrame:
        reply = Reply(message.topic, status, payload, message.ref, join_ref)
        return SendFrame(self.serializer.encode_reply(reply))

    def _refuse_join(self, message: Message, payload: Any, limit: str) -> SendFrame:
        """A join that ``limit`` refused: its error reply, marked for telemetry."""
        refusal = self._reply(message, "error", payload, join_ref=message.join_ref)
        refusal.limit = limit
        return refusal

    def _close_frame(self, topic: str, join_ref: Ref) -> SendFrame:
        return SendFrame(
            self.serializer.encode_push(Message(topic, "phx_close", {}, join_ref, join_ref))
        )


def _byte_size(data: bytes | str, limit: int) -> int:
    """The size of ``data`` in UTF-8 bytes, computed only when it could exceed ``limit``."""
    if isinstance(data, bytes) or len(data) * 4 <= limit:
        return len(data)
    return len(data.encode("utf-8", "surrogatepass"))
