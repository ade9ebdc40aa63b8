"""What every transport shares: the endpoint contract, and the connect-time checks.

A transport is the I/O around a ``SocketServer``: it gives it ``write`` and
``close`` (``types.Transport``), and calls ``feed`` for each client frame and
``connection_lost`` at the end. It reaches the endpoint through ``SocketHost``
only: ``connect`` runs the socket's ``connect``/``id`` and ``open`` makes the
socket server, which the endpoint tracks until the connection is lost.

The checks here run before a socket exists: ``check_origin``
(PHOENIX_PROTOCOL.md §1.6) and reading the phoenix.js 1.8 ``authToken`` from
the WebSocket subprotocols (§1.5). Both transports read the request headers
with ``request_headers``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from .._core.serializer import Serializer, serializer_for_vsn
from .._socket_server import SocketServer
from ..errors import UsageError
from ..socket import Socket
from ..types import ConnectInfo, Transport

logger = logging.getLogger("phoenix_py.transport")

AUTH_TOKEN_PREFIX = "base64url.bearer.phx."

Scope = MutableMapping[str, Any]

#: ``True`` (the request's own host), ``False`` (off), a list of allowed
#: origins (``"//example.com"``, ``"https://*.example.com"``), or a predicate.
CheckOrigin = bool | Sequence[str] | Callable[[str], bool]


class SocketHost(Protocol):
    """What a transport may call on the endpoint that mounted it (``asgi.Endpoint``)."""

    async def connect(
        self, socket_cls: type[Socket], params: dict[str, Any], info: ConnectInfo
    ) -> Socket:
        """A new ``socket_cls`` whose ``connect`` and ``id`` have accepted the request.

        Raises:
            ConnectionRefused: refused; its ``status`` is the HTTP status to answer
                (403 for ``False``, 503 at ``max_connections``, 500 when ``connect``
                raised).
        """
        ...

    def open(
        self, socket: Socket, serializer: Serializer, transport: Transport, *, max_frame_size: int
    ) -> SocketServer:
        """The socket server of a connected ``socket``, writing to ``transport``;
        the endpoint counts it among its live sockets until ``connection_lost``."""
        ...

    def abandon(self, socket: Socket, transport: str, reason: str) -> None:
        """A connected ``socket`` that never opened (its client left before the
        accept): it ends as a closed one does, for logs and telemetry."""
        ...


class IdleTimer:
    """Calls ``on_idle`` once ``timeout`` seconds pass with no ``last_seen`` update.

    One timer handle per connection, re-armed only when it fires, so receiving
    a frame costs one attribute write.
    """

    __slots__ = ("_handle", "_loop", "_on_idle", "_timeout", "last_seen")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, timeout: float, on_idle: Callable[[], None]
    ) -> None:
        self._loop = loop
        self._timeout = timeout
        self._on_idle = on_idle
        self.last_seen = loop.time()
        self._handle = loop.call_later(timeout, self._check)

    def _check(self) -> None:
        remaining = self.last_seen + self._timeout - self._loop.time()
        if remaining <= 0:
            self._on_idle()
        else:
            self._handle = self._loop.call_later(remaining, self._check)

    def cancel(self) -> None:
        self._handle.cancel()


def request_headers(scope: Scope) -> dict[str, str]:
    """The ASGI scope's headers by lower-case name; repeated ones joined with ", "."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


@dataclass(frozen=True, slots=True)
class _OriginRule:
    scheme: str | None
    host: str
    port: int | None

    def allows(self, scheme: str, host: str, port: int | None) -> bool:
        if self.scheme is not None and self.scheme != scheme:
            return False
        if self.port is not None and self.port != port:
            return False
        if self.host.startswith("*."):
            base = self.host[2:]
            return host == base or host.endswith("." + base)
        return host == self.host


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(scheme)


def _parse_rule(origin: str) -> _OriginRule:
    parts = urlsplit(origin)
    scheme = parts.scheme or None
    port = parts.port if parts.port is not None else (_default_port(scheme) if scheme else None)
    return _OriginRule(scheme, (parts.hostname or "").lower(), port)


def origin_allowed(origin: str | None, request_host: str, check: CheckOrigin) -> bool:
    """Phoenix's check_origin: no ``Origin`` header is always allowed; a callable
    decides every other case, those without a host (``null``) too."""
    if origin is None or check is False:
        return True
    if callable(check):
        return bool(check(origin))
    parts = urlsplit(origin)
    host = (parts.hostname or "").lower()
    if not host:
        return False  # "null", "file://": no host to compare
    if check is True:
        return host == _host_without_port(request_host)
    scheme = parts.scheme
    try:
        port = parts.port if parts.port is not None else _default_port(scheme)
    except ValueError:
        return False
    return any(_parse_rule(rule).allows(scheme, host, port) for rule in check)


def _host_without_port(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):  # an IPv6 literal, "[::1]:4000"
        return host[1 : host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def validate_check_origin(check: object) -> CheckOrigin:
    """Raise ``UsageError`` for a ``check_origin`` that is none of the accepted shapes."""
    if isinstance(check, bool) or callable(check):
        return check
    if isinstance(check, str) or not isinstance(check, Sequence):
        raise UsageError(
            f"check_origin={check!r}: pass True, False, a list of origins such as "
            '["https://example.com", "//*.example.org"], or a callable(origin) -> bool'
        )
    if not all(isinstance(origin, str) for origin in check):
        raise UsageError(f"check_origin={check!r}: every origin in the list must be a str")
    return check


class BadAuthToken(ValueError):
    """The authToken subprotocol is present but cannot be decoded."""


def auth_token_from_subprotocols(subprotocols: Iterable[str]) -> str | None:
    """The token phoenix.js 1.8 put in ``base64url.bearer.phx.<base64>`` (standard
    alphabet, padding stripped, §1.5), or ``None`` when absent."""
    for subprotocol in subprotocols:
        if subprotocol.startswith(AUTH_TOKEN_PREFIX):
            encoded = subprotocol[len(AUTH_TOKEN_PREFIX) :]
            try:
                raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
                return raw.decode("latin-1")
            except (binascii.Error, ValueError) as exc:
                raise BadAuthToken(f"authToken subprotocol is not base64: {exc}") from exc
    return None


def negotiated_serializer(params: dict[str, Any]) -> Serializer | None:
    """The serializer for the client's ``vsn`` (§1.3), or ``None`` (logged) to refuse it."""
    serializer = serializer_for_vsn(params.get("vsn"))
    if serializer is None:
        logger.warning(
            "The client's requested transport version %r does not match the server's "
            "version requirements (~> 1.0.0 or ~> 2.0.0); refusing",
            params.get("vsn"),
        )
    return serializer


def connect_info(
    scope: Scope,
    headers: dict[str, str],
    *,
    transport: str,
    default_scheme: str,
    auth_token: str | None,
) -> ConnectInfo:
    """What ``Socket.connect`` learns about the request, the same for every transport."""
    client = scope.get("client")
    return ConnectInfo(
        transport=transport,
        headers=headers,
        peer=(client[0], client[1]) if client else None,
        scheme=scope.get("scheme", default_scheme),
        host=headers.get("host", ""),
        path=scope.get("path", ""),
        query_string=scope.get("query_string", b"").decode("latin-1"),
        origin=headers.get("origin"),
        user_agent=headers.get("user-agent"),
        auth_token=auth_token,
    )
