"""The LongPoll transport over ASGI (PHOENIX_PROTOCOL.md §4).

phoenix.js falls back to LongPoll where WebSockets are blocked
(``longPollFallbackMs``), and some deployments use it alone. Turn it on where
the socket is mounted; it serves ``<mount>/longpoll``::

    endpoint = Endpoint(secret_key=os.environ["SECRET_KEY"])
    app = Starlette(
        routes=[Mount("/socket", app=endpoint.socket_app(UserSocket, longpoll=True))],
        lifespan=endpoint.lifespan,
    )

The same ``Socket`` and ``Channel`` classes serve both transports; a channel
never knows which one its client uses (``socket.connect_info.transport`` does).

Wire behaviour, as Phoenix 1.8 (§4.1-§4.6). Every answer carries
``access-control-allow-origin: *``; a JSON answer has HTTP status 200, the
logical status in its ``status`` field, ``content-type: application/json;
charset=utf-8`` and ``cache-control: no-store``.

* The origin is checked first (``check_origin``); a refusal is ``{"status": 403}``.
* ``OPTIONS``: CORS preflight, empty 200. Other methods than GET and POST: HTTP 400.
* ``GET`` without a valid session token (from the ``x-phoenix-longpoll-token``
  header, which wins, or the ``token`` query parameter): runs ``connect``
  with the query params and a ``ConnectInfo`` whose ``auth_token`` is the
  ``x-phoenix-authtoken`` header; ``{"status": 410, "token": ..., "messages": []}``
  (a new session), or ``{"status": 403}`` when refused (500 when ``connect``
  raised).
* ``GET`` with a token: the buffered frames at once, or as soon as one comes
  within ``window``: ``{"status": 200, "token": ..., "messages": [...]}``,
  each frame a JSON string; ``204`` (no messages) when the window ends first.
* ``POST`` (phoenix.js sends ``application/x-ndjson`` batches, see
  ``_core.longpoll_wire``): ``{"status": 200}`` once every frame is handled;
  ``408`` when one is not handled within ``window``; ``410`` when the session
  is missing or closed. A body over ``max_body_size`` or a bad batch line is
  HTTP 400.

Sessions: a session expires when no poll has waited on it for ``window * 1.5``
seconds; its channels stop with reason ``"inactive"``. A server-side close (a
``disconnect``, shutdown) ends the session: the waiting poll answers with what
is left, and the next poll opens a new session (410), which phoenix.js 1.8
reports as ``session_gone`` before it reconnects and rejoins. Server-to-client
binary frames are not carried (neither does Phoenix): they are dropped with a
warning.

Tokens are signed with the endpoint's ``secret_key`` (``_core.session_token``);
a forged, tampered, expired (``token_max_age``) or foreign token counts as no
token. Several instances need no sticky sessions: a request for a session on
another instance is answered through the pubsub (``_longpoll_routing``), which
needs every instance to share the ``secret_key``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from .._core.longpoll_wire import poll_body, publish_frames, status_body
from .._core.params import parse_params
from .._core.session_token import SessionRef, SessionTokens
from .._socket_server import SocketServer
from ..errors import ConnectionRefused, ProtocolError, UsageError
from ..socket import Socket
from ..types import Transport
from ._longpoll_routing import LongPollSessions
from ._longpoll_session import GONE, LongPollSession
from .base import (
    CheckOrigin,
    Scope,
    SocketHost,
    connect_info,
    negotiated_serializer,
    origin_allowed,
    request_headers,
)

logger = logging.getLogger("phoenix_py.transport")

T = TypeVar("T")

_JSON_HEADERS = [
    (b"content-type", b"application/json; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"access-control-allow-origin", b"*"),
]
_TOKEN_HEADER = "x-phoenix-longpoll-token"
_AUTH_TOKEN_HEADER = "x-phoenix-authtoken"


@dataclass(frozen=True, slots=True)
class LongPollOptions:
    """Options of the LongPoll transport, with Phoenix's defaults.

    Args:
        window: seconds a poll waits for messages before answering 204, and a
            POST for each frame to be handled before answering 408. A session
            expires after ``window * 1.5`` seconds without a poll.
        pubsub_timeout: seconds to wait for the instance holding a session to
            answer before treating the session as gone.
        max_buffered_messages: frames kept for a client between polls; one
            more closes its session.
        max_body_size: bytes of a POST body; a larger one gets HTTP 400.
        token_max_age: seconds a session token stays valid (two weeks).
    """

    window: float = 10.0
    pubsub_timeout: float = 2.0
    max_buffered_messages: int = 10_000
    max_body_size: int = 8_000_000
    token_max_age: float = 1_209_600.0

    def __post_init__(self) -> None:
        for name in (
            "window",
            "pubsub_timeout",
            "max_buffered_messages",
            "max_body_size",
            "token_max_age",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise UsageError(f"LongPollOptions({name}={value!r}): give a positive number")


class LongPollApp:
    """Serves ``<mount>/longpoll`` for one socket handler (HTTP requests only)."""

    def __init__(
        self,
        host: SocketHost,
        socket_cls: type[Socket],
        options: LongPollOptions,
        check_origin: CheckOrigin,
        sessions: LongPollSessions,
        secret_key: bytes,
    ) -> None:
        self._host = host
        self._socket_cls = socket_cls
        self._options = options
        self._check_origin = check_origin
        self._sessions = sessions
        namespace = f"{socket_cls.__module__}.{socket_cls.__qualname__}"
        self._tokens = SessionTokens(secret_key, namespace, max_age=options.token_max_age)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        headers = request_headers(scope)
        params = {**scope.get("path_params", {}), **parse_params(scope.get("query_string", b""))}
        origin = headers.get("origin")
        if not origin_allowed(origin, headers.get("host", ""), self._check_origin):
            logger.error(
                "Could not check origin for the socket transport: origin %r is not allowed", origin
            )
            return await _send_json(send, status_body(403))
        method = scope.get("method", "GET")
        if method == "OPTIONS":
            allowed = headers.get("access-control-request-headers", "")
            return await _send_empty(
                send,
                200,
                [
                    (b"access-control-allow-headers", allowed.encode("latin-1")),
                    (b"access-control-allow-methods", b"get, post, options"),
                    (b"access-control-max-age", b"3600"),
                ],
            )
        if method == "GET":
            return await self._get(scope, receive, send, headers, params)
        if method == "POST":
            return await self._post(receive, send, headers, params)
        await _send_empty(send, 400)

    # GET: poll, or create a session

    async def _get(
        self, scope: Scope, receive: Any, send: Any, headers: dict[str, str], params: dict[str, Any]
    ) -> None:
        token, ref = self._session_token(headers, params)
        if token is not None and ref is not None:
            poll = self._sessions.poll(
                ref, window=self._options.window, pubsub_timeout=self._options.pubsub_timeout
            )
            try:
                messages = await _unless_disconnected(receive, poll)
            except _ClientGone:
                return
            if messages is not None:
                return await _send_json(send, poll_body(200 if messages else 204, token, messages))
        await self._new_session(scope, send, headers, params)

    async def _new_session(
        self, scope: Scope, send: Any, headers: dict[str, str], params: dict[str, Any]
    ) -> None:
        serializer = negotiated_serializer(params)
        if serializer is None:
            return await _send_json(send, status_body(403))
        info = connect_info(
            scope,
            headers,
            transport="longpoll",
            default_scheme="http",
            auth_token=headers.get(_AUTH_TOKEN_HEADER),
        )
        try:
            socket = await self._host.connect(self._socket_cls, params, info)
        except ConnectionRefused as refused:  # no error handler for LongPoll, as in Phoenix
            return await _send_json(send, status_body(500 if refused.status == 500 else 403))

        def open_server(transport: Transport) -> SocketServer:
            return self._host.open(
                socket, serializer, transport, max_frame_size=self._options.max_body_size
            )

        session = LongPollSession(
            open_server,
            window=self._options.window,
            max_buffered_messages=self._options.max_buffered_messages,
            on_end=self._sessions.discard,
        )
        ref = self._sessions.add(session)
        token = self._tokens.sign(ref, now=time.time())
        await _send_json(send, poll_body(410, token, []))

    # POST: publish

    async def _post(
        self, receive: Any, send: Any, headers: dict[str, str], params: dict[str, Any]
    ) -> None:
        _, ref = self._session_token(headers, params)
        if ref is None:
            return await _send_json(send, status_body(GONE))
        body = await _read_body(receive, self._options.max_body_size)
        if body is None:
            return await _send_empty(send, 400)
        try:
            frames = publish_frames(body, headers.get("content-type"))
        except ProtocolError as exc:
            logger.info("LongPoll POST refused with 400: %s", exc)
            return await _send_empty(send, 400)
        status = await self._sessions.publish(
            ref,
            frames,
            window=self._options.window,
            pubsub_timeout=self._options.pubsub_timeout,
        )
        await _send_json(send, status_body(status))

    def _session_token(
        self, headers: dict[str, str], params: dict[str, Any]
    ) -> tuple[str | None, SessionRef | None]:
        """The request's session token, and the session it names if it is valid."""
        token = headers[_TOKEN_HEADER] if _TOKEN_HEADER in headers else params.get("token")
        if not isinstance(token, str):
            return None, None
        return token, self._tokens.verify(token, now=time.time())


class _ClientGone(Exception):
    """The client closed the connection while its request waited."""


async def _unless_disconnected(receive: Any, work: Awaitable[T]) -> T:
    """``await work``, unless the client disconnects first (``_ClientGone``)."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnect(receive))
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise _ClientGone


async def _disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The request body, or ``None`` when it exceeds ``limit`` or the client left."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_json(send: Any, body: bytes) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_empty(
    send: Any, status: int, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"access-control-allow-origin", b"*"),
                (b"content-length", b"0"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})
