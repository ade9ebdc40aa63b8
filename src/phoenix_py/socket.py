"""Sockets: the application's side of one client connection (PHOENIX_PROTOCOL.md §1, §3).

Subclass ``Socket``, list its channel routes, and decide in ``connect`` who may
connect::

    class UserSocket(Socket):
        channels = [("room:*", RoomChannel)]

        async def connect(self, params, connect_info):
            if params.get("token") == "bad":
                return False                      # HTTP 403, as Phoenix's :error
            self.assigns["user"] = params.get("user")
            return True

        def id(self):
            user = self.assigns["user"]
            return f"user_socket:{user}" if user else None

One ``Socket`` instance exists per connection. ``connect`` gets the query params
(``vsn`` included; bracket keys nested as Plug nests them) and a ``ConnectInfo``.
Its ``assigns`` are copied into every channel at join. ``id`` names the socket so
that ``endpoint.disconnect(id)`` closes every socket of that id, on any node
(close code 1001, after which phoenix.js reconnects).

Class options:

* ``channels``: ``(pattern, Channel subclass)`` pairs; ``"room:*"`` matches by prefix.
* ``max_channels``: live channels per connection (default 100, as Phoenix 1.8.9+).
* ``max_mailbox``: queued messages per channel before the socket is closed
  with 1013 (default 10,000).
* ``join_rate``, ``message_rate``: ``(burst, per_second)`` admission limits
  (defaults 200 and 20/s for joins, 1,000 and 200/s for frames); ``None``
  turns one off. A join over the limit gets ``{"reason": "rate_limited"}``;
  a frame flood closes only that socket (1008).

Authentication with a JWT (see ``phoenix_py.auth``) is one line in ``connect``::

        async def connect(self, params, connect_info):
            return await self.authenticate(auth, params, connect_info)

It reads the ``token`` param or the phoenix.js 1.8 ``authToken``, puts the
subject in ``assigns["user_id"]`` and the claims in ``assigns["claims"]``, and
arms two closes: when the token expires (close 1008, "token expired") and when
it is revoked with ``endpoint.revoke(auth, token)`` (1001). phoenix.js
reconnects after both, with fresh ``params``/``authToken`` when they are functions.

Application objects (a database, the auth, a presence, settings) reach sockets
and channels through ``Endpoint(state=...)``: ``self.state`` in a socket and in
a channel is that object. Who may join a topic is the channel's ``join`` to
decide, as in Phoenix.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from ._core.topics import Router
from .auth import JWTAuth, TokenError
from .channel import Channel
from .types import ConnectInfo

__all__ = ["ConnectInfo", "Socket"]

logger = logging.getLogger("phoenix_py.socket")


class Socket:
    """Base class of user sockets; see the module docs."""

    channels: ClassVar[Sequence[tuple[str, type[Channel]]]] = ()
    max_channels: ClassVar[int] = 100
    max_mailbox: ClassVar[int] = 10_000
    #: Joins: a burst of 200 (phoenix.js rejoins every channel at once after a
    #: reconnect), then 20 per second; over it, {"reason": "rate_limited"}.
    join_rate: ClassVar[tuple[float, float] | None] = (200, 20)
    #: Frames from the client: a burst of 1,000, then 200 per second; a flood
    #: over it closes the socket with 1008.
    message_rate: ClassVar[tuple[float, float] | None] = (1_000, 200)
    #: ``channels`` compiled for matching topics (made for each subclass).
    router: ClassVar[Router[type[Channel]]] = Router()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.router = Router(cls.channels)

    def __init__(self) -> None:
        self.assigns: dict[str, Any] = {}
        self.params: dict[str, Any] = {}
        self.connect_info: ConnectInfo | None = None
        self.socket_id: str | None = None
        #: The application's state, as given to ``Endpoint(state=...)``.
        self.state: Any = None
        #: What the mount serving this socket was given (``socket_app(context=...)``).
        self.context: Any = None
        #: Epoch seconds at which the server closes this socket (1008), if set.
        self.expires_at: float | None = None
        #: Topics on which a ``disconnect`` broadcast closes this socket, besides its id.
        self.disconnect_topics: list[str] = []

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        """Accept (``True``) or refuse (``False``: HTTP 403) the connection.

        Raise ``ConnectionRefused(status=...)`` to refuse with another status.
        """
        return True

    def id(self) -> str | None:
        """This socket's id, or ``None`` for an anonymous socket."""
        return None

    async def authenticate(
        self,
        auth: JWTAuth,
        params: dict[str, Any],
        connect_info: ConnectInfo,
        *,
        assign: str = "user_id",
    ) -> bool:
        """Verify the connection's access token; see the module docs."""
        token = params.get("token") or connect_info.auth_token
        try:
            claims = await auth.verify(token)
        except TokenError as exc:
            logger.info("socket refused: token %s", exc.reason)
            return False
        self.assigns[assign] = claims["sub"]
        self.assigns["claims"] = claims
        # Closed when verification would start refusing it, so that a reconnect
        # with the same token is refused rather than accepted and closed again.
        self.expires_at = float(claims["exp"]) + auth.leeway
        if "jti" in claims:
            self.disconnect_topics.append(token_topic(str(claims["jti"])))
        return True


def token_topic(jti: str) -> str:
    """The topic on which sockets authenticated with token ``jti`` listen for revocation."""
    return f"phx_token:{jti}"
