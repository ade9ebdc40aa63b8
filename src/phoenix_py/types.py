"""The contracts between phoenix_py's layers, as ``typing.Protocol`` classes.

Like Starlette's ``types.py``, this module holds no behaviour: it names what
one layer may call on another, so that imports point one way (upward modules
implement these, lower ones call them). Public for anyone writing a
transport or a server integration:

* ``ConnectInfo``: what a transport tells ``Socket.connect`` about the request.
* ``Transport``: the byte-moving side of one connection, as the socket server
  writes to it (WebSocket, LongPoll, the test toolkit's recorder).
* ``DirectConnection``: a server connection that phoenix_py may take over
  after the WebSocket handshake and write whole frames to
  (``phoenix_py.uvicorn.WebSocketProtocol`` offers itself as one under the
  ASGI scope extension ``DIRECT_WRITE``).
* ``SocketView``: what a channel sees of its connection's ``Socket``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ._core.serializer import Frame

__all__ = ["DIRECT_WRITE", "ConnectInfo", "DirectConnection", "SocketView", "Transport"]

DIRECT_WRITE = "phoenix_py.direct_write"
"""The ASGI scope extension holding ``{"connection": DirectConnection}``."""


@dataclass(frozen=True, slots=True)
class ConnectInfo:
    """What the transport knows about a connection request."""

    transport: str
    headers: Mapping[str, str]
    peer: tuple[str, int] | None
    scheme: str
    host: str
    path: str
    query_string: str
    origin: str | None = None
    user_agent: str | None = None
    #: The phoenix.js 1.8 ``authToken`` (WebSocket subprotocol or LongPoll header).
    auth_token: str | None = None


class Transport(Protocol):
    """The byte-moving side of a connection, as the socket server sees it."""

    name: str

    def write(self, frame: Frame) -> None:
        """Queue a frame for the client; never blocks. Ignored once closing."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then close with ``code``."""
        ...


class DirectConnection(Protocol):
    """An open WebSocket that phoenix_py reads and writes without ASGI messages."""

    @property
    def writing_paused(self) -> bool:
        """The peer is not reading fast enough: hold frames until ``on_writable`` fires."""
        ...

    def adopt(
        self,
        on_message: Callable[[str | bytes, bool], None],
        on_close: Callable[[], None],
        on_writable: Callable[[], None],
        on_read: Callable[[], None],
    ) -> None:
        """Hand every further message (text as ``str``, ``binary`` flag), each
        resumption of writing, the end of each read's messages (``on_read``: what
        they made can be written now) and the connection's end (exactly once) to
        these callbacks; the ASGI app may then return without the connection closing."""
        ...

    def write_frames(self, data: bytes) -> int:
        """Send complete server frames now; the bytes still buffered after, or -1 once closing."""
        ...

    def buffered_bytes(self) -> int:
        """Bytes written but not yet taken by the kernel."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake with ``code`` (after what was written)."""
        ...


class SocketView(Protocol):
    """What a channel sees of its connection's ``Socket``.

    A channel may narrow it to its own socket class with an annotation
    (``socket: UserSocket``) to reach that class's attributes.
    """

    #: The socket's assigns (each channel gets its own copy at join).
    assigns: dict[str, Any]
    #: The query params of the connection request.
    params: dict[str, Any]
    connect_info: ConnectInfo | None
    #: ``Socket.id()``'s answer, once connected.
    socket_id: str | None
    #: The application's state, as given to ``Endpoint(state=...)``.
    state: Any
    #: What the mount serving the socket was given (``socket_app(context=...)``).
    context: Any
