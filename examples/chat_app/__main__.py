"""Runs the chat app: ``python -m examples.chat_app [--host H] [--port P]
[--database-url URL] [--redis URL] [--secret S]``.

Each option can also be given as an environment variable (CHAT_HOST,
CHAT_PORT, CHAT_DATABASE_URL, CHAT_REDIS, CHAT_SECRET); a flag wins.
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from phoenix_py.uvicorn import WebSocketProtocol

from .app import create_app
from .settings import DEFAULT_DATABASE_URL, Settings, async_database_url


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.chat_app", description=__doc__)
    env = os.environ.get
    parser.add_argument("--host", default=env("CHAT_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("CHAT_PORT", "4000")))
    parser.add_argument(
        "--database-url",
        default=env("CHAT_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="sqlite:///PATH (default: a file in the working directory) or postgresql://...",
    )
    parser.add_argument(
        "--redis",
        default=env("CHAT_REDIS"),
        metavar="URL",
        help="redis://HOST:PORT/0: one instance of a cluster",
    )
    parser.add_argument(
        "--secret",
        default=env("CHAT_SECRET"),
        help="JWT signing key (default: generated once, kept beside the database)",
    )
    parser.add_argument(
        "--ws",
        choices=("direct", "asgi"),
        default=env("CHAT_WS", "direct"),
        help="direct: phoenix_py.uvicorn's fast path (default); asgi: plain uvicorn",
    )
    parser.add_argument("--log-level", default=env("CHAT_LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    try:
        async_database_url(args.database_url)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main() -> None:
    args = parse_args()
    settings = Settings(database_url=args.database_url, redis_url=args.redis, secret=args.secret)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ws=WebSocketProtocol if args.ws == "direct" else "websockets-sansio",
    )


if __name__ == "__main__":
    main()
