"""The endpoint: sockets mounted in any ASGI app, and broadcasts from outside a socket.

Example (``examples/hello/app.py``, served by ``uvicorn examples.hello.app:app``)::

    endpoint = Endpoint()
    app = Starlette(
        routes=[Mount("/socket", app=endpoint.socket_app(UserSocket))],
        lifespan=endpoint.lifespan,
    )

    # from an HTTP handler or a background job:
    await endpoint.broadcast("room:lobby", "new_msg", {"body": "hi"})

``socket_app`` serves ``<mount>/websocket`` (phoenix.js's path). A plain HTTP
request there gets 400, as Phoenix answers one that is not an upgrade. With
``longpoll=True`` it also serves ``<mount>/longpoll`` (``transports.longpoll``),
whose session tokens are signed with the endpoint's ``secret_key``.
``lifespan`` starts the pubsub and, on shutdown, closes every socket with 1012
so that phoenix.js clients reconnect to the next server.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

from starlette.types import Receive, Scope, Send

from ._core.message import Broadcast
from ._core.serializer import Serializer
from ._socket_server import SocketServer
from .auth import JWTAuth
from .errors import ConnectionRefused, UsageError
from .pubsub.base import PubSub
from .pubsub.memory import MemoryAdapter
from .socket import Socket, token_topic
from .telemetry import LIMIT_REACHED, SOCKET_CLOSED, SOCKET_CONNECTED, SOCKET_DRAIN
from .transports._longpoll_routing import LongPollSessions
from .transports.base import CheckOrigin, validate_check_origin
from .transports.longpoll import LongPollApp, LongPollOptions
from .transports.websocket import WebSocketOptions, serve_websocket
from .types import ConnectInfo, Transport

__all__ = ["Endpoint", "SocketApp"]

logger = logging.getLogger("phoenix_py.endpoint")


class Endpoint:
    """Owns the pubsub and the live sockets of this node.

    Args:
        pubsub: defaults to an in-memory ``PubSub`` (this process only).
        state: the application's objects (a database, the auth, a presence,
            settings: anything), reachable as ``self.state`` in every ``Socket``
            and ``Channel`` this endpoint serves.
        secret_key: signs LongPoll session tokens (at least 32 bytes). Every
            instance of a cluster must be given the same one, or a LongPoll
            client whose requests reach another instance loses its session.
            The default, a random key per process, suits one process only.
        max_connections: sockets (WebSocket connections and LongPoll sessions)
            this instance accepts at once; beyond it, a connection is refused
            with HTTP 503 (LongPoll: ``{"status": 403}``) and phoenix.js retries
            with backoff, possibly on another instance.
    """

    def __init__(
        self,
        pubsub: PubSub | None = None,
        *,
        state: Any = None,
        secret_key: str | bytes | None = None,
        max_connections: int = 100_000,
    ):
        self.pubsub = pubsub or PubSub()
        self.state = state
        self.max_connections = max_connections
        self._at_capacity = False
        self._secret_key_given = secret_key is not None
        self._secret_key = _checked_secret_key(secret_key)
        self._sockets: set[SocketServer] = set()
        self._longpoll_sessions: LongPollSessions | None = None

    def socket_app(
        self,
        socket_cls: type[Socket],
        *,
        check_origin: CheckOrigin = True,
        timeout: float = 60.0,
        max_frame_size: int = 10_000_000,
        max_buffered_frames: int = 10_000,
        max_buffered_bytes: int = 8_000_000,
        slow_consumer: Literal["disconnect", "drop_oldest"] = "disconnect",
        websocket: bool = True,
        longpoll: bool | LongPollOptions = False,
        context: Any = None,
    ) -> SocketApp:
        """An ASGI app serving ``socket_cls`` below where it is mounted: at
        ``/websocket`` unless ``websocket=False``, and at ``/longpoll`` when
        ``longpoll`` is ``True`` or ``LongPollOptions(...)`` (off by default, as
        in Phoenix). ``check_origin`` applies to both; the other arguments are
        WebSocket options (``transports.websocket.WebSocketOptions``), and
        ``context``, which every socket of this mount gets as ``socket.context``
        (for what a library mounts, such as ``phoenix_py.live``; an application
        hands its own objects through ``Endpoint(state=...)``)."""
        check_origin = validate_check_origin(check_origin)
        if not websocket and longpoll is False:
            raise UsageError(
                "socket_app with websocket=False needs longpoll=True: give it a transport"
            )
        websocket_options = None
        if websocket:
            websocket_options = WebSocketOptions(
                check_origin=check_origin,
                timeout=timeout,
                max_frame_size=max_frame_size,
                max_buffered_frames=max_buffered_frames,
                max_buffered_bytes=max_buffered_bytes,
                slow_consumer=slow_consumer,
            )
        longpoll_options = None
        if longpoll is not False:
            longpoll_options = LongPollOptions() if longpoll is True else longpoll
            if not isinstance(longpoll_options, LongPollOptions):
                raise UsageError(f"longpoll={longpoll!r}: pass True, False or LongPollOptions(...)")
        app = SocketApp(self, socket_cls, websocket_options, context)
        if longpoll_options is not None:
            app.longpoll = LongPollApp(
                app,
                socket_cls,
                longpoll_options,
                check_origin,
                self._longpoll(),
                self._secret_key,
            )
        return app

    def _longpoll(self) -> LongPollSessions:
        """This node's LongPoll sessions, shared by every socket handler mounted."""
        if self._longpoll_sessions is None:
            if not self._secret_key_given and not isinstance(self.pubsub.adapter, MemoryAdapter):
                logger.warning(
                    "LongPoll on a multi-node pubsub without Endpoint(secret_key=...): give "
                    "every instance the same secret_key, or sessions break across instances"
                )
            self._longpoll_sessions = LongPollSessions(self.pubsub)
        return self._longpoll_sessions

    # Broadcasting from outside a channel

    async def broadcast(self, topic: str, event: str, payload: Any) -> None:
        """Send ``event`` to every subscriber of ``topic`` on every node."""
        await self.pubsub.broadcast(topic, Broadcast(topic, event, payload))

    def local_broadcast(self, topic: str, event: str, payload: Any) -> None:
        """Send ``event`` to the subscribers of ``topic`` on this node."""
        self.pubsub.local_broadcast(topic, Broadcast(topic, event, payload))

    async def disconnect(self, socket_id: str) -> None:
        """Close every socket whose ``id()`` is ``socket_id``, on every node (1001)."""
        await self.broadcast(socket_id, "disconnect", {})

    async def revoke(self, auth: JWTAuth, token: str | Mapping[str, Any]) -> None:
        """Revoke a token (``auth.revoke``) and close, on every node, the sockets
        that authenticated with it (1001; phoenix.js reconnects with a fresh token)."""
        claims = await auth.revoke(token)
        await self.broadcast(token_topic(str(claims["jti"])), "disconnect", {})

    # Lifecycle

    async def startup(self) -> None:
        await self.pubsub.start()

    async def drain(self, *, batch_size: int = 10_000, interval: float = 2.0) -> None:
        """Close every socket with 1012, ``batch_size`` at a time, ``interval``
        seconds apart (Phoenix's drainer defaults), so that clients come back
        spread out rather than all at once. New connections are still accepted
        meanwhile; stop routing traffic here first (a load balancer's drain)."""
        if batch_size < 1 or interval < 0:
            raise UsageError("drain needs batch_size >= 1 and interval >= 0")
        pending = list(self._sockets)
        rounds = -(-len(pending) // batch_size)
        for index, start in enumerate(range(0, len(pending), batch_size)):
            if start:
                await asyncio.sleep(interval)
            batch = pending[start : start + batch_size]
            if SOCKET_DRAIN.handlers:
                SOCKET_DRAIN.emit(
                    {"count": len(batch), "total": len(pending), "index": index, "rounds": rounds},
                    {"endpoint": self, "interval": interval},
                )
            for server in batch:
                server.close(1012, "server shutting down")

    async def shutdown(self, *, grace: float = 5.0) -> None:
        """Drain every socket (1012; clients reconnect), then stop the pubsub.

        Under uvicorn the WebSockets are usually closed (1012) by uvicorn itself
        before the lifespan shutdown runs; call ``drain`` earlier (a pre-stop
        hook) to spread a large instance's reconnects over time.
        """
        await self.drain()
        deadline = asyncio.get_running_loop().time() + grace
        while self._sockets and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await self.pubsub.stop()

    @asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    @property
    def socket_count(self) -> int:
        return len(self._sockets)

    # The transport contract (transports.base.SocketHost)

    async def connect(
        self,
        socket_cls: type[Socket],
        params: dict[str, Any],
        info: ConnectInfo,
        *,
        context: Any = None,
    ) -> Socket:
        """A new ``socket_cls`` whose ``connect`` and ``id`` have accepted the request;
        ``ConnectionRefused`` (with the HTTP status to answer) otherwise."""
        began = time.perf_counter_ns() if SOCKET_CONNECTED.handlers else 0
        try:
            socket = await self._connect(socket_cls, params, info, context)
        except ConnectionRefused as exc:
            # One line per refusal, by reason: never the params (they may hold a token).
            logger.info(
                "connection refused: transport=%s socket=%s status=%d reason=%s",
                info.transport,
                socket_cls.__name__,
                exc.status,
                exc.reason,
            )
            if began:
                self._connected(began, socket_cls, params, info, result="error", reason=exc.reason)
            raise
        if began:
            self._connected(began, socket_cls, params, info, result="ok")
        return socket

    def _connected(
        self,
        began: int,
        socket_cls: type[Socket],
        params: dict[str, Any],
        info: ConnectInfo,
        **outcome: str,
    ) -> None:
        metadata = {"endpoint": self, "transport": info.transport, "params": params}
        metadata |= {"connect_info": info, "user_socket": socket_cls, **outcome}
        SOCKET_CONNECTED.emit({"duration": time.perf_counter_ns() - began}, metadata)

    async def _connect(
        self, socket_cls: type[Socket], params: dict[str, Any], info: ConnectInfo, context: Any
    ) -> Socket:
        if len(self._sockets) >= self.max_connections:
            if not self._at_capacity:
                logger.warning(
                    "at max_connections (%d): refusing new connections with 503",
                    self.max_connections,
                )
            self._at_capacity = True
            if LIMIT_REACHED.handlers:
                LIMIT_REACHED.emit({}, {"limit": "max_connections", "transport": info.transport})
            raise ConnectionRefused("at max_connections", status=503)
        self._at_capacity = False
        socket = socket_cls()
        socket.params, socket.connect_info, socket.state = params, info, self.state
        socket.context = context
        name = socket_cls.__name__
        try:
            accepted = await socket.connect(params, info)
        except ConnectionRefused:
            raise
        except Exception as exc:
            logger.exception("%s.connect raised; refusing with 500", name)
            raise ConnectionRefused(f"{name}.connect raised", status=500) from exc
        if accepted is not True:
            if accepted is not False:
                logger.error("%s.connect returned %r; return True or False", name, accepted)
            raise ConnectionRefused(f"{name}.connect refused", status=403)
        try:
            socket_id = socket.id()
        except Exception as exc:
            logger.exception("%s.id raised; refusing with 500", name)
            raise ConnectionRefused(f"{name}.id raised", status=500) from exc
        if socket_id is not None and not isinstance(socket_id, str):
            logger.error("%s.id returned %r; return a str or None", name, socket_id)
            raise ConnectionRefused(f"{name}.id returned a {type(socket_id).__name__}")
        socket.socket_id = socket_id
        return socket

    def open(
        self, socket: Socket, serializer: Serializer, transport: Transport, *, max_frame_size: int
    ) -> SocketServer:
        """The socket server of a connected ``socket``, counted among this node's
        live sockets until its connection is lost."""
        server = SocketServer(
            socket,
            serializer,
            transport,
            self.pubsub,
            max_frame_size=max_frame_size,
            on_closed=self._closed,
        )
        self._sockets.add(server)
        return server

    def abandon(self, socket: Socket, transport: str, reason: str) -> None:
        self._ended(socket, transport, None, reason, 0)

    def _closed(self, server: SocketServer) -> None:
        self._sockets.discard(server)
        code, reason = server.close_reason
        lifetime = time.perf_counter_ns() - server.opened_at
        self._ended(server.socket, server.transport.name, code, reason, lifetime)

    def _ended(
        self, socket: Socket, transport: str, code: int | None, reason: str, lifetime: int
    ) -> None:
        logger.info(
            "socket closed: transport=%s id=%s code=%s reason=%s after=%.1fs",
            transport,
            socket.socket_id,
            code,
            reason,
            lifetime / 1e9,
        )
        if SOCKET_CLOSED.handlers:
            metadata = {"transport": transport, "user_socket": type(socket)}
            SOCKET_CLOSED.emit({"duration": lifetime}, {**metadata, "code": code, "reason": reason})


class SocketApp:
    """The ASGI app for one socket handler; see ``Endpoint.socket_app``.

    It is its transports' ``SocketHost``: the endpoint's, with this mount's ``context``.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        socket_cls: type[Socket],
        websocket: WebSocketOptions | None,
        context: Any,
    ) -> None:
        self.endpoint = endpoint
        self.socket_cls = socket_cls
        self.websocket_options = websocket
        self.context = context
        self.longpoll: LongPollApp | None = None

    async def connect(
        self, socket_cls: type[Socket], params: dict[str, Any], info: ConnectInfo
    ) -> Socket:
        return await self.endpoint.connect(socket_cls, params, info, context=self.context)

    def open(
        self, socket: Socket, serializer: Serializer, transport: Transport, *, max_frame_size: int
    ) -> SocketServer:
        return self.endpoint.open(socket, serializer, transport, max_frame_size=max_frame_size)

    def abandon(self, socket: Socket, transport: str, reason: str) -> None:
        self.endpoint.abandon(socket, transport, reason)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        path = scope.get("path", "")
        websocket = self.websocket_options
        if kind == "lifespan":
            await _serve_lifespan(self.endpoint, receive, send)
        elif kind == "websocket" and websocket is not None and path.endswith("/websocket"):
            await serve_websocket(self, self.socket_cls, websocket, scope, receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        elif websocket is not None and path.endswith("/websocket"):
            await _plain_response(send, 400, b"'connection' header must contain 'upgrade'")
        elif self.longpoll is not None and path.endswith("/longpoll"):
            await self.longpoll(scope, receive, send)
        else:
            await _plain_response(send, 404, b"not found")


def _checked_secret_key(secret_key: str | bytes | None) -> bytes:
    if secret_key is None:
        return secrets.token_bytes(32)
    key = secret_key.encode() if isinstance(secret_key, str) else secret_key
    if not isinstance(key, bytes) or len(key) < 32:
        raise UsageError(
            "Endpoint(secret_key=...) needs at least 32 bytes; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'` and read it "
            "from the environment on every instance"
        )
    return key


async def _plain_response(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _serve_lifespan(endpoint: Endpoint, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await endpoint.startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await endpoint.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
