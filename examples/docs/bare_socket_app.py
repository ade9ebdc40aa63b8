"""A ``SocketApp`` served without Starlette (docs/getting-started.md).

``uvicorn examples.docs.bare_socket_app:socket_app --port 4000`` answers
WebSocket requests on any path that ends in ``/websocket``; the socket app
runs the lifespan itself.
"""

from __future__ import annotations

from examples.hello.app import UserSocket
from phoenix_py import Endpoint

endpoint = Endpoint()
socket_app = endpoint.socket_app(UserSocket)
