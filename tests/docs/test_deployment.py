"""examples/docs/deployment.py, without a server (the cluster itself runs in
tests/integration/test_docs_pages.py)."""

from __future__ import annotations

from typing import Any

import pytest

from examples.docs import deployment
from phoenix_py import SocketApp
from phoenix_py.pubsub.redis import RedisAdapter
from phoenix_py.uvicorn import WebSocketProtocol


def test_main_runs_the_app_on_the_direct_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(deployment.uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    deployment.main()
    expected = {"host": deployment.HOST, "port": deployment.PORT, "ws": WebSocketProtocol}
    assert calls == [(deployment.app, expected)]


def test_one_instance_of_a_cluster_on_redis() -> None:
    app = deployment.create_app("redis://10.0.0.5:6379/0")
    [mount] = app.routes
    socket_app = getattr(mount, "app", None)
    assert isinstance(socket_app, SocketApp) and socket_app.longpoll is not None
    endpoint = socket_app.endpoint
    assert isinstance(endpoint.pubsub.adapter, RedisAdapter)
    assert endpoint.pubsub.adapter.namespace == "myapp"
    assert endpoint.state.presence.pubsub is endpoint.pubsub
