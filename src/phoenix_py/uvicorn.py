"""phoenix_py's WebSocket protocol for uvicorn: the direct path (the fanout fast path).

From the command line::

    uvicorn app:app --ws phoenix_py.uvicorn:WebSocketProtocol

or from Python::

    import uvicorn
    from phoenix_py.uvicorn import WebSocketProtocol

    uvicorn.run(app, ws=WebSocketProtocol)

uvicorn keeps HTTP and hands each upgrade request to this class, an
``asyncio.Protocol`` of phoenix_py's own (``_ws_connection``) that parses the
WebSocket with websockets' sans-I/O API. The handshake goes through the ASGI
app as usual (routes, ``connect``, refusals); then phoenix_py adopts its own
sockets' connections: no task, queue or coroutine waits per idle connection,
and each broadcast's frame, built once, is written straight to every
subscriber's transport. Other WebSocket routes of the app are served as plain
ASGI WebSockets.

What it takes from uvicorn is the protocol-class interface that uvicorn's
``--ws`` option loads: the constructor's ``config``, ``server_state`` and
``app_state`` keywords (``config.loaded_app``, ``root_path``, ``ws_max_size``,
``ws_max_queue``, ``ws_ping_interval``, ``ws_ping_timeout``;
``server_state.connections``, ``tasks`` and ``default_headers``), and
``shutdown()``, which uvicorn calls on every connection when it stops (close
1012, so that phoenix.js reconnects elsewhere). It imports nothing from
uvicorn. Tested with the oldest and newest uvicorn ``pyproject.toml`` allows.

permessage-deflate is never negotiated, whatever ``ws_per_message_deflate``
says (see ``_ws_connection``); WebSocket pings (``ws_ping_interval``) go to
plain ASGI connections only, as phoenix.js heartbeats on its own.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from ._ws_connection import ServerContext, WebSocketConnection

__all__ = ["WebSocketProtocol"]

_access_logger = logging.getLogger("uvicorn.error")
# One context per running server, shared by its connections.
_contexts: weakref.WeakKeyDictionary[Any, ServerContext] = weakref.WeakKeyDictionary()


class WebSocketProtocol(WebSocketConnection):
    """``uvicorn --ws phoenix_py.uvicorn:WebSocketProtocol``: see the module docs."""

    __slots__ = ()

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], **_: Any) -> None:
        context = _contexts.get(server_state)
        if context is None or context.state is not app_state:
            context = _contexts[server_state] = _context(config, server_state, app_state)
        super().__init__(context)


def _context(config: Any, server_state: Any, app_state: dict[str, Any]) -> ServerContext:
    if not config.loaded:
        config.load()
    return ServerContext(
        app=config.loaded_app,
        root_path=config.root_path,
        max_size=config.ws_max_size,
        max_queue=config.ws_max_queue,
        ping_interval=config.ws_ping_interval,
        ping_timeout=config.ws_ping_timeout,
        state=app_state,
        connections=server_state.connections,
        tasks=server_state.tasks,
        default_headers=lambda: list(server_state.default_headers),
        access_logger=_access_logger,
    )
