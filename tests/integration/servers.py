"""A real uvicorn server on a free loopback port, in a thread of the test process.

Tests that need to look inside the server (its endpoint, its tasks) or to
configure it (short timeouts, small limits) use this instead of a subprocess.
``AlternatingProxy`` is an ASGI app to serve so: a load balancer without sticky
sessions, for LongPoll across instances.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
import uvicorn

from phoenix_py.uvicorn import WebSocketProtocol

T = TypeVar("T")


WS_MODES = ("direct", "asgi")
"""``direct``: phoenix_py.uvicorn's protocol (the fast path); ``asgi``: plain uvicorn."""


class ThreadedServer:
    def __init__(self, app: Any, ws: str = "direct") -> None:
        self.app = app
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
            ws=WebSocketProtocol if ws == "direct" else "websockets-sansio",
        )
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
def serve(app: Any, ws: str = "direct") -> Iterator[ThreadedServer]:
    server = ThreadedServer(app, ws)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class AlternatingProxy:
    """A load balancer without sticky sessions: each request goes to the next instance.

    GETs and POSTs take turns separately, so that both polls and publishes reach the
    instance that does not hold the session. A client that disconnects cancels its request
    to the instance too. ``served`` logs (method, instance, answer).
    """

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.turns = {"GET": itertools.count(), "POST": itertools.count()}
        self.served: list[tuple[str, int, Any]] = []
        self.http: httpx.AsyncClient | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            if self.http is not None:
                await self.http.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        method = scope["method"]
        instance = next(self.turns.setdefault(method, itertools.count())) % len(self.backends)
        if self.http is None:
            self.http = httpx.AsyncClient(timeout=60)
        query = scope["query_string"].decode()
        url = f"{self.backends[instance]}{scope['path']}" + (f"?{query}" if query else "")
        skip = {b"host", b"content-length", b"connection", b"transfer-encoding"}
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in skip]
        forwarded = asyncio.ensure_future(
            self.http.request(method, url, headers=headers, content=body)
        )
        gone = asyncio.ensure_future(_disconnected(receive))
        await asyncio.wait((forwarded, gone), return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if not forwarded.done():
            forwarded.cancel()  # httpx drops the connection: the instance sees the client leave
            return
        response = forwarded.result()
        self.served.append((method, instance, _json_or_none(response)))
        drop = {"content-length", "transfer-encoding", "connection", "date", "server"}
        out = [(k.encode(), v.encode()) for k, v in response.headers.items() if k not in drop]
        out.append((b"content-length", str(len(response.content)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        await send({"type": "http.response.body", "body": response.content})


async def _disconnected(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
