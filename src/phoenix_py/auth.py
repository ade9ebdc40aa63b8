"""JWT authentication, in the spirit of Guardian: issue, verify, refresh, revoke.

::

    auth = JWTAuth.hs256(secret="a long random secret", issuer="my-app")
    access = auth.issue("user-42", claims={"role": "admin"})        # 15 minutes
    refresh = auth.issue("user-42", token_type="refresh")            # 30 days
    claims = await auth.verify(access)                               # or raises TokenError
    access = await auth.refresh(refresh)                             # a new access token
    await auth.revoke(access)                                        # refused from now on

Verification pins what the *server* configured, never what the token says:
the algorithm (so ``alg: none`` and algorithm confusion, an HMAC token signed
with a public key, are refused), the key (by ``kid`` among the configured
keys, for rotation), the signature, ``exp`` and ``nbf`` (with ``leeway``
seconds of clock skew), ``iss`` and ``aud`` when configured, the token type
(``typ`` claim: access or refresh) and the revocation store (by ``jti``).

Every failure raises ``TokenError`` with a ``reason``: ``missing``,
``malformed``, ``invalid`` (signature, algorithm, key, issuer, audience,
claims), ``expired``, ``not_yet_valid``, ``wrong_type`` or ``revoked``.
Tokens never appear in log messages.

Asymmetric keys (EdDSA, RS256, ES256) need the ``cryptography`` package
(the ``jwt`` extra). Rotation: sign with ``signing_kid``, verify with any key
in ``keys``; retire a key by removing it once the tokens it signed expired.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt

from .errors import PhoenixError, UsageError

__all__ = [
    "JWTAuth",
    "MemoryRevocations",
    "RedisRevocations",
    "RevocationStore",
    "SigningKey",
    "TokenError",
]

ACCESS, REFRESH = "access", "refresh"
_SYMMETRIC = {"HS256", "HS384", "HS512"}
_ASYMMETRIC = {"RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA", "PS256"}


class TokenError(PhoenixError):
    """A token was refused; ``reason`` says why (see the module docs)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class RevocationStore(Protocol):
    """Where revoked token ids (``jti``) are kept until the token would expire."""

    async def revoke(self, jti: str, expires_at: float) -> None:
        """Refuse ``jti`` from now until ``expires_at`` (epoch seconds)."""
        ...

    async def is_revoked(self, jti: str) -> bool:
        """Whether ``jti`` was revoked (and has not expired since)."""
        ...


class MemoryRevocations:
    """Revocations in this process only; entries go once their token expired."""

    def __init__(self) -> None:
        self._revoked: dict[str, float] = {}

    async def revoke(self, jti: str, expires_at: float) -> None:
        self._revoked[jti] = expires_at
        now = time.time()
        if len(self._revoked) % 256 == 0:
            self._revoked = {j: t for j, t in self._revoked.items() if t > now}

    async def is_revoked(self, jti: str) -> bool:
        expires_at = self._revoked.get(jti)
        return expires_at is not None and expires_at > time.time()


class RedisRevocations:
    """Revocations shared by every instance through Redis (the ``redis`` extra).

    Each revoked ``jti`` is a key that Redis expires with the token, so the
    store never grows beyond the tokens still alive. If Redis is unreachable,
    ``is_revoked`` raises and the token is refused (failing closed).
    """

    def __init__(self, url: str, *, prefix: str = "phx:revoked:") -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url, socket_timeout=2.0)
        self._prefix = prefix

    async def revoke(self, jti: str, expires_at: float) -> None:
        ttl = max(1, int(expires_at - time.time()) + 1)
        await self._redis.set(self._prefix + jti, b"1", ex=ttl)

    async def is_revoked(self, jti: str) -> bool:
        return bool(await self._redis.exists(self._prefix + jti))

    async def close(self) -> None:
        await self._redis.aclose()


@dataclass(frozen=True)
class SigningKey:
    """One key: what signs (``private``) and what verifies (``public``)."""

    private: Any
    public: Any


@dataclass
class JWTAuth:
    """Issues and verifies JWTs with a server-pinned algorithm and keys.

    Prefer the constructors ``hs256(secret)`` and ``asymmetric(algorithm,
    keys, signing_kid)``.
    """

    algorithm: str
    keys: Mapping[str, SigningKey]
    signing_kid: str
    issuer: str | None = None
    audience: str | None = None
    leeway: float = 5.0
    access_ttl: float = 15 * 60
    refresh_ttl: float = 30 * 24 * 3600
    revocations: RevocationStore = field(default_factory=MemoryRevocations)
    #: Claims a token must carry. Tokens from other issuers may lack ``typ`` and
    #: ``jti``: drop them here to accept those (no type check, no revocation).
    require: tuple[str, ...] = ("exp", "sub", "jti", "typ")

    def __post_init__(self) -> None:
        if self.algorithm not in _SYMMETRIC | _ASYMMETRIC:
            raise UsageError(
                f"algorithm {self.algorithm!r} is not supported; use HS256, or EdDSA/RS256/ES256"
            )
        if self.signing_kid not in self.keys:
            raise UsageError(f"signing_kid {self.signing_kid!r} is not one of the keys")

    @classmethod
    def hs256(cls, secret: str | bytes, **options: Any) -> JWTAuth:
        """HMAC-SHA256 with one shared secret (use at least 32 random bytes; pyjwt
        warns about shorter ones)."""
        return cls("HS256", {"default": SigningKey(secret, secret)}, "default", **options)

    @classmethod
    def asymmetric(
        cls, algorithm: str, keys: Mapping[str, SigningKey], signing_kid: str, **options: Any
    ) -> JWTAuth:
        if algorithm not in _ASYMMETRIC:
            raise UsageError(f"{algorithm!r} is not an asymmetric algorithm")
        return cls(algorithm, keys, signing_kid, **options)

    # Issuing

    def issue(
        self,
        subject: str,
        *,
        claims: Mapping[str, Any] | None = None,
        token_type: str = ACCESS,
        ttl: float | None = None,
        not_before: float | None = None,
    ) -> str:
        """A signed token for ``subject``; ``claims`` are added (reserved ones win)."""
        now = int(time.time())
        lifetime = (
            ttl
            if ttl is not None
            else (self.access_ttl if token_type == ACCESS else self.refresh_ttl)
        )
        payload: dict[str, Any] = {
            **(claims or {}),
            "sub": subject,
            "typ": token_type,
            "iat": now,
            "exp": now + int(lifetime),
            "jti": uuid.uuid4().hex,
        }
        if not_before is not None:
            payload["nbf"] = int(not_before)
        if self.issuer is not None:
            payload["iss"] = self.issuer
        if self.audience is not None:
            payload["aud"] = self.audience
        key = self.keys[self.signing_kid].private
        return jwt.encode(payload, key, algorithm=self.algorithm, headers={"kid": self.signing_kid})

    # Verifying

    async def verify(self, token: object, *, token_type: str = ACCESS) -> dict[str, Any]:
        """The token's claims, or ``TokenError``."""
        if token is None or token == "":
            raise TokenError("missing")
        if not isinstance(token, str):
            raise TokenError("malformed", "a token is a string")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise TokenError("malformed", str(exc)) from exc
        if header.get("alg") != self.algorithm:
            raise TokenError("invalid", "the token's algorithm is not the server's")
        kid = header.get("kid", self.signing_kid)
        signing_key = self.keys.get(kid) if isinstance(kid, str) else None
        if signing_key is None:
            raise TokenError("invalid", "unknown key id")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.public,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(self.require)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenError("not_yet_valid") from exc
        except jwt.DecodeError as exc:
            raise TokenError(
                "malformed" if "segments" in str(exc) else "invalid", str(exc)
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError("invalid", str(exc)) from exc
        if claims.get("typ", token_type) != token_type:
            raise TokenError("wrong_type", f"expected a {token_type} token")
        if not isinstance(claims.get("sub"), str):
            raise TokenError("invalid", "sub must be a string")
        jti = claims.get("jti")
        if jti is not None:
            try:
                revoked = await self.revocations.is_revoked(str(jti))
            except Exception as exc:  # a revocation store that cannot answer fails closed
                raise TokenError("invalid", "the revocation store is unavailable") from exc
            if revoked:
                raise TokenError("revoked")
        return claims

    async def refresh(self, refresh_token: str) -> str:
        """Exchange a valid refresh token for a new access token (same subject and claims)."""
        claims = await self.verify(refresh_token, token_type=REFRESH)
        reserved = {"sub", "typ", "iat", "exp", "jti", "nbf", "iss", "aud"}
        extra = {k: v for k, v in claims.items() if k not in reserved}
        return self.issue(str(claims["sub"]), claims=extra)

    async def revoke(self, token_or_claims: str | Mapping[str, Any]) -> dict[str, Any]:
        """Refuse this token from now on; returns its claims.

        Sockets already connected with it are closed by ``Endpoint.revoke``.
        """
        if isinstance(token_or_claims, str):
            claims = await self.verify_any_type(token_or_claims)
        else:
            claims = dict(token_or_claims)
        if "jti" not in claims:
            raise UsageError("this token has no jti claim, so it cannot be revoked")
        await self.revocations.revoke(str(claims["jti"]), float(claims["exp"]))
        return claims

    async def verify_any_type(self, token: str) -> dict[str, Any]:
        try:
            return await self.verify(token, token_type=ACCESS)
        except TokenError as exc:
            if exc.reason != "wrong_type":
                raise
            return await self.verify(token, token_type=REFRESH)
