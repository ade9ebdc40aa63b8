"""Experiments on the direct path that need code, not settings (``phoenix_py_server --experiment``).

They measure what a change in ``src/`` would buy without making it there.

``break-http-cycle``: uvicorn's ``HttpToolsProtocol``, dropped after the
upgrade, sits in a reference cycle with its ``httptools`` parser (the parser
holds the protocol's bound callbacks), so every connection leaves about 21
objects to the cyclic collector. This protocol clears the parser once the
upgrade is done, as uvicorn's ``connection_lost`` does, and the HTTP protocol
is then freed by reference counting.
"""

from __future__ import annotations

import asyncio
from typing import Any

from phoenix_py.uvicorn import WebSocketProtocol


class CycleFreeWebSocketProtocol(WebSocketProtocol):
    def connection_made(self, transport: Any) -> None:
        http = transport.get_protocol()  # still uvicorn's HTTP protocol, mid-upgrade
        super().connection_made(transport)
        if hasattr(http, "parser"):
            # After handle_websocket_upgrade returns, the HTTP protocol is never used again.
            asyncio.get_running_loop().call_soon(_drop_parser, http)


def _drop_parser(http: Any) -> None:
    http.parser = None


EXPERIMENTS: dict[str, type[WebSocketProtocol]] = {
    "break-http-cycle": CycleFreeWebSocketProtocol,
}
