"""phoenix_py under test: a socket at ``/socket`` with a channel on ``bench:*``.

``publish`` from a client is broadcast to the other subscribers of its topic
as ``msg`` (``broadcast_from``), with no reply, as a Phoenix channel returning
``{:noreply, socket}`` does. Run by the suite as::

    python -m benchmarks.servers.phoenix_py_server --port 4000 --mode asgi|direct

``asgi`` serves it with uvicorn's default WebSocket protocol
(``websockets-sansio``); ``direct`` with ``phoenix_py.uvicorn.WebSocketProtocol``,
which lets phoenix_py write pre-framed bytes straight to the connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from benchmarks.servers.common import arguments, serve
from benchmarks.servers.experiments import EXPERIMENTS
from phoenix_py import Channel, ChannelReply, Endpoint, Socket, error
from phoenix_py.uvicorn import WebSocketProtocol


class BenchChannel(Channel):
    async def join(self, topic: str, payload: Any) -> None:
        return None

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "publish":
            await self.broadcast_from("msg", payload)
            return None
        return error({"reason": f"unknown event {event}"})


class BenchSocket(Socket):
    channels = (("bench:*", BenchChannel),)
    # The publisher sends far more than the default 200 frames/s per client:
    # the benchmark measures fan-out, not the inbound rate limit.
    message_rate = None


def build_app(timeout: float = 60.0, *, metrics: bool = False) -> Starlette:
    endpoint = Endpoint()
    socket_app = endpoint.socket_app(BenchSocket, check_origin=False, timeout=timeout)
    routes: list[BaseRoute] = [Mount("/socket", app=socket_app)]
    if not metrics:
        return Starlette(routes=routes, lifespan=endpoint.lifespan)
    from phoenix_py.metrics import PrometheusMetrics

    prometheus = PrometheusMetrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with prometheus:
            async with endpoint.lifespan(app):
                yield

    routes.append(Route("/metrics", prometheus.asgi_app()))
    return Starlette(routes=routes, lifespan=lifespan)


def websocket_protocol(mode: str) -> Any:
    return WebSocketProtocol if mode == "direct" else "websockets-sansio"


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--mode", choices=("asgi", "direct"), default="asgi")
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        help="the socket's idle timeout, seconds (phoenix_py's and Phoenix's default: 60); "
        "its per-connection timer fires about once per timeout",
    )
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="attach phoenix_py.metrics (Prometheus) for the whole run, served at /metrics",
    )
    parser.add_argument(
        "--experiment",
        choices=sorted(EXPERIMENTS),
        help="direct mode with an experimental protocol class (benchmarks/servers/experiments.py)",
    )
    args = parser.parse_args()
    protocol = EXPERIMENTS[args.experiment] if args.experiment else websocket_protocol(args.mode)
    serve(build_app(args.idle_timeout, metrics=args.metrics), args, protocol)


if __name__ == "__main__":
    main()
