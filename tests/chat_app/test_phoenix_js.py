"""The chat app driven by the official phoenix.js from Node (tests/integration/js/chat_app.mjs)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ..redis_server import redis_server
from .conftest import TEST_SECRET, ChatServer

pytestmark = pytest.mark.slow

JS_DIR = Path(__file__).resolve().parents[1] / "integration" / "js"


def test_two_phoenix_js_clients_join_the_lobby_and_talk(chat_server: ChatServer) -> None:
    check_conversation(run_scenario(chat_server.url))


def test_two_instances_sharing_redis_are_one_app(tmp_path: Path) -> None:
    with redis_server() as redis:
        args = ("--redis", redis.url, "--secret", TEST_SECRET)
        # one after the other: the first one creates the schema
        first, second = ChatServer(tmp_path, *args), ChatServer(tmp_path, *args)
        try:
            first.start()
            second.start()
            check_conversation(run_scenario(first.url, "--other-http-url", second.url))
        finally:
            for server in (first, second):
                server.stop()


def run_scenario(*args: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH; scripts/test installs it"
    assert (JS_DIR / "node_modules" / "phoenix").is_dir(), "run scripts/test (npm ci in js/)"
    proc = subprocess.run(
        [node, "chat_app.mjs", "--http-url", *args],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    seen: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return seen


def check_conversation(seen: dict[str, Any]) -> None:
    assert seen["refused"] is True
    assert seen["joined_room"] == {"id": seen["lobby_id"], "name": "lobby", "private": False}
    names = sorted([seen["ann"]["username"], seen["bob"]["username"]])
    assert seen["online_seen_by_ann"] == seen["online_seen_by_bob"] == names
    assert seen["sent"]["status"] == "ok"
    message = seen["received_by_bob"][0]
    assert message["id"] == seen["sent"]["response"]["id"]
    assert message["user"] == seen["ann"] and message["body"] == "hello from phoenix.js"
    assert seen["received_by_ann"][1]["body"] == "hi ann"
    assert seen["received_by_ann"][1]["user"] == seen["bob"]
    assert seen["empty"] == {
        "status": "error",
        "response": {"errors": {"body": ["can't be blank"]}},
    }
