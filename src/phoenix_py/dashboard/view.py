"""The dashboard page: a LiveView over the snapshots of the cluster's nodes.

Each second the view reads the ``NodeBoard`` and assigns what the template
shows, as tuples (immutable: a table that did not change sends nothing), and
pushes the chart series (``dashboard:chart``) to the ``DashboardChart`` hook,
the page's only hand-written JavaScript. A click on a node's row shows that
node's details; the view starts on its own node.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, NamedTuple

from ..live import LiveView
from .nodes import NodeBoard

TICK = "tick"
CHART_EVENT = "dashboard:chart"
#: The transports shown even when they have no socket.
TRANSPORTS = ("websocket", "longpoll")


class NodeRow(NamedTuple):
    name: str
    sockets: int
    channels: int
    rate_in: int
    rate_out: int
    memory: str
    uptime: str
    heard: str


class Rates(NamedTuple):
    """The last complete second."""

    messages_in: int
    messages_out: int
    broadcasts: int
    deliveries: int
    latency_mean_us: float
    latency_max_us: float


class SlowConsumer(NamedTuple):
    at: str
    transport: str
    action: str
    queued_frames: int
    queued_bytes: int


class PubSubFailure(NamedTuple):
    at: str
    adapter: str
    operation: str
    error: str


class DashboardView(LiveView):
    """See the module docs. ``Dashboard`` makes a subclass that sets the class variables."""

    template_file = "templates/dashboard.html"
    #: The snapshots the view shows.
    board: ClassVar[NodeBoard]
    #: This node's name (the view starts on it).
    node_name: ClassVar[str]
    #: Seconds between two refreshes.
    interval: ClassVar[float] = 1.0

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(page_title="phoenix_py dashboard", selected=self.node_name)
        self.refresh()
        if self.connected:
            self.send_after(TICK, self.interval)

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "select" and isinstance(value.get("node"), str):
            self.assign(selected=value["node"])
            self.refresh()

    async def handle_info(self, message: Any) -> None:
        if message == TICK:
            self.refresh()
            self.send_after(TICK, self.interval)

    def refresh(self) -> None:
        nodes = self.board.nodes()
        by_name = {snapshot["node"]: snapshot for snapshot in nodes}
        selected = by_name.get(self.assigns["selected"]) or by_name.get(self.node_name)
        self.assign(nodes=tuple(_node_row(snapshot) for snapshot in nodes))
        if selected is None:  # not heard from yet (the pubsub has not started)
            selected = _empty_snapshot(self.node_name)
        self.assign(selected=selected["node"])
        self._show(selected)
        if self.connected:
            self._push_charts(selected["series"])

    def _show(self, snapshot: dict[str, Any]) -> None:
        sockets = {transport: 0 for transport in TRANSPORTS} | snapshot["sockets"]
        series = snapshot["series"]
        self.assign(
            uptime=_duration(snapshot["uptime"]),
            memory=_bytes(snapshot["memory"]),
            sockets=tuple(sockets.items()),
            socket_total=sum(sockets.values()),
            refused=snapshot["refused"],
            channels=tuple(snapshot["channels"].items()),
            channel_total=sum(snapshot["channels"].values()),
            topics=tuple(tuple(entry) for entry in snapshot["topics"]),
            topic_count=snapshot["topic_count"],
            presences=tuple(tuple(entry) for entry in snapshot["presences"]),
            presence_topic_count=snapshot["presence_topic_count"],
            rates=Rates(*(_last(series[name]) for name in Rates._fields)),
            slow_consumers=tuple(
                SlowConsumer(_clock_time(slow["at"]), *(slow[f] for f in SlowConsumer._fields[1:]))
                for slow in snapshot["slow_consumers"]
            ),
            limits=tuple(snapshot["limits"].items()),
            pubsub_errors=tuple(snapshot["pubsub_errors"].items()),
            recent_errors=tuple(
                PubSubFailure(
                    _clock_time(failure["at"]), *(failure[f] for f in PubSubFailure._fields[1:])
                )
                for failure in snapshot["recent_errors"]
            ),
        )

    def _push_charts(self, series: dict[str, list[float]]) -> None:
        self.push_event(
            CHART_EVENT,
            {
                "id": "chart-messages",
                "series": [
                    {"name": "in", "points": series["messages_in"]},
                    {"name": "out", "points": series["messages_out"]},
                    {"name": "deliveries", "points": series["deliveries"]},
                ],
            },
        )
        self.push_event(
            CHART_EVENT,
            {
                "id": "chart-latency",
                "series": [
                    {"name": "mean", "points": series["latency_mean_us"]},
                    {"name": "max", "points": series["latency_max_us"]},
                ],
            },
        )


def _node_row(snapshot: dict[str, Any]) -> NodeRow:
    series = snapshot["series"]
    return NodeRow(
        name=snapshot["node"],
        sockets=sum(snapshot["sockets"].values()),
        channels=sum(snapshot["channels"].values()),
        rate_in=int(_last(series["messages_in"])),
        rate_out=int(_last(series["messages_out"])),
        memory=_bytes(snapshot["memory"]),
        uptime=_duration(snapshot["uptime"]),
        heard=f"{snapshot['age']:.0f} s ago",
    )


def _empty_snapshot(node: str) -> dict[str, Any]:
    return {
        "node": node,
        "uptime": 0.0,
        "memory": 0,
        "sockets": {},
        "refused": 0,
        "channels": {},
        "topics": [],
        "topic_count": 0,
        "presences": [],
        "presence_topic_count": 0,
        "series": {name: [] for name in Rates._fields},
        "slow_consumers": [],
        "limits": {},
        "pubsub_errors": {},
        "recent_errors": [],
    }


def _last(points: list[Any]) -> Any:
    return points[-1] if points else 0


def _duration(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    if days:
        return f"{days}d {hour}h {minute:02d}m"
    if hours:
        return f"{hour}h {minute:02d}m {second:02d}s"
    return f"{minute}m {second:02d}s"


def _bytes(count: int) -> str:
    return f"{count / 2**20:.1f} MiB"


def _clock_time(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(epoch)) + " UTC"
