"""Fixtures for the chat app: the app in-process on a fresh SQLite database,
an HTTP client on it, signed-up users with their tokens, the app as a real
server, and Debian's chromium driven by playwright for the browser tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from starlette.applications import Starlette

from examples.chat_app.app import create_app
from examples.chat_app.settings import Settings

from ..redis_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_SECRET = "a test secret, long enough for HS256: 0123456789abcdef"
PASSWORD = "correct horse battery"

SignUp = Callable[[str], Awaitable[dict[str, Any]]]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    """The app, started (migrated, lobby created), on a database of its own."""
    chat = create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'chat.sqlite3'}", secret=TEST_SECRET)
    )
    async with chat.router.lifespan_context(chat):
        yield chat


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://chat.test") as http:
        yield http


@pytest.fixture
def sign_up(client: httpx.AsyncClient) -> SignUp:
    """``await sign_up(name)``: a new user, signed in: ``{"token", "user", "headers"}``."""

    async def create(username: str) -> dict[str, Any]:
        credentials = {"username": username, "password": PASSWORD}
        created = await client.post("/api/users", json=credentials)
        assert created.status_code == 201, created.text
        session = await client.post("/api/sessions", json=credentials)
        assert session.status_code == 200, session.text
        body: dict[str, Any] = session.json()
        return {**body, "headers": {"Authorization": f"Bearer {body['token']}"}}

    return create


class ChatServer:
    """``python -m examples.chat_app`` on a free loopback port, on its own SQLite file."""

    def __init__(self, workdir: Path, *extra_args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log_path = workdir / f"server-{self.port}.log"
        self.args = [
            sys.executable,
            "-m",
            "examples.chat_app",
            "--port",
            str(self.port),
            "--database-url",
            f"sqlite:///{workdir / 'chat.sqlite3'}",
            "--log-level",
            "warning",
            *extra_args,
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.args, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the chat app exited:\n{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the chat app did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def chat_server(tmp_path: Path) -> Iterator[ChatServer]:
    """A running chat app (a real uvicorn in a subprocess); its output shows on failure."""
    server = ChatServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        sys.stderr.write(server.output())


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium (playwright never downloads a browser here), one per module."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


NewPage = Callable[..., Page]


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """``new_page(**context_options)``: a page in a fresh context (one person), closed
    after; a JavaScript exception on any of them fails the test."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def open_page(**options: object) -> Page:
        context = browser.new_context(**options)  # type: ignore[arg-type]
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert errors == [], f"JavaScript errors on the pages: {errors}"
