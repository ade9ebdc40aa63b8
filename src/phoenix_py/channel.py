"""Channels: the code that handles one topic for one client (PHOENIX_PROTOCOL.md §3).

Subclass ``Channel`` and mount it on a ``Socket`` route. One instance serves one
join of one client; it handles its messages one at a time, in order, in its own
task, so a slow handler never delays another channel of the same socket::

    class RoomChannel(Channel):
        intercepts = {"censored"}

        async def join(self, topic, payload):
            if topic == "room:forbidden":
                return error({"reason": "unauthorized"})
            return {"topic": topic}                 # ok, with this response

        async def handle_in(self, event, payload):
            if event == "shout":
                await self.broadcast("shout", payload)
                return ok()
            if event == "push_me":
                self.push("pushed", payload)
                return ok()
            raise ValueError(f"unknown event {event}")  # crashes this channel only

        async def handle_out(self, event, payload):
            self.push(event, {**payload, "text": "***"})

Callbacks and what they may return:

* ``join(topic, payload)``: ``None`` or a dict (ok, with that response),
  ``ok(...)``, or ``error(...)`` to refuse. Raising refuses with
  ``{"reason": "join crashed"}``. Pushing inside ``join`` is refused, as in
  Phoenix; call ``self.send_info(...)`` and push from ``handle_info``.
* ``handle_in(event, payload)``: ``None`` (no reply), ``ok(...)``,
  ``error(...)`` or ``reply_with(status, payload)``. Raising crashes the channel:
  the client gets ``phx_error`` ``{"reason": "channel_crash"}`` and rejoins.
* ``handle_out(event, payload)``: for events in ``intercepts``; push, filter or stop.
* ``handle_info(message)``: for ``send_info`` messages.
* ``terminate(reason)``: the channel is ending: ``"left"``, ``"closed"``,
  ``"disconnected"``, ``"duplicate_join"``, the ``stop`` reason, or the exception.

``self.stop(reason)`` ends the channel after the current callback (its reply is
sent first): ``"normal"``/``"shutdown"`` send ``phx_close``, anything else
``phx_error``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ._core.history import Position
from ._core.message import Ref
from .errors import UsageError
from .types import SocketView

if TYPE_CHECKING:
    from .history import History

__all__ = [
    "Channel",
    "ChannelReply",
    "ChannelRuntime",
    "SocketRef",
    "error",
    "ok",
    "reply",
    "reply_with",
]

logger = logging.getLogger("phoenix_py.channel")


@dataclass(frozen=True, slots=True)
class ChannelReply:
    """A reply status and payload, as returned from ``join`` or ``handle_in``."""

    status: str
    payload: Any


def ok(payload: Any = None) -> ChannelReply:
    """An ok reply; ``None`` means ``{}``."""
    return ChannelReply("ok", {} if payload is None else payload)


def error(payload: Any = None) -> ChannelReply:
    """An error reply; ``None`` means ``{}``."""
    return ChannelReply("error", {} if payload is None else payload)


def reply_with(status: str, payload: Any) -> ChannelReply:
    """A reply with any status and payload (``None`` stays JSON null); phoenix.js
    matches it with ``push.receive(status)``."""
    return ChannelReply(status, payload)


class ChannelRuntime(Protocol):
    """The process around one joined channel, as the ``Channel`` calls it.

    ``phoenix_py._channel_server.ChannelServer`` is the implementation; a
    ``Channel`` is built with one and forwards its actions to it.
    """

    topic: str
    join_ref: Ref
    socket: SocketView

    def push(self, event: str, payload: Any) -> None:
        """Send ``event`` to this channel's client (after the join)."""
        ...

    def send_reply(self, ref: Ref, result: ChannelReply) -> None:
        """Reply to the client message ``ref``."""
        ...

    async def broadcast(self, event: str, payload: Any, *, exclude_self: bool) -> Position | None:
        """Broadcast on the channel's topic, cluster-wide (through its history, if any)."""
        ...

    def local_broadcast(self, event: str, payload: Any) -> None:
        """Broadcast on the channel's topic, on this node only."""
        ...

    def send_info(self, message: Any) -> None:
        """Queue ``message`` for ``handle_info``."""
        ...

    def socket_ref(self) -> SocketRef:
        """The current client message's ref, to reply later."""
        ...

    def request_stop(self, reason: str) -> None:
        """End the channel once the current callback returns."""
        ...

    def on_exit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once when the channel stops, whatever the reason."""
        ...


@dataclass(frozen=True, slots=True)
class SocketRef:
    """Where to send a reply later: captured by ``Channel.socket_ref()`` in ``handle_in``."""

    runtime: ChannelRuntime
    ref: Ref


def reply(socket_ref: SocketRef, result: ChannelReply) -> None:
    """Send a late reply to the message ``socket_ref`` was captured for."""
    socket_ref.runtime.send_reply(socket_ref.ref, result)


class Channel:
    """Base class of user channels; see the module docs.

    The runtime builds one instance per join (do not override ``__init__``;
    set up in ``join``).
    """

    #: Broadcast events handed to ``handle_out`` instead of going straight to the client.
    intercepts: ClassVar[Collection[str]] = ()

    topic: str
    join_ref: Ref
    #: This channel's own copy of the socket's assigns, taken at join.
    assigns: dict[str, Any]
    #: The connection's ``Socket`` (params, connect_info, its assigns, its id).
    socket: SocketView
    #: The application's state, as given to ``Endpoint(state=...)``; narrow its
    #: type in a subclass with an annotation (``state: MyServices``).
    state: Any

    def __init__(self, runtime: ChannelRuntime) -> None:
        self._runtime = runtime
        self.topic = runtime.topic
        self.join_ref = runtime.join_ref
        self.socket = runtime.socket
        self.assigns = dict(runtime.socket.assigns)
        self.state = runtime.socket.state

    @property
    def history(self) -> History | None:
        """Keep and number this channel's broadcasts and recover them on rejoin
        (``phoenix_py.history``); ``None``, the default: live messages only, as
        in Phoenix. Override with a class attribute (``history = History(...)``)
        or a property (``return self.state.history``); read once per join."""
        return None

    # Callbacks

    async def join(self, topic: str, payload: Any) -> ChannelReply | dict[str, Any] | None:
        raise UsageError(
            f"{type(self).__name__} must define `async def join(self, topic, payload)`"
        )

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        raise UsageError(f"{type(self).__name__} does not handle the event {event!r}")

    async def handle_out(self, event: str, payload: Any) -> None:
        self.push(event, payload)

    async def handle_info(self, message: Any) -> None:
        logger.warning("%s got a message it does not handle: %r", type(self).__name__, message)

    async def terminate(self, reason: str | BaseException) -> None:
        return None

    # What a callback can do

    def push(self, event: str, payload: Any) -> None:
        """Send ``event`` to this channel's client only."""
        self._runtime.push(event, payload)

    async def broadcast(self, event: str, payload: Any) -> Position | None:
        """Send ``event`` to every subscriber of this topic in the cluster, this client too.

        With a ``history``, the message is kept first, and its position returned."""
        return await self._runtime.broadcast(event, payload, exclude_self=False)

    async def broadcast_from(self, event: str, payload: Any) -> Position | None:
        """Like ``broadcast``, but not to this channel's own client."""
        return await self._runtime.broadcast(event, payload, exclude_self=True)

    def local_broadcast(self, event: str, payload: Any) -> None:
        """Like ``broadcast``, on this node only."""
        self._runtime.local_broadcast(event, payload)

    def send_info(self, message: Any) -> None:
        """Queue ``message`` for this channel's ``handle_info``."""
        self._runtime.send_info(message)

    def socket_ref(self) -> SocketRef:
        """Capture the current message's ref to ``reply`` to it later (``handle_in`` only)."""
        return self._runtime.socket_ref()

    def stop(self, reason: str = "normal") -> None:
        """End this channel once the current callback returns (its reply goes first)."""
        self._runtime.request_stop(reason)

    def on_exit(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once when this channel stops, for any reason (Presence
        untracks so; like monitoring a Phoenix channel process)."""
        self._runtime.on_exit(callback)
