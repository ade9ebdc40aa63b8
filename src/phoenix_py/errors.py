"""The exceptions phoenix_py raises.

Two families, as h11 draws them:

* ``ProtocolError`` is a peer's fault: a frame we cannot decode, a field too large.
  The runtime turns it into a protocol answer (a close with a code); it never
  reaches application code.
* Everything else is a developer's fault (``UsageError``): a callback returned a
  shape the runtime does not know, a push was made before the join finished.
  Its message names the fix.
"""

from __future__ import annotations

__all__ = [
    "ConnectionRefused",
    "HistoryUnavailable",
    "PhoenixError",
    "ProtocolError",
    "UsageError",
]


class PhoenixError(Exception):
    """Base class of every error phoenix_py raises on purpose."""


class ProtocolError(PhoenixError):
    """A frame or request from the peer breaks the protocol.

    ``close_code`` is the WebSocket close code the transport answers with.
    """

    def __init__(self, message: str, *, close_code: int = 1011) -> None:
        super().__init__(message)
        self.close_code = close_code


class UsageError(PhoenixError):
    """The library was used in a way it does not support; the message says how to fix it."""


class ConnectionRefused(PhoenixError):
    """Raised from ``Socket.connect`` to refuse a connection with a chosen HTTP status.

    Returning ``False`` from ``connect`` refuses with 403, as Phoenix's ``:error`` does;
    raise this to pick another status (Phoenix's ``{:error, reason}`` with an error handler).
    """

    def __init__(self, reason: str = "refused", *, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class HistoryUnavailable(PhoenixError):
    """A message history's store cannot be reached (Redis is down): the message
    was not broadcast, or a join cannot be told what it missed."""
