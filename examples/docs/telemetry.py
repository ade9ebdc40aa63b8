"""The code of docs/observability.md's telemetry section: two handlers on the
library's events, attached while the app runs.

Serve it with ``uvicorn examples.docs.telemetry:app --port 4000``; every join
slower than 50 ms is logged, and ``GET /stats`` answers the broadcasts' counts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from phoenix_py import Channel, Endpoint, Socket, telemetry

logger = logging.getLogger("my_app.telemetry")


def log_slow_joins(
    event: telemetry.EventName, measurements: Mapping[str, Any], metadata: Mapping[str, Any], _: Any
) -> None:
    milliseconds = measurements["duration"] / 1e6  # durations are nanoseconds
    if milliseconds > 50:
        logger.warning(
            "slow join of %s: %.0f ms (%s)", metadata["topic"], milliseconds, metadata["result"]
        )


broadcasts: Counter[str] = Counter()


def count_broadcasts(
    event: telemetry.EventName, measurements: Mapping[str, Any], metadata: Mapping[str, Any], _: Any
) -> None:
    # Runs on the event loop for every broadcast: keep it this small.
    broadcasts[metadata["topic"]] += 1


class RoomChannel(Channel):
    async def join(self, topic: str, payload: Any) -> dict[str, Any]:
        return {}


class RoomSocket(Socket):
    channels = (("room:*", RoomChannel),)


endpoint = Endpoint()


async def stats(request: Request) -> JSONResponse:
    return JSONResponse(dict(broadcasts))


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    telemetry.attach("slow-joins", [telemetry.CHANNEL_JOINED.name], log_slow_joins)
    telemetry.attach("broadcasts", [telemetry.BROADCAST.name], count_broadcasts)
    try:
        async with endpoint.lifespan(app):
            yield
    finally:
        telemetry.detach("slow-joins")
        telemetry.detach("broadcasts")


app = Starlette(
    routes=[Route("/stats", stats), Mount("/socket", app=endpoint.socket_app(RoomSocket))],
    lifespan=lifespan,
)
