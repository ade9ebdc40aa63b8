"""What this node is doing, from the telemetry events: the dashboard's numbers.

``StatsCollector`` attaches one handler to the library's events
(``phoenix_py.telemetry``) and keeps, in memory bounded by what is live (not
by what happened):

* sockets per transport (connected minus closed) and refused connections;
* joined channels per route (topic pattern and channel class) and per topic
  (a topic leaves the table when its last channel does); presence entries per
  topic (the ``size`` of the last presence diff);
* per-second series of the last ``window`` seconds: messages in and out,
  broadcasts, their deliveries (fan-out) and their duration, mean and largest;
* the last ``recent`` slow consumers and pubsub errors, with counters of
  limit refusals and pubsub errors.

``snapshot(node)`` gives all of it as JSON types (what nodes publish to each
other), with the top ``top`` topics and the process's memory and uptime.
Handlers run on the event loop where the event happens, so each does a few
dict and list operations and nothing else.
"""

from __future__ import annotations

import heapq
import os
import resource
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter
from typing import Any

from .. import telemetry
from ._window import SlidingWindow

Clock = Callable[[], float]

#: The events the collector listens to.
EVENTS = (
    telemetry.SOCKET_CONNECTED,
    telemetry.SOCKET_CLOSED,
    telemetry.CHANNEL_JOINED,
    telemetry.CHANNEL_LEFT,
    telemetry.MESSAGE_IN,
    telemetry.MESSAGE_OUT,
    telemetry.BROADCAST,
    telemetry.SLOW_CONSUMER,
    telemetry.LIMIT_REACHED,
    telemetry.PUBSUB_ERROR,
    telemetry.PRESENCE_DIFF,
)


class StatsCollector:
    """This node's numbers, kept up to date by telemetry handlers; see the module docs.

    Args:
        top: how many topics (by channels, by presences) a snapshot lists.
        window: seconds of the per-second series.
        recent: how many slow consumers and pubsub errors are kept.
        ignore_topics: broadcasts on these topics are not counted (the
            dashboard's own snapshots).
        clock: monotonic seconds (the series and the uptime).
        wall_clock: epoch seconds (when a slow consumer or an error happened).
    """

    def __init__(
        self,
        *,
        top: int = 10,
        window: int = 60,
        recent: int = 20,
        ignore_topics: Iterable[str] = (),
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self.top = top
        self.ignore_topics = frozenset(ignore_topics)
        self._clock = clock
        self._wall_clock = wall_clock
        self.started = clock()
        self.sockets: dict[str, int] = {}
        self.refused = 0
        self.channels: dict[str, int] = {}
        self.topics: dict[str, int] = {}
        self.presences: dict[str, int] = {}
        self.limits: dict[str, int] = {}
        self.pubsub_errors: dict[str, int] = {}
        self.messages_in = SlidingWindow(window, clock)
        self.messages_out = SlidingWindow(window, clock)
        self.broadcasts = SlidingWindow(window, clock)  # value: duration in microseconds
        self.deliveries = SlidingWindow(window, clock)  # value: subscribers reached
        self.slow_consumers: deque[dict[str, Any]] = deque(maxlen=recent)
        self.recent_errors: deque[dict[str, Any]] = deque(maxlen=recent)
        self._handler_id = f"phoenix_py.dashboard:{id(self)}"
        self._handlers: dict[telemetry.EventName, Callable[[Mapping[str, Any], Any], None]] = {
            telemetry.SOCKET_CONNECTED.name: self._socket_connected,
            telemetry.SOCKET_CLOSED.name: self._socket_closed,
            telemetry.CHANNEL_JOINED.name: self._channel_joined,
            telemetry.CHANNEL_LEFT.name: self._channel_left,
            telemetry.MESSAGE_IN.name: self._message_in,
            telemetry.MESSAGE_OUT.name: self._message_out,
            telemetry.BROADCAST.name: self._broadcast,
            telemetry.SLOW_CONSUMER.name: self._slow_consumer,
            telemetry.LIMIT_REACHED.name: self._limit_reached,
            telemetry.PUBSUB_ERROR.name: self._pubsub_error,
            telemetry.PRESENCE_DIFF.name: self._presence_diff,
        }

    # Attaching

    def attach(self) -> None:
        """Start listening (``UsageError`` if this collector listens already)."""
        telemetry.attach(self._handler_id, [event.name for event in EVENTS], self._handle)

    def detach(self) -> None:
        telemetry.detach(self._handler_id)

    def _handle(
        self,
        name: telemetry.EventName,
        measurements: Mapping[str, Any],
        metadata: Mapping[str, Any],
        config: Any,
    ) -> None:
        self._handlers[name](measurements, metadata)

    # The events

    def _socket_connected(self, measurements: Mapping[str, Any], metadata: Any) -> None:
        if metadata.get("result") == "ok":
            _add(self.sockets, str(metadata.get("transport")), 1)
        else:
            self.refused += 1

    def _socket_closed(self, measurements: Mapping[str, Any], metadata: Any) -> None:
        _add(self.sockets, str(metadata.get("transport")), -1)

    def _channel_joined(self, measurements: Mapping[str, Any], metadata: Any) -> None:
        if metadata.get("result") == "ok":
            _add(self.channels, _route(metadata), 1)
            _add(self.topics, str(metadata.get("topic")), 1)

    def _channel_left(self, measurements: Mapping[str, Any], metadata: Any) -> None:
        _add(self.channels, _route(metadata), -1)
        _add(self.topics, str(metadata.get("topic")), -1)

    def _message_in(self, measurements: Mapping[str, Any], metadata: Any) -> None:
        self.messages_in.add(measurements.get("bytes", 0))

    def _message_out(self, measurements: Mapping[str, Any], metadata: Any) -> None:
        self.messages_out.add(measurements.get("bytes", 0))

    def _broadcast(self, measurements: Mapping[str, Any], metadata: Any) -> None:
        if metadata.get("topic") in self.ignore_topics:
            return
        self.broadcasts.add(measurements.get("duration", 0) / 1000)
        self.deliveries.add(measurements.get("subscribers", 0))

    def _slow_consumer(self, measurements: Mapping[str, Any], metadata: Any) -> None:
        self.slow_consumers.appendleft(
            {
                "at": self._wall_clock(),
                "transport": str(metadata.get("transport")),
                "action": str(metadata.get("action")),
                "queued_frames": int(measurements.get("queued_frames", 0)),
                "queued_bytes": int(measurements.get("queued_bytes", 0)),
            }
        )

    def _limit_reached(self, measurements: Mapping[str, Any], metadata: Any) -> None:
        _add(self.limits, str(metadata.get("limit")), 1)

    def _pubsub_error(self, measurements: Mapping[str, Any], metadata: Any) -> None:
        adapter, operation = str(metadata.get("adapter")), str(metadata.get("operation"))
        _add(self.pubsub_errors, f"{adapter} {operation}", 1)
        error = metadata.get("error")
        # The exception's type only: its message may hold a URL with a password.
        kind = type(error).__name__ if isinstance(error, BaseException) else "error"
        self.recent_errors.appendleft(
            {"at": self._wall_clock(), "adapter": adapter, "operation": operation, "error": kind}
        )

    def _presence_diff(self, measurements: Mapping[str, Any], metadata: Any) -> None:
        topic, size = str(metadata.get("topic")), int(measurements.get("size", 0))
        if size > 0:
            self.presences[topic] = size
        else:
            self.presences.pop(topic, None)

    # Reading

    def snapshot(self, node: str) -> dict[str, Any]:
        """Everything above as JSON types, for ``node`` (its name in the cluster)."""
        return {
            "node": node,
            "at": self._wall_clock(),
            "uptime": self._clock() - self.started,
            "memory": resident_memory(),
            "sockets": dict(sorted(self.sockets.items())),
            "refused": self.refused,
            "channels": dict(sorted(self.channels.items())),
            "topics": _largest(self.topics, self.top),
            "topic_count": len(self.topics),
            "presences": _largest(self.presences, self.top),
            "presence_topic_count": len(self.presences),
            "series": {
                "messages_in": self.messages_in.counts(),
                "messages_out": self.messages_out.counts(),
                "broadcasts": self.broadcasts.counts(),
                "deliveries": [int(total) for total in self.deliveries.sums()],
                "latency_mean_us": [round(mean, 1) for mean in self.broadcasts.means()],
                "latency_max_us": [round(largest, 1) for largest in self.broadcasts.maxima()],
            },
            "slow_consumers": list(self.slow_consumers),
            "limits": dict(sorted(self.limits.items())),
            "pubsub_errors": dict(sorted(self.pubsub_errors.items())),
            "recent_errors": list(self.recent_errors),
        }


def resident_memory() -> int:
    """The process's resident memory in bytes (``/proc/self/statm``), or where there is
    no ``/proc`` its peak resident memory (``getrusage``)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # bytes there, KiB elsewhere


def _add(counts: dict[str, int], key: str, delta: int) -> None:
    """Add ``delta``; a key that reaches zero goes (counts started before the
    collector attached cannot go below it)."""
    value = counts.get(key, 0) + delta
    if value > 0:
        counts[key] = value
    else:
        counts.pop(key, None)


def _largest(counts: dict[str, int], n: int) -> list[list[Any]]:
    """The ``n`` largest counts, largest first (ties in the order they came)."""
    return [[key, value] for key, value in heapq.nlargest(n, counts.items(), key=itemgetter(1))]


def _route(metadata: Any) -> str:
    """``"room:* (RoomChannel)"``: the socket's topic pattern and the class it routes to."""
    name, route = _class_name(metadata.get("channel")), metadata.get("route")
    return f"{route} ({name})" if isinstance(route, str) else name


def _class_name(channel: Any) -> str:
    return channel.__name__ if isinstance(channel, type) else str(channel)
