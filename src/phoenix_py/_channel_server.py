"""The process around one joined channel (Phoenix's ``Channel.Server``).

Invariants:

* A channel handles one mailbox item at a time, in arrival order: client
  messages, intercepted broadcasts (``handle_out``) and ``send_info`` messages.
* A drain task exists only while the mailbox has items: an idle channel costs no
  task. Broadcasts that are not intercepted never touch the mailbox; they are
  encoded once per serializer and written straight to the socket (fastlane).
* States go JOINING -> ACCEPTED -> JOINED -> STOPPED, or straight to STOPPED.
  ACCEPTED: ``join`` said ok and the channel is subscribed, but its reply has
  not gone out yet (the pubsub may still be confirming the subscription):
  frames for the client (broadcasts, pushes) are held and follow the reply.
  Nothing is written to the client before the join reply, nothing after STOPPED.
* An exception in a callback stops this channel only; the socket reports it to
  the client as ``phx_error`` and the other channels go on.
* A channel with a ``history`` reads the topic's history after subscribing,
  so every message is either in what it read or arrives live; after the join
  reply it sends the recovered messages, then the held live ones, and its
  ``HistoryFollower`` forwards a ``Publication`` only if it is the next one
  (no gap, no duplicate, whichever way a message arrived).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from ._core.history import INVALID_SINCE, InvalidSince, Position, parse_since
from ._core.message import Broadcast, Message, Publication, Ref, Reply
from ._core.serializer import Frame, Serializer
from ._core.socket_state import JOIN_CRASHED
from ._history_follower import HistoryFollower
from .channel import Channel, ChannelReply, SocketRef
from .errors import UsageError
from .history import HistoryUnavailable
from .pubsub.base import PubSub
from .telemetry import CHANNEL_HANDLED_IN, CHANNEL_LEFT, MESSAGE_OUT
from .types import SocketView

logger = logging.getLogger("phoenix_py.channel")


class ChannelHost(Protocol):
    """The connection a channel runs in (``_socket_server.SocketServer``)."""

    serializer: Serializer
    pubsub: PubSub
    max_mailbox: int

    @property
    def socket(self) -> SocketView:
        """The connection's ``Socket``."""
        ...

    def write(self, frame: Frame) -> None:
        """Send a frame to the client, in call order."""
        ...

    def close(self, code: int, reason: str, *, channel_reason: str = "closed") -> None:
        """Close the whole connection (a mailbox overflowed)."""
        ...

    def limit_reached(self, limit: str) -> None:
        """Tell telemetry that ``limit`` refused something."""
        ...

    def channel_exited(self, server: ChannelServer, *, crashed: bool) -> None:
        """This channel stopped by itself: tell the client (phx_close / phx_error)."""
        ...

    def report_crash(self, topic: str, exc: BaseException) -> None:
        """A callback raised (already logged)."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in a task the connection holds until it ends."""
        ...


_JOINING, _ACCEPTED, _JOINED, _STOPPED = 0, 1, 2, 3
_IN, _OUT, _INFO, _STOP = 0, 1, 2, 3
_NORMAL_STOPS = ("normal", "shutdown")
_FAILED = Frame(b"")  # cache marker: this serializer could not encode the broadcast
HISTORY_UNAVAILABLE = {"reason": "history unavailable"}


class ChannelServer:
    __slots__ = (
        "_current_ref",
        "_follower",
        "_held",
        "_intercepts",
        "_mailbox",
        "_monitors",
        "_state",
        "_stop_reason",
        "_task",
        "channel",
        "host",
        "join_ref",
        "route",
        "socket",
        "topic",
    )

    def __init__(
        self,
        channel_cls: type[Channel],
        host: ChannelHost,
        topic: str,
        join_ref: Ref,
        route: str | None = None,
    ) -> None:
        self.host = host
        self.route = route  # the socket's topic pattern that routed here (telemetry)
        self.socket = host.socket
        self.topic = topic
        self.join_ref = join_ref
        self._state = _JOINING
        self._mailbox: deque[tuple[int, Any]] | None = None  # made on first use: most stay empty
        self._task: asyncio.Task[None] | None = None
        self._current_ref: Ref = None
        self._stop_reason: str | None = None
        self._monitors: list[Callable[[], None]] = []
        self._held: list[Frame | Publication] | None = None  # what came while ACCEPTED
        self._intercepts = frozenset(channel_cls.intercepts)
        self.channel = channel_cls(self)
        history = self.channel.history
        self._follower: HistoryFollower | None = None
        if history is not None:
            self._follower = HistoryFollower(history, topic, self._forward, self._lose, host.spawn)

    def __repr__(self) -> str:
        return f"<ChannelServer {type(self.channel).__name__} {self.topic!r} {self.join_ref!r}>"

    # Join

    async def join(self, payload: Any) -> tuple[str, Any]:
        """Run the channel's ``join``; on ok, subscribe to the topic (and read its
        history since what the payload names). Never raises."""
        follower = self._follower
        since: Position | None = None
        if follower is not None:
            try:
                since = parse_since(payload)
            except InvalidSince as exc:
                logger.info("join of %r refused: %s", self.topic, exc)
                self._state = _STOPPED
                return "error", INVALID_SINCE
        try:
            if follower is not None and follower.history.pubsub is not self.host.pubsub:
                raise UsageError(
                    f"{type(self.channel).__name__}.history is bound to another PubSub than "
                    "the endpoint's: build it with History(endpoint.pubsub, ...)"
                )
            result = await self.channel.join(self.topic, payload)
            status, response = _join_outcome(result)
        except Exception as exc:
            logger.exception("join of %r crashed in %s", self.topic, type(self.channel).__name__)
            self.host.report_crash(self.topic, exc)
            self._state = _STOPPED
            return "error", JOIN_CRASHED
        if status != "ok":
            self._state = _STOPPED
            return status, response
        self._state = _ACCEPTED
        self.host.pubsub.subscribe(self.topic, self)
        # The reply waits until broadcasts from other nodes reach this one.
        await self.host.pubsub.subscribed(self.topic)
        if follower is None:
            return status, response
        try:
            fields = await follower.start(since)
        except HistoryUnavailable as exc:
            logger.warning("join of %r refused: its history is unavailable (%s)", self.topic, exc)
            self._halt("history unavailable")
            self.host.spawn(self._terminate("history unavailable"))
            return "error", HISTORY_UNAVAILABLE
        if isinstance(response, dict):
            response = {**response, **fields}
        return status, response

    def joined(self) -> None:
        """The join reply is on its way: send what was held, handle what was queued."""
        if self._state != _ACCEPTED:
            return
        self._state = _JOINED
        held, self._held = self._held, None
        follower = self._follower
        if follower is not None:
            follower.release()
        for item in held or ():
            if isinstance(item, Frame):
                self.host.write(item)
            elif follower is not None:
                follower.take(item, {})
        self._schedule()

    # Mailbox

    def deliver_in(self, message: Message) -> None:
        """A client message for this channel (the socket has checked its join_ref)."""
        self._enqueue(_IN, message)

    def send_info(self, message: Any) -> None:
        self._enqueue(_INFO, message)

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        """PubSub fan-out: fastlane unless the event is intercepted (§6.3)."""
        state = self._state
        if (state != _JOINED and state != _ACCEPTED) or not isinstance(message, Broadcast):
            return
        follower = self._follower
        if follower is not None and type(message) is Publication:
            if state == _JOINED:
                follower.take(message, cache)
            else:  # the history read decides, in ``joined``
                if self._held is None:
                    self._held = []
                self._held.append(message)
            return
        self._forward(message, cache)

    def _forward(self, message: Broadcast, cache: dict[Any, Any]) -> None:
        if self._intercepts and message.event in self._intercepts:
            self._enqueue(_OUT, message)
            return
        serializer = self.host.serializer
        frame: Frame | None = cache.get(serializer)
        if frame is None:
            try:
                frame = serializer.fastlane(message)
            except UsageError:
                logger.exception("broadcast %r on %r cannot be encoded", message.event, self.topic)
                frame = _FAILED
            cache[serializer] = frame
        if frame is not _FAILED:
            self._write(frame)

    def _write(self, frame: Frame) -> None:
        if self._state == _JOINED:
            self.host.write(frame)
        elif self._state == _ACCEPTED:  # after the join reply, which is not out yet
            if self._held is None:
                self._held = []
            self._held.append(frame)

    def _enqueue(self, kind: int, item: Any) -> None:
        if self._state == _STOPPED:
            return
        mailbox = self._mailbox
        if mailbox is None:
            mailbox = self._mailbox = deque()
        elif len(mailbox) >= self.host.max_mailbox:
            logger.warning("mailbox of %r is full; closing its socket", self)
            self.host.limit_reached("mailbox")
            self.host.close(1013, "channel mailbox full")
            return
        mailbox.append((kind, item))
        if self._state == _JOINED:
            self._schedule()

    def _schedule(self) -> None:
        if self._task is None and self._mailbox:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._mailbox and self._state == _JOINED:
                kind, item = self._mailbox.popleft()
                if not self._mailbox:
                    self._mailbox = None
                try:
                    await self._handle(kind, item)
                except Exception as exc:
                    logger.exception("%r crashed", self)
                    self.host.report_crash(self.topic, exc)
                    await self._exit(exc, crashed=True)
                    return
                if self._stop_reason is not None:
                    reason = self._stop_reason
                    await self._exit(reason, crashed=reason not in _NORMAL_STOPS)
                    return
        finally:
            self._task = None

    async def _handle(self, kind: int, item: Any) -> None:
        channel = self.channel
        if kind == _IN:
            message: Message = item
            if message.event == "phx_leave":
                self.send_reply(message.ref, ChannelReply("ok", {}))
                await self._exit("left", crashed=False)
                return
            self._current_ref = message.ref
            began = time.perf_counter_ns() if CHANNEL_HANDLED_IN.handlers else 0
            try:
                result = await channel.handle_in(message.event, message.payload)
            finally:
                self._current_ref = None
            if began:
                self._handled_in(message, time.perf_counter_ns() - began)
            if result is not None:
                if not isinstance(result, ChannelReply):
                    raise UsageError(
                        f"{type(channel).__name__}.handle_in returned {result!r}; return None "
                        "(no reply), ok(payload), error(payload) or reply_with(status, payload)"
                    )
                self.send_reply(message.ref, result)
        elif kind == _OUT:
            broadcast: Broadcast = item
            await channel.handle_out(broadcast.event, broadcast.payload)
        elif kind == _INFO:
            await channel.handle_info(item)
        else:
            self._stop_reason = item

    def _handled_in(self, message: Message, duration: int) -> None:
        metadata = {"event": message.event, "params": message.payload, "topic": self.topic}
        metadata |= {"socket": self.socket, "channel": type(self.channel)}
        CHANNEL_HANDLED_IN.emit({"duration": duration}, metadata)

    def _lose(self, reason: str) -> None:
        """The follower cannot give the client every message: stop with an error, in
        turn with the mailbox, so that phoenix.js rejoins (and hears recovered: false)."""
        self._enqueue(_STOP, reason)

    # Stopping

    async def _exit(self, reason: str | BaseException, *, crashed: bool) -> None:
        """The channel ends by itself: tell the socket, then run ``terminate``."""
        if self._state == _STOPPED:
            return
        self._halt(reason)
        self.host.channel_exited(self, crashed=crashed)
        await self._terminate(reason)

    def stop(self, reason: str) -> None:
        """The socket ends this channel (closed, disconnected, duplicate join): no frame."""
        if self._state == _STOPPED:
            return
        self._halt(reason)
        running = self._task
        if running is None:
            self.host.spawn(self._terminate(reason))
        else:
            # The running callback finishes first; its drain loop then sees STOPPED.
            running.add_done_callback(lambda _: self.host.spawn(self._terminate(reason)))

    def on_exit(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once when this channel stops (presence untracks so)."""
        if self._state == _STOPPED:
            raise UsageError("on_exit on a channel that has stopped: it would never be called")
        self._monitors.append(callback)

    def _halt(self, reason: str | BaseException) -> None:
        if self._state == _JOINED or self._state == _ACCEPTED:
            self.host.pubsub.unsubscribe(self.topic, self)
            if CHANNEL_LEFT.handlers:
                metadata = {"socket": self.socket, "topic": self.topic, "route": self.route}
                metadata["channel"] = type(self.channel)
                left = reason if isinstance(reason, str) else "crash"
                CHANNEL_LEFT.emit({}, {**metadata, "reason": left})
        self._state = _STOPPED
        self._mailbox = self._held = None
        if self._follower is not None:
            self._follower.stop()
        monitors, self._monitors = self._monitors, []
        for callback in monitors:
            try:
                callback()
            except Exception:
                logger.exception("exit callback of %r raised", self)

    async def _terminate(self, reason: str | BaseException) -> None:
        try:
            await self.channel.terminate(reason)
        except Exception:
            logger.exception("terminate of %r raised", self)

    # What the channel can do

    def push(self, event: str, payload: Any) -> None:
        self._check_joined("push")
        if self._state != _STOPPED:
            message = Message(self.topic, event, payload, None, self.join_ref)
            frame = self.host.serializer.encode_push(message)
            if MESSAGE_OUT.handlers:
                MESSAGE_OUT.emit({"bytes": len(frame.data)}, {"kind": "push", "topic": self.topic})
            self._write(frame)

    def send_reply(self, ref: Ref, result: ChannelReply) -> None:
        if self._state != _STOPPED:
            reply = Reply(self.topic, result.status, result.payload, ref, self.join_ref)
            frame = self.host.serializer.encode_reply(reply)
            if MESSAGE_OUT.handlers:
                MESSAGE_OUT.emit({"bytes": len(frame.data)}, {"kind": "reply", "topic": self.topic})
            self._write(frame)

    async def broadcast(self, event: str, payload: Any, *, exclude_self: bool) -> Position | None:
        self._check_joined("broadcast")
        follower = self._follower
        if follower is not None:
            sender = follower.sender() if exclude_self else None
            return await follower.history.broadcast(self.topic, event, payload, sender=sender)
        message = Broadcast(self.topic, event, payload)
        pubsub = self.host.pubsub
        if exclude_self:
            await pubsub.broadcast_from(self, self.topic, message)
        else:
            await pubsub.broadcast(self.topic, message)
        return None

    def local_broadcast(self, event: str, payload: Any) -> None:
        self._check_joined("local_broadcast")
        self.host.pubsub.local_broadcast(self.topic, Broadcast(self.topic, event, payload))

    def socket_ref(self) -> SocketRef:
        if self._current_ref is None:
            raise UsageError(
                "socket_ref() works inside handle_in for a message that carries a ref; "
                "call it there and keep the result"
            )
        return SocketRef(self, self._current_ref)

    def request_stop(self, reason: str) -> None:
        if self._state == _JOINING:
            raise UsageError("stop() inside join: to refuse the join, return error({...})")
        self._stop_reason = reason

    def _check_joined(self, what: str) -> None:
        if self._state == _JOINING:
            raise UsageError(
                f"{what} inside join is not allowed: the client is not joined yet. Call "
                f"self.send_info(...) in join and {what} from handle_info"
            )


def _join_outcome(result: Any) -> tuple[str, Any]:
    if result is None:
        return "ok", {}
    if isinstance(result, dict):
        return "ok", result
    if isinstance(result, ChannelReply):
        return result.status, result.payload
    raise UsageError(
        f"join returned {result!r}; return None or a dict (ok), ok(payload) or error(payload)"
    )
