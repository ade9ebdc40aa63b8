"""A real uvicorn server on a free loopback port, in a thread of the test process.

Tests that need to look inside the server (its endpoint, its tasks) or to
configure it (short timeouts, small limits) use this instead of a subprocess.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import uvicorn

T = TypeVar("T")


class ThreadedServer:
    def __init__(self, app: Any) -> None:
        self.app = app
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = threading.Event()

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        serving = asyncio.ensure_future(self.server.serve())
        while not self.server.started and not serving.done():
            await asyncio.sleep(0.01)
        if self.server.servers:
            self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self._started.set()
        await serving

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(10) or not self.port:
            raise RuntimeError("uvicorn did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run ``coro`` on the server's loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def task_count(self) -> int:
        async def count() -> int:
            return len(asyncio.all_tasks())

        return self.call(count())

    def url(self, path: str = "/socket/websocket", query: str = "vsn=2.0.0") -> str:
        return f"ws://127.0.0.1:{self.port}{path}?{query}"


@contextmanager
def serve(app: Any) -> Iterator[ThreadedServer]:
    server = ThreadedServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()
