"""The code of docs/observability.md: Prometheus metrics at ``/metrics``.

Serve it with ``uvicorn examples.docs.metrics:app --port 4000``, then
``curl http://127.0.0.1:4000/metrics``. The socket is that of ``channels.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from examples.docs.channels import UserSocket
from phoenix_py import Endpoint
from phoenix_py.metrics import PrometheusMetrics

endpoint = Endpoint()
metrics = PrometheusMetrics()  # its collectors in a fresh registry, metrics.registry


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    with metrics:  # counting from before the first connection to after the last
        async with endpoint.lifespan(app):
            yield


app = Starlette(
    routes=[
        Mount("/socket", app=endpoint.socket_app(UserSocket)),
        Route("/metrics", metrics.asgi_app()),
    ],
    lifespan=lifespan,
)
