"""The chat app driven by the official phoenix.js from Node (tests/integration/js/chat_app.mjs)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .conftest import ChatServer

JS_DIR = Path(__file__).resolve().parents[1] / "integration" / "js"


def test_two_phoenix_js_clients_join_the_lobby_and_talk(chat_server: ChatServer) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH; scripts/test installs it"
    assert (JS_DIR / "node_modules" / "phoenix").is_dir(), "run scripts/test (npm ci in js/)"
    proc = subprocess.run(
        [node, "chat_app.mjs", "--http-url", chat_server.url],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
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
