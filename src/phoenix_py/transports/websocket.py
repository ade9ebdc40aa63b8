"""The WebSocket transport: the handshake over ASGI (PHOENIX_PROTOCOL.md §1.2-§1.9).

Handshake, in Phoenix's order: check_origin, the authToken subprotocol, then
``vsn`` negotiation and the socket's ``connect`` and ``id``. A refusal is an HTTP
status (403 unless ``ConnectionRefused`` says otherwise) when the server
supports the ASGI denial-response extension (uvicorn does), else a plain
close before accept, which servers answer with 403.

Once open, the connection runs one of two ways:

* the direct path (``_direct_websocket``), when the server offers its
  connection under ``types.DIRECT_WRITE`` (``phoenix_py.uvicorn.WebSocketProtocol``
  does): phoenix_py adopts it and this coroutine returns;
* plain ASGI (``_asgi_websocket``) under any other server.

Close codes: 1001 on idle timeout and id disconnect, 1009 for an oversized
frame, 1011 for a malformed one, 1012 on server shutdown, 1013 when the
outbound buffer or a channel mailbox overflows. phoenix.js reconnects after each.
"""

from __future__ import annotations

import logging
from typing import Any

from .._core.params import parse_params
from ..errors import ConnectionRefused
from ..socket import Socket
from ..types import DIRECT_WRITE, DirectConnection
from . import _asgi_websocket
from ._direct_websocket import AdoptedConnection, DirectWebSocketTransport
from ._outbox import WebSocketOptions
from .base import (
    BadAuthToken,
    Scope,
    SocketHost,
    auth_token_from_subprotocols,
    connect_info,
    negotiated_serializer,
    origin_allowed,
    request_headers,
)

__all__ = ["WebSocketOptions", "serve_websocket"]

logger = logging.getLogger("phoenix_py.transport")


async def _deny(scope: Scope, send: Any, status: int) -> None:
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-length", b"0")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b""})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def serve_websocket(
    host: SocketHost,
    socket_cls: type[Socket],
    options: WebSocketOptions,
    scope: Scope,
    receive: Any,
    send: Any,
) -> None:
    """Run one WebSocket connection from handshake to close (or to its adoption)."""
    if (await receive())["type"] != "websocket.connect":
        return
    headers = request_headers(scope)
    params = {**scope.get("path_params", {}), **parse_params(scope.get("query_string", b""))}
    origin = headers.get("origin")
    if not origin_allowed(origin, headers.get("host", ""), options.check_origin):
        logger.error(
            "Could not check origin for the socket transport: origin %r is not allowed", origin
        )
        return await _deny(scope, send, 403)
    serializer = negotiated_serializer(params)
    if serializer is None:
        return await _deny(scope, send, 403)
    subprotocols: list[str] = list(scope.get("subprotocols") or [])
    try:
        auth_token = auth_token_from_subprotocols(subprotocols)
    except BadAuthToken as exc:
        logger.warning("refusing connection: %s", exc)
        return await _deny(scope, send, 403)
    info = connect_info(
        scope, headers, transport="websocket", default_scheme="ws", auth_token=auth_token
    )
    try:
        socket = await host.connect(socket_cls, params, info)
    except ConnectionRefused as refused:
        return await _deny(scope, send, refused.status)

    # phoenix.js 1.8 offers "phoenix" next to its authToken and needs it echoed;
    # other subprotocols are ignored, as Phoenix does without a configured list.
    subprotocol = "phoenix" if "phoenix" in subprotocols else None
    try:
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
    except OSError:  # the ASGI spec's error for a client that is gone
        host.abandon(socket, "websocket", "closed by the client before the accept")
        return
    direct = scope.get("extensions", {}).get(DIRECT_WRITE)
    if direct is not None:
        connection: DirectConnection = direct["connection"]
        direct_transport = DirectWebSocketTransport(connection, options)
        server = host.open(
            socket, serializer, direct_transport, max_frame_size=options.max_frame_size
        )
        AdoptedConnection(server, direct_transport, connection, options.timeout)
        return  # the connection lives on without this coroutine
    transport = _asgi_websocket.AsgiWebSocketTransport(send, options)
    server = host.open(socket, serializer, transport, max_frame_size=options.max_frame_size)
    await _asgi_websocket.run(server, transport, receive, options.timeout)
