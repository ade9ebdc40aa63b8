"""Signed LongPoll session tokens (PHOENIX_PROTOCOL.md §4.2), free of I/O.

A LongPoll client carries its session token on every request (``?token=`` or
the ``x-phoenix-longpoll-token`` header). The token names the node that holds
the session and the session's id, so any instance can route a request to the
right node without sticky sessions. Clients treat it as opaque; Phoenix signs
``{:v1, endpoint_id, pid, topic}`` with ``Phoenix.Token``, and so the server
never trusts a token it did not sign.

Format: ``v1.<payload>.<mac>``, both parts unpadded base64url. ``payload`` is
the JSON array ``[node, session_id, issued_at]`` (issued_at in whole seconds
since the epoch); ``mac`` is HMAC-SHA256, keyed with the endpoint's secret,
over the namespace and ``payload``. The namespace (the socket handler) keeps a
token of one handler from opening a session of another that shares the secret.

Invariants:

* ``verify`` returns a ``SessionRef`` only for a token ``sign`` made with the
  same secret and namespace, no older than ``max_age`` seconds; anything else,
  malformed input included, gives ``None`` and never raises.
* The MAC is compared in constant time, before the payload is decoded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

import msgspec

_VERSION = "v1"
_MAX_TOKEN_LENGTH = 1024  # a signed token is ~120 characters; longer is junk
_Payload = tuple[str, str, int]
_decode_payload = msgspec.json.Decoder(_Payload).decode


@dataclass(frozen=True, slots=True)
class SessionRef:
    """Where a LongPoll session lives: the node's name and the session's id there."""

    node: str
    session_id: str


class SessionTokens:
    """Signs and verifies the tokens of one socket handler's LongPoll sessions.

    Args:
        secret: the endpoint's secret key; every node of a cluster must share it.
        namespace: names the socket handler the sessions belong to.
        max_age: seconds a token stays valid (Phoenix: two weeks).
    """

    def __init__(self, secret: bytes, namespace: str, *, max_age: float) -> None:
        self._secret = secret
        self._namespace = namespace.encode()
        self.max_age = max_age

    def sign(self, ref: SessionRef, *, now: float) -> str:
        """A token for the session ``ref``, issued at ``now`` (epoch seconds)."""
        payload = _b64encode(msgspec.json.encode((ref.node, ref.session_id, int(now))))
        return f"{_VERSION}.{payload}.{_b64encode(self._mac(payload))}"

    def verify(self, token: object, *, now: float) -> SessionRef | None:
        """The session a token names, or ``None`` when it is not one of ours
        (forged, tampered with, another namespace's, malformed) or is expired."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH:
            return None
        version, _, rest = token.partition(".")
        payload, _, mac = rest.partition(".")
        if version != _VERSION:
            return None
        try:
            expected_mac = _b64decode(mac)
        except binascii.Error:
            return None
        if not hmac.compare_digest(expected_mac, self._mac(payload)):
            return None
        try:
            node, session_id, issued_at = _decode_payload(_b64decode(payload))
        except (binascii.Error, msgspec.DecodeError, msgspec.ValidationError):
            return None
        if now - issued_at > self.max_age:
            return None
        return SessionRef(node, session_id)

    def _mac(self, payload: str) -> bytes:
        message = b"phoenix_py longpoll session\x00" + self._namespace + b"\x00" + payload.encode()
        return hmac.new(self._secret, message, hashlib.sha256).digest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict: only the canonical unpadded form decodes (no stray characters)."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise binascii.Error(str(exc)) from exc
    if _b64encode(data) != text:
        raise binascii.Error("not canonical base64url")
    return data
