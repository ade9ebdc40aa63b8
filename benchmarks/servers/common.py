"""What every built-in server shares: its command line and the same uvicorn settings."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn


def arguments(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    return parser


def serve(app: Any, host: str, port: int, ws: Any = "websockets-sansio") -> None:
    """Serve ``app`` on uvicorn with uvloop and httptools, one process."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws=ws,
        # Both protocols keep connections alive themselves (phoenix.js
        # heartbeats, Engine.IO pings), as Phoenix does without WebSocket pings.
        ws_ping_interval=None,
        lifespan="on",
        log_level="warning",
        backlog=4096,
    )
    uvicorn.Server(config).run()
