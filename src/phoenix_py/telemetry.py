"""Telemetry: named events with measurements and metadata, as Erlang's ``:telemetry``.

The library emits events at the moments an operator cares about (a socket
connected, a channel joined, a broadcast fanned out, a slow consumer cut
off); metrics, logs and dashboards attach handlers to them::

    def on_join(event, measurements, metadata, config):
        print(metadata["topic"], metadata["result"], measurements["duration"])

    telemetry.attach("my-joins", [CHANNEL_JOINED.name], on_join)

An event name is a tuple of strings (``("phoenix", "channel_joined")``);
Phoenix's own names are kept where Phoenix has the event. Durations are
integer nanoseconds (``time.perf_counter_ns``), Phoenix's ``native_time``.

Handlers run synchronously where the event happens, on the event loop: keep
them short (update a counter, append to a buffer). A handler that raises is
logged and detached, as ``:telemetry`` does, so that it cannot break the
server twice.

Cost: each event is an ``Event`` object that its call sites hold; they check
``event.handlers`` (a tuple, empty when no one listens) before measuring or
building metadata, so an event nobody attached to costs one attribute read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from .errors import UsageError

__all__ = [
    "Event",
    "EventName",
    "Handler",
    "Span",
    "attach",
    "detach",
    "event",
    "execute",
    "handlers",
    "span",
]

logger = logging.getLogger("phoenix_py.telemetry")

EventName = tuple[str, ...]
#: ``handler(event_name, measurements, metadata, config)``
Handler = Callable[[EventName, Mapping[str, Any], Mapping[str, Any], Any], None]

_Attached = tuple[str, Handler, Any]  # handler id, handler, config


class Event:
    """One event name and the handlers attached to it (see the module docs)."""

    __slots__ = ("handlers", "name")

    def __init__(self, name: EventName) -> None:
        self.name = name
        self.handlers: tuple[_Attached, ...] = ()

    def __repr__(self) -> str:
        return f"<Event {'.'.join(self.name)} ({len(self.handlers)} handlers)>"

    def emit(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        """Call every handler; one that raises is logged and detached."""
        for handler_id, handler, config in self.handlers:
            try:
                handler(self.name, measurements, metadata, config)
            except Exception:
                logger.exception(
                    "telemetry handler %r failed on %s; detaching it", handler_id, self.name
                )
                detach(handler_id)


_events: dict[EventName, Event] = {}
_attachments: dict[str, tuple[tuple[EventName, ...], Handler, Any]] = {}


def event(*name: str) -> Event:
    """The ``Event`` of ``name`` (the same object on every call)."""
    if not name or not all(isinstance(part, str) and part for part in name):
        raise UsageError(f"an event name is one or more non-empty strings, got {name!r}")
    found = _events.get(name)
    if found is None:
        found = _events[name] = Event(name)
        found.handlers = _handlers_of(name)
    return found


def attach(
    handler_id: str,
    event_names: Iterable[EventName],
    handler: Handler,
    config: Any = None,
) -> None:
    """Call ``handler`` on each of ``event_names``, until ``detach(handler_id)``.
    ``handler_id`` must be new (``UsageError`` otherwise)."""
    if handler_id in _attachments:
        raise UsageError(f"a telemetry handler {handler_id!r} is attached already")
    names = tuple(tuple(name) for name in event_names)
    if not names:
        raise UsageError("attach needs at least one event name")
    for name in names:
        event(*name)  # checks the name
    _attachments[handler_id] = (names, handler, config)
    _refresh(names)


def detach(handler_id: str) -> bool:
    """Stop calling the handler; False if it was not attached."""
    attached = _attachments.pop(handler_id, None)
    if attached is None:
        return False
    _refresh(attached[0])
    return True


def handlers(name: EventName) -> list[str]:
    """The ids of the handlers attached to ``name``."""
    return [handler_id for handler_id, _, _ in event(*name).handlers]


def execute(
    name: EventName, measurements: Mapping[str, Any], metadata: Mapping[str, Any] | None = None
) -> None:
    """Emit ``name`` (for an application's own events)."""
    found = event(*name)
    if found.handlers:
        found.emit(measurements, metadata or {})


class Span:
    """The three events of a timed operation: ``prefix + ("start" | "stop" | "exception")``."""

    __slots__ = ("exception", "prefix", "start", "stop")

    def __init__(self, prefix: EventName) -> None:
        self.prefix = prefix
        self.start = event(*prefix, "start")
        self.stop = event(*prefix, "stop")
        self.exception = event(*prefix, "exception")

    @property
    def listened(self) -> bool:
        """Whether any of the three has a handler (call sites skip the span if not)."""
        return bool(self.start.handlers or self.stop.handlers or self.exception.handlers)

    @contextmanager
    def __call__(self, metadata: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """``start`` now, then ``stop`` with the ``duration``, or ``exception`` with
        ``kind`` and ``reason`` if the block raises (the exception goes on). The
        block may add to the dict it is given: that is the stop event's metadata,
        over ``metadata``."""
        if not self.listened:
            yield {}
            return
        if self.start.handlers:
            self.start.emit({"system_time": time.time_ns()}, metadata)
        began = time.perf_counter_ns()
        extra: dict[str, Any] = {}
        try:
            yield extra
        except BaseException as exc:
            if self.exception.handlers:
                self.exception.emit(
                    {"duration": time.perf_counter_ns() - began},
                    {**metadata, "kind": type(exc).__name__, "reason": exc},
                )
            raise
        if self.stop.handlers:
            self.stop.emit({"duration": time.perf_counter_ns() - began}, {**metadata, **extra})


def span(prefix: EventName, metadata: Mapping[str, Any]) -> AbstractContextManager[dict[str, Any]]:
    """Time the block as the ``Span`` of ``prefix`` (for an application's own spans)."""
    return Span(tuple(prefix))(metadata)


def _handlers_of(name: EventName) -> tuple[_Attached, ...]:
    return tuple(
        (handler_id, handler, config)
        for handler_id, (names, handler, config) in _attachments.items()
        if name in names
    )


def _refresh(names: Iterable[EventName]) -> None:
    for name in names:
        found = _events.get(name)
        if found is not None:
            found.handlers = _handlers_of(name)


# The library's events. Phoenix's names where Phoenix has the event; docs/telemetry.md
# gives each one's measurements and metadata.

#: A socket's ``connect`` (and ``id``) answered: {duration}; {endpoint, transport, params,
#: connect_info, user_socket, result ("ok" | "error"), reason (when refused)}.
SOCKET_CONNECTED = event("phoenix", "socket_connected")
#: A channel's ``join`` answered: {duration}; {result ("ok" | "error" | "crash"),
#: reason (the error reply's, if any), params, socket, topic, route (the socket's pattern,
#: "room:*"), channel}.
CHANNEL_JOINED = event("phoenix", "channel_joined")
#: A channel's ``handle_in`` returned: {duration}; {event, params, socket, topic, channel}.
CHANNEL_HANDLED_IN = event("phoenix", "channel_handled_in")
#: One batch of ``Endpoint.drain``: {count, total, index, rounds}; {endpoint, interval}.
SOCKET_DRAIN = event("phoenix", "socket_drain")
#: A connection ended: {duration (its lifetime)}; {transport, user_socket, code, reason}
#: (code None, reason "closed by the client" when the client closed or vanished).
SOCKET_CLOSED = event("phoenix_py", "socket_closed")
#: A joined channel stopped: {}; {socket, topic, route, channel, reason ("left", "closed",
#: "crash", ...)}.
CHANNEL_LEFT = event("phoenix_py", "channel_left")
#: A frame from a client: {bytes}; {transport}.
MESSAGE_IN = event("phoenix_py", "message_in")
#: A push or reply to a client (broadcasts count in ``BROADCAST``): {bytes}; {kind
#: ("push" | "reply"), topic}.
MESSAGE_OUT = event("phoenix_py", "message_out")
#: One broadcast handed to this node's subscribers (encoded once, queued on each of their
#: connections): {duration, subscribers (reached)}; {topic, event (None for the pubsub's
#: own messages, such as presence heartbeats)}.
BROADCAST = event("phoenix_py", "broadcast")
#: A client that does not read hit its outbound bound: {queued_frames, queued_bytes,
#: dropped (frames, for drop_oldest)}; {transport, action ("disconnect" | "drop_oldest")}.
SLOW_CONSUMER = event("phoenix_py", "slow_consumer")
#: A limit refused a connection, a join or a frame: {}; {limit ("max_connections",
#: "join_rate", "max_channels", "message_rate", "max_frame_size", "inbound_backlog",
#: "mailbox"), transport}.
LIMIT_REACHED = event("phoenix_py", "limit_reached")
#: A batch of Redis publishes done: {duration, messages, queued (publishes still waiting:
#: the adapter's lag)}; {adapter}.
PUBSUB_PUBLISH = event("phoenix_py", "pubsub", "publish")
#: A pubsub adapter failed: {count (messages or channels affected)}; {adapter, operation
#: ("publish" | "drop" (a publish dropped while Redis is down) | "subscribe" |
#: "connection" (lost; it reconnects) | "decode"), error}.
PUBSUB_ERROR = event("phoenix_py", "pubsub", "error")
#: A presence diff applied on this node: {joins, leaves, size (the topic's presences)}; {topic}.
PRESENCE_DIFF = event("phoenix_py", "presence", "diff")

#: LiveView spans (start/stop/exception, as Phoenix's), for the dead render too (connected
#: False): mount {view, connected, params, session, uri}; handle_params {view, connected,
#: params, uri}; handle_event {view, event, params}; render {view, connected, full (a
#: whole render or a diff)}.
LIVE_VIEW_MOUNT = Span(("phoenix", "live_view", "mount"))
LIVE_VIEW_HANDLE_PARAMS = Span(("phoenix", "live_view", "handle_params"))
LIVE_VIEW_HANDLE_EVENT = Span(("phoenix", "live_view", "handle_event"))
LIVE_VIEW_RENDER = Span(("phoenix", "live_view", "render"))
#: A LiveComponent's handle_event: {view, component, event, params}.
LIVE_COMPONENT_HANDLE_EVENT = Span(("phoenix", "live_component", "handle_event"))
