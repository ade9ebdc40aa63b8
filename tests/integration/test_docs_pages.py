"""The docs' examples on real servers: ``examples/docs/`` served by uvicorn, the page
scripts of ``examples/docs/js/`` run by Node with the pinned phoenix.js (``js/page.mjs``
plays the browser), and the raw Python client of getting-started.

Each test checks what its page says the code does. The in-process half of the docs'
examples is tested in ``tests/docs/``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from examples.docs import authentication, bare_socket_app, channels, longpoll, presence, raw_client
from examples.hello import app as hello

from ..redis_server import redis_server
from .conftest import HOST, JS_DIR, REPO_ROOT, _free_port
from .servers import WS_MODES, ThreadedServer, serve

PAGE = JS_DIR / "page.mjs"
SCRIPTS = REPO_ROOT / "examples" / "docs" / "js"
SECRET_KEY = "docs pages: a LongPoll secret key of 32 bytes or more"


def run_page(
    script: str,
    server: ThreadedServer,
    logs: int,
    *,
    local_storage: dict[str, str] | None = None,
    timeout_ms: int = 10_000,
) -> list[list[Any]]:
    """The ``console.log`` calls of ``examples/docs/js/<script>``, run as a page of ``server``."""
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    proc = subprocess.run(
        [
            node,
            str(PAGE),
            *("--script", str(SCRIPTS / script)),
            *("--origin", f"http://{HOST}:{server.port}"),
            *("--logs", str(logs), "--timeout", str(timeout_ms)),
            *("--local-storage", json.dumps(local_storage or {})),
        ],
        capture_output=True,
        text=True,
        timeout=timeout_ms / 1000 + 30,
        check=False,
    )
    assert proc.returncode == 0, (
        f"{script} did not log {logs} time(s) within {timeout_ms} ms "
        f"(exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    result: list[list[Any]] = json.loads(proc.stdout.strip().splitlines()[-1])["logs"]
    return result


@pytest.fixture
def page(js_deps: Path) -> Any:
    return run_page


# README, getting started ------------------------------------------------------------------------


@pytest.mark.parametrize("ws", WS_MODES)
def test_readme_page_script(page: Any, ws: str) -> None:
    with serve(hello.app, ws) as server:
        assert page("hello.mjs", server, 1) == [[{"user": "alice", "body": "hi"}]]


def test_getting_started_page_script(page: Any) -> None:
    with serve(hello.app) as server:
        logs = page("getting_started.mjs", server, 4)
    # the broadcast reaches the sender before the reply to its push (channels.md, "Order")
    assert logs == [["joined", {"user": "alice"}], ["alice: hello"], ["sent"], [{"pong": {"n": 1}}]]


@pytest.mark.parametrize("ws", WS_MODES)
def test_raw_client_prints_what_its_comments_say(
    ws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(hello.app, ws) as server:
        asyncio.run(raw_client.main(server.url(query="user=alice&vsn=2.0.0")))
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == [
        ["1", "1", "room:lobby", "phx_reply", {"response": {"user": "alice"}, "status": "ok"}],
        [None, None, "room:lobby", "new_msg", {"user": "alice", "body": "hi"}],
        ["1", "2", "room:lobby", "phx_reply", {"response": {}, "status": "ok"}],
        [None, "3", "phoenix", "phx_reply", {"response": {}, "status": "ok"}],
    ]


def test_without_a_user_the_handshake_fails_with_403() -> None:
    async def handshake(url: str) -> None:
        async with websockets.connect(url):
            pass

    with serve(hello.app) as server, pytest.raises(InvalidStatus) as refused:
        asyncio.run(handshake(server.url()))
    assert refused.value.response.status_code == 403


def test_a_socket_app_alone_serves_any_path_ending_in_websocket(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serve(bare_socket_app.socket_app) as server:
        asyncio.run(raw_client.main(server.url("/any/where/websocket", "user=alice&vsn=2.0.0")))
    assert len(capsys.readouterr().out.splitlines()) == 4


# channels, presence, LongPoll, authentication ------------------------------------------------


def test_auth_token_page_script(page: Any) -> None:
    with serve(channels.app) as server:
        assert page("auth_token.mjs", server, 1) == [[{"topic": "room:lobby", "user": "alice"}]]


def test_presence_page_script(page: Any) -> None:
    with serve(presence.app) as server:
        [[listed]] = page("presence.mjs", server, 1)
    [entry] = listed
    assert entry["key"] == "alice"
    [meta] = entry["metas"]
    assert meta["name"] == "Alice" and len(meta["phx_ref"]) == 16


def test_longpoll_from_the_start(page: Any) -> None:
    with serve(longpoll.create_app(SECRET_KEY)) as server:
        logs = page("longpoll_only.mjs", server, 1)
    assert logs == [["joined over", "LongPoll", {"user": "alice"}]]


def blocking_websockets(app: Any) -> Any:
    """``app`` behind a proxy that refuses every WebSocket upgrade."""

    async def proxy(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await app(scope, receive, send)

    return proxy


def test_longpoll_fallback_only_when_the_websocket_fails(page: Any) -> None:
    app = longpoll.create_app(SECRET_KEY)
    with serve(app) as server:
        assert page("longpoll_fallback.mjs", server, 1)[0][:2] == ["joined over", "WebSocket"]
    with serve(blocking_websockets(app)) as server:
        started = time.monotonic()
        logs = page("longpoll_fallback.mjs", server, 1)
        assert logs == [["joined over", "LongPoll", {"user": "alice"}]]
        assert time.monotonic() - started < 2.5, "a refused upgrade falls back at once"


def test_fresh_token_page_script(page: Any) -> None:
    token = authentication.sign_in("42")["access"]
    with serve(authentication.app) as server:
        logs = page("fresh_token.mjs", server, 1, local_storage={"access_token": token})
    assert logs == [[{"user_id": "42"}]]


# deployment: two instances on one Redis ------------------------------------------------------


@contextmanager
def instance(redis_url: str) -> Iterator[int]:
    """``python -m examples.docs.deployment`` on a free port; yields the port."""
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)]),
        **{"REDIS_URL": redis_url, "SECRET_KEY": SECRET_KEY, "HOST": HOST, "PORT": str(port)},
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.docs.deployment"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    output = proc.communicate()[0].decode(errors="replace")
                    pytest.fail(f"the deployment example did not start:\n{output}")
                time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait(10)


def test_two_instances_share_presence_through_redis() -> None:
    async def scenario(port_a: int, port_b: int) -> dict[str, Any]:
        url = "ws://{}:{}/socket/websocket?vsn=2.0.0&user={}"
        async with (
            websockets.connect(url.format(HOST, port_a, "ann")) as ann,
            websockets.connect(url.format(HOST, port_b, "bob")) as bob,
        ):
            await ann.send(json.dumps(["1", "1", "room:lobby", "phx_join", {}]))
            await bob.send(json.dumps(["1", "1", "room:lobby", "phx_join", {}]))
            seen: dict[str, Any] = {}
            while "ann" not in seen:  # from presence_state, or from a later presence_diff
                _, _, _, event, payload = json.loads(await asyncio.wait_for(bob.recv(), 10))
                if event == "presence_state":
                    seen.update(payload)
                elif event == "presence_diff":
                    seen.update(payload["joins"])
            return seen

    with redis_server() as redis, instance(redis.url) as port_a, instance(redis.url) as port_b:
        seen = asyncio.run(scenario(port_a, port_b))
    assert seen["ann"]["metas"][0]["name"] == "ann"
