"""The chat app on PostgreSQL: a throwaway cluster on a free port, when PostgreSQL is installed.

The cluster runs as the ``postgres`` user when the tests run as root (the
server refuses root), in a fresh directory that is removed afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import httpx
import pytest

from examples.chat_app.app import create_app
from examples.chat_app.settings import Settings

from ..redis_server import free_port
from .conftest import PASSWORD, TEST_SECRET

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def postgres_binary(name: str) -> str | None:
    found = shutil.which(name)
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found or (candidates[-1] if candidates else None)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = postgres_binary("initdb"), postgres_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL is not installed (initdb and pg_ctl not found)")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    workdir = tempfile.mkdtemp(prefix="chat-app-pg-")
    if as_user:
        shutil.chown(workdir, "postgres")
    data, port = os.path.join(workdir, "data"), free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=60)

    run(initdb, "-D", data, "-A", "trust", "-U", "chat")
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = os.path.join(workdir, "server.log")  # the server must not hold our pipes open
    run(pg_ctl, "-D", data, "-l", log, "-o", options, "-w", "start")
    try:
        yield f"postgresql://chat@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(workdir, ignore_errors=True)


async def test_the_app_migrates_postgres_and_keeps_its_data(postgres_url: str) -> None:
    settings = Settings(database_url=postgres_url, secret=TEST_SECRET)
    credentials = {"username": "pat", "password": PASSWORD}
    for start in ("first", "second"):  # the second start finds the schema and the lobby in place
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://chat.test") as http:
                if start == "first":
                    assert (await http.post("/api/users", json=credentials)).status_code == 201
                    taken = await http.post("/api/users", json={**credentials, "username": "PAT"})
                    assert taken.status_code == 409
                session = (await http.post("/api/sessions", json=credentials)).json()
                headers = {"Authorization": f"Bearer {session['token']}"}
                rooms = (await http.get("/api/rooms", headers=headers)).json()["rooms"]
                lobby = next(room for room in rooms if room["name"] == "lobby")
                if start == "first":
                    await app.state.store.insert_message(lobby["id"], session["user"], "hello pg")
                messages = await http.get(f"/api/rooms/{lobby['id']}/messages", headers=headers)
                assert [m["body"] for m in messages.json()["messages"]] == ["hello pg"]
                assert [r["name"] for r in rooms].count("lobby") == 1
