"""``python -m examples.contract --host 127.0.0.1 --port PORT``"""

from __future__ import annotations

import argparse

import uvicorn

from phoenix_py.uvicorn import WebSocketProtocol

from .app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.contract", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--redis", metavar="URL", help="redis://HOST:PORT/0: run as a cluster node")
    parser.add_argument(
        "--presence-down-period",
        type=float,
        default=30.0,
        help="seconds of silence before another node's presences leave (tests shorten it)",
    )
    parser.add_argument(
        "--socket-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds without a frame before a WebSocket is closed (tests shorten it)",
    )
    parser.add_argument(
        "--history-ttl",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="seconds a history:* message is kept (CONTRACT.md: 300; tests shorten it)",
    )
    parser.add_argument(
        "--jwt-secret", metavar="SECRET", help="JWT mode: HS256 tokens signed with SECRET"
    )
    parser.add_argument(
        "--dashboard-token",
        metavar="TOKEN",
        help="serve the live dashboard at /dashboard to ?token=TOKEN (or that cookie)",
    )
    parser.add_argument(
        "--ws",
        choices=("direct", "asgi"),
        default="direct",
        help="direct: phoenix_py.uvicorn's fast path (default); asgi: plain uvicorn",
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    app = create_app(
        args.redis,
        presence_down_period=args.presence_down_period,
        jwt_secret=args.jwt_secret,
        history_ttl=args.history_ttl,
        dashboard_token=args.dashboard_token,
        timeout=args.socket_timeout,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ws=WebSocketProtocol if args.ws == "direct" else "websockets-sansio",
    )


if __name__ == "__main__":
    main()
