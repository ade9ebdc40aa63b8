"""Prometheus metrics from the telemetry events (``pip install 'phoenix_py[metrics]'``).

``PrometheusMetrics`` attaches handlers to the events of ``phoenix_py.telemetry``
and keeps ``prometheus_client`` collectors in a registry (a fresh one unless
given); ``asgi_app()`` serves them in Prometheus's text format at the path the
app chooses. Attach it for as long as the app runs, from the app's lifespan,
before the first connection (a gauge counts what it saw open)::

    metrics = PrometheusMetrics()

    @asynccontextmanager
    async def lifespan(app):
        with metrics:  # attached while the app runs
            async with endpoint.lifespan(app):
                yield

    app = Starlette(routes=[Route("/metrics", metrics.asgi_app()), ...], lifespan=lifespan)

docs/observability.md lists the metrics. Events are process-wide: one
``PrometheusMetrics`` per process counts every endpoint of that process.

Several worker processes (``uvicorn --workers N``): set ``PROMETHEUS_MULTIPROC_DIR``
to an empty directory, the same for every worker and wiped before each start,
before Python starts (prometheus_client reads it when it is first imported).
Each worker's collectors then write their values to files there, and
``asgi_app()`` serves every worker's values merged by a ``MultiProcessCollector``
over that directory, whichever worker answers the scrape. Gauges of sockets
and channels add up the live workers' values (``livesum``); presence gauges take
the largest (``livemax``), since every worker holds the whole cluster's presences.
``detach()`` removes this worker's gauge files (``mark_process_dead``), so that
a worker that stops cleanly stops counting.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from . import telemetry
from .telemetry import EventName, Span

__all__ = ["MetricsApp", "PrometheusMetrics"]

#: Seconds, for the fan-out of one broadcast and a batch of Redis publishes (µs to ms).
FANOUT_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
#: Seconds, for application callbacks (joins, handle_in, LiveView callbacks and renders).
CALLBACK_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
#: Subscribers reached by one broadcast.
FANOUT_SIZE_BUCKETS = (1, 10, 100, 1_000, 10_000, 100_000)

NAMESPACE = "phoenix_py"
TRANSPORTS = ("websocket", "longpoll")
#: The limits that refuse a join (the others close a socket or refuse a connection).
JOIN_LIMITS = frozenset({"join_rate", "max_channels"})

GaugeMode = Literal["livesum", "livemax"]
_Handle = Callable[[Mapping[str, Any], Mapping[str, Any]], None]

_LIVE_VIEW_SPANS = {
    "mount": telemetry.LIVE_VIEW_MOUNT,
    "handle_params": telemetry.LIVE_VIEW_HANDLE_PARAMS,
    "handle_event": telemetry.LIVE_VIEW_HANDLE_EVENT,
    "render": telemetry.LIVE_VIEW_RENDER,
}
_LIVE_COMPONENT_SPANS = {"handle_event": telemetry.LIVE_COMPONENT_HANDLE_EVENT}


def _seconds(measurements: Mapping[str, Any]) -> float:
    return float(measurements["duration"]) / 1e9


def _route(metadata: Mapping[str, Any]) -> str:
    """The socket's topic pattern (``"room:*"``): a label with as many values as routes."""
    route = metadata.get("route")
    return route if isinstance(route, str) else "-"


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR``: where the workers' values are, in multiprocess mode."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class MetricsApp:
    """An ASGI app answering every HTTP request with the metrics of ``registry``
    (text format, or OpenMetrics when the scraper asks; gzipped when it accepts).

    A class rather than ``make_asgi_app``'s function, so that Starlette's
    ``Route("/metrics", app)`` serves it as an ASGI app at exactly that path.
    """

    def __init__(self, registry: Collector) -> None:
        self.registry = registry
        self._serve = make_asgi_app(registry)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._serve(scope, receive, send)


class PrometheusMetrics:
    """Prometheus collectors fed by the library's telemetry events (module docs).

    ``attach()`` / ``detach()``, or ``with metrics:``; ``asgi_app()`` serves them.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._handler_id = f"phoenix_py.metrics.{id(self):x}"

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, namespace=NAMESPACE, registry=self.registry)

        def gauge(name: str, doc: str, *labels: str, mode: GaugeMode = "livesum") -> Gauge:
            return Gauge(
                name,
                doc,
                labels,
                namespace=NAMESPACE,
                registry=self.registry,
                multiprocess_mode=mode,
            )

        def histogram(name: str, doc: str, buckets: tuple[float, ...], *labels: str) -> Histogram:
            return Histogram(
                name, doc, labels, namespace=NAMESPACE, registry=self.registry, buckets=buckets
            )

        self.sockets = gauge("sockets", "Connected sockets (LongPoll: sessions)", "transport")
        self.connections = counter("connections", "Connections answered", "transport", "result")
        self.socket_closes = counter(
            "socket_closes",
            "Sockets ended, by close code (peer: the client left)",
            "transport",
            "code",
        )
        self.channels = gauge(
            "channels", "Joined channels, by topic pattern and channel class", "route", "channel"
        )
        self.joins = counter("joins", "Joins answered, by result", "result")
        self.join_refusals = counter("join_refusals", "Joins refused, by reason", "reason")
        self.join_duration = histogram(
            "join_duration_seconds", "Time in a channel's join", CALLBACK_BUCKETS, "channel"
        )
        self.handle_in_duration = histogram(
            "handle_in_duration_seconds",
            "Time in a channel's handle_in",
            CALLBACK_BUCKETS,
            "channel",
        )
        self.messages_in = counter("messages_in", "Frames from clients", "transport")
        self.bytes_in = counter("messages_in_bytes", "Bytes of frames from clients", "transport")
        self.messages_out = counter("messages_out", "Messages to clients", "kind")
        self.broadcast_duration = histogram(
            "broadcast_duration_seconds",
            "Time to hand a broadcast to this node's subscribers",
            FANOUT_BUCKETS,
        )
        self.broadcast_subscribers = histogram(
            "broadcast_subscribers", "Subscribers one broadcast reached here", FANOUT_SIZE_BUCKETS
        )
        self.slow_consumers = counter(
            "slow_consumers", "Clients at their outbound bound", "transport", "action"
        )
        self.dropped_frames = counter("dropped_frames", "Frames dropped (drop_oldest)", "transport")
        self.limits = counter("limits_reached", "Refusals by a limit", "limit", "transport")
        self.drained = counter("drained_sockets", "Sockets closed by Endpoint.drain")
        self.pubsub_errors = counter(
            "pubsub_errors", "Pubsub adapter failures", "adapter", "operation"
        )
        self.published = counter("pubsub_published", "Messages published", "adapter")
        self.publish_duration = histogram(
            "pubsub_publish_duration_seconds",
            "Time of a batch of publishes",
            FANOUT_BUCKETS,
            "adapter",
        )
        self.publish_queue = gauge("pubsub_queued", "Publishes waiting (lag)", "adapter")
        self.presences = gauge("presences", "Presences on every topic", mode="livemax")
        self.presence_topics = gauge("presence_topics", "Topics with presences", mode="livemax")
        self.presence_changes = counter("presence_changes", "Presence joins, leaves", "change")
        self.live_view_duration = histogram(
            "live_view_duration_seconds",
            "Time in a LiveView callback",
            CALLBACK_BUCKETS,
            "callback",
            "view",
        )
        self.live_view_exceptions = counter(
            "live_view_exceptions", "LiveView callbacks that raised", "callback", "view"
        )
        self.live_component_duration = histogram(
            "live_component_duration_seconds",
            "Time in a LiveComponent callback",
            CALLBACK_BUCKETS,
            "callback",
            "component",
        )
        self.live_component_exceptions = counter(
            "live_component_exceptions",
            "LiveComponent callbacks that raised",
            "callback",
            "component",
        )
        # Label values known in advance show from the first scrape, at 0.
        for transport in TRANSPORTS:
            self.sockets.labels(transport)
            self.messages_in.labels(transport)
            self.bytes_in.labels(transport)
        for result in ("ok", "error", "crash"):
            self.joins.labels(result)
        for kind in ("push", "reply", "broadcast"):
            self.messages_out.labels(kind)
        #: Each topic's presences, for the total (a gauge per topic would be one
        #: time series per room: unbounded).
        self._presence_sizes: dict[str, int] = {}
        self._presence_total = 0
        self._handlers: dict[EventName, _Handle] = {
            telemetry.SOCKET_CONNECTED.name: self._socket_connected,
            telemetry.SOCKET_CLOSED.name: self._socket_closed,
            telemetry.SOCKET_DRAIN.name: self._socket_drain,
            telemetry.CHANNEL_JOINED.name: self._channel_joined,
            telemetry.CHANNEL_LEFT.name: self._channel_left,
            telemetry.CHANNEL_HANDLED_IN.name: self._handled_in,
            telemetry.MESSAGE_IN.name: self._message_in,
            telemetry.MESSAGE_OUT.name: self._message_out,
            telemetry.BROADCAST.name: self._broadcast,
            telemetry.SLOW_CONSUMER.name: self._slow_consumer,
            telemetry.LIMIT_REACHED.name: self._limit_reached,
            telemetry.PUBSUB_PUBLISH.name: self._published,
            telemetry.PUBSUB_ERROR.name: self._pubsub_error,
            telemetry.PRESENCE_DIFF.name: self._presence_diff,
        }
        for callback, span in _LIVE_VIEW_SPANS.items():
            self._on_span(
                span, callback, "view", self.live_view_duration, self.live_view_exceptions
            )
        for callback, span in _LIVE_COMPONENT_SPANS.items():
            self._on_span(
                span,
                callback,
                "component",
                self.live_component_duration,
                self.live_component_exceptions,
            )

    # Attaching

    def attach(self) -> None:
        """Start counting (``UsageError`` if attached already)."""
        telemetry.attach(self._handler_id, self._handlers, self._handle)

    def detach(self) -> None:
        """Stop counting; in multiprocess mode, this worker's gauges stop counting too."""
        telemetry.detach(self._handler_id)
        if multiprocess_dir() is not None:
            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    def __enter__(self) -> PrometheusMetrics:
        self.attach()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.detach()

    def asgi_app(self) -> MetricsApp:
        """The app serving these metrics; in multiprocess mode, every worker's."""
        if multiprocess_dir() is None:
            return MetricsApp(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return MetricsApp(merged)

    def _handle(
        self,
        name: EventName,
        measurements: Mapping[str, Any],
        metadata: Mapping[str, Any],
        config: Any,
    ) -> None:
        self._handlers[name](measurements, metadata)

    # Sockets and channels

    def _socket_connected(
        self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]
    ) -> None:
        transport, result = metadata["transport"], metadata["result"]
        self.connections.labels(transport, result).inc()
        if result == "ok":
            self.sockets.labels(transport).inc()

    def _socket_closed(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        transport, code = metadata["transport"], metadata["code"]
        self.sockets.labels(transport).dec()
        self.socket_closes.labels(transport, "peer" if code is None else str(code)).inc()

    def _socket_drain(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        self.drained.inc(measurements["count"])

    def _channel_joined(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        result, channel = metadata["result"], metadata["channel"].__name__
        self.joins.labels(result).inc()
        self.join_duration.labels(channel).observe(_seconds(measurements))
        if result == "ok":
            self.channels.labels(_route(metadata), channel).inc()
        elif result == "crash":
            self.join_refusals.labels("crash").inc()
        else:  # the reason of the channel's error reply (apps keep these few)
            reason = metadata.get("reason")
            self.join_refusals.labels(reason if isinstance(reason, str) else "other").inc()

    def _channel_left(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        self.channels.labels(_route(metadata), metadata["channel"].__name__).dec()

    def _handled_in(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        channel = metadata["channel"].__name__
        self.handle_in_duration.labels(channel).observe(_seconds(measurements))

    def _limit_reached(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        limit = metadata["limit"]
        self.limits.labels(limit, metadata["transport"]).inc()
        if limit in JOIN_LIMITS:  # the join never ran: no channel_joined event
            self.joins.labels("error").inc()
            self.join_refusals.labels(limit).inc()

    # Messages

    def _message_in(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        transport = metadata["transport"]
        self.messages_in.labels(transport).inc()
        self.bytes_in.labels(transport).inc(measurements["bytes"])

    def _message_out(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        self.messages_out.labels(metadata["kind"]).inc()

    def _broadcast(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        if metadata["event"] is None:
            return  # the pubsub's own messages (presence replication), not a client's event
        subscribers = measurements["subscribers"]
        self.messages_out.labels("broadcast").inc(subscribers)
        self.broadcast_duration.observe(_seconds(measurements))
        self.broadcast_subscribers.observe(subscribers)

    def _slow_consumer(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        transport = metadata["transport"]
        self.slow_consumers.labels(transport, metadata["action"]).inc()
        self.dropped_frames.labels(transport).inc(measurements["dropped"])

    # The pubsub and presence

    def _published(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        adapter = metadata["adapter"]
        self.published.labels(adapter).inc(measurements["messages"])
        self.publish_duration.labels(adapter).observe(_seconds(measurements))
        self.publish_queue.labels(adapter).set(measurements["queued"])

    def _pubsub_error(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        self.pubsub_errors.labels(metadata["adapter"], metadata["operation"]).inc()

    def _presence_diff(self, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        self.presence_changes.labels("join").inc(measurements["joins"])
        self.presence_changes.labels("leave").inc(measurements["leaves"])
        sizes, topic, size = self._presence_sizes, metadata["topic"], measurements["size"]
        self._presence_total += size - sizes.pop(topic, 0)
        if size:
            sizes[topic] = size
        self.presences.set(self._presence_total)
        self.presence_topics.set(len(sizes))

    # LiveView spans

    def _on_span(
        self, span: Span, callback: str, key: str, durations: Histogram, exceptions: Counter
    ) -> None:
        """Time ``span``'s stops, count its exceptions, by callback and the class in ``key``."""

        def stop(measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
            durations.labels(callback, metadata[key].__name__).observe(_seconds(measurements))

        def failed(measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
            exceptions.labels(callback, metadata[key].__name__).inc()

        self._handlers[span.stop.name] = stop
        self._handlers[span.exception.name] = failed
