"""JWTAuth: what is accepted and, above all, what is refused."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import warnings
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from phoenix_py.auth import JWTAuth, RedisRevocations, SigningKey, TokenError

from .redis_server import RedisServer, redis_server

SECRET = "k" * 40


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def reason(auth: JWTAuth, token: object, **kwargs: Any) -> str:
    try:
        run(auth.verify(token, **kwargs))
    except TokenError as exc:
        return exc.reason
    return "accepted"


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def ed25519_key() -> SigningKey:
    private = ed25519.Ed25519PrivateKey.generate()
    return SigningKey(private, private.public_key())


class TestIssueAndVerify:
    def test_access_token_round_trip(self) -> None:
        auth = JWTAuth.hs256(SECRET, issuer="app", audience="web")
        claims = run(auth.verify(auth.issue("u1", claims={"role": "admin"})))
        assert (claims["sub"], claims["role"], claims["typ"]) == ("u1", "admin", "access")
        assert claims["exp"] - claims["iat"] == 15 * 60
        assert (claims["iss"], claims["aud"]) == ("app", "web")

    def test_reserved_claims_cannot_be_overridden(self) -> None:
        auth = JWTAuth.hs256(SECRET)
        token = auth.issue("u1", claims={"sub": "admin", "exp": 9999999999, "typ": "refresh"})
        claims = run(auth.verify(token))
        assert claims["sub"] == "u1" and claims["typ"] == "access"
        assert claims["exp"] < time.time() + 16 * 60

    def test_refresh_exchanges_for_a_new_access_token(self) -> None:
        auth = JWTAuth.hs256(SECRET)
        refresh = auth.issue("u1", claims={"tenant": "t"}, token_type="refresh")
        access = run(auth.refresh(refresh))
        claims = run(auth.verify(access))
        assert (claims["sub"], claims["tenant"], claims["typ"]) == ("u1", "t", "access")
        # each token is only good for its own purpose
        assert reason(auth, refresh) == "wrong_type"
        with pytest.raises(TokenError, match="wrong_type"):
            run(auth.refresh(access))


class TestRefusals:
    auth = JWTAuth.hs256(SECRET, issuer="app", audience="web", leeway=2)

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "sub": "u1",
            "typ": "access",
            "jti": "j",
            "iat": now,
            "exp": now + 60,
            "iss": "app",
            "aud": "web",
            **overrides,
        }
        return jwt.encode(
            {k: v for k, v in claims.items() if v is not None}, SECRET, algorithm="HS256"
        )

    def test_missing_and_malformed(self) -> None:
        assert reason(self.auth, None) == "missing"
        assert reason(self.auth, "") == "missing"
        assert reason(self.auth, 42) == "malformed"
        assert reason(self.auth, "abc") == "malformed"
        assert reason(self.auth, "a.b.c") == "malformed"

    def test_wrong_signature(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forged = jwt.encode(
                {"sub": "u1", "exp": int(time.time()) + 60}, "x" * 40, algorithm="HS256"
            )
        assert reason(self.auth, forged) == "invalid"
        good = self.token()
        tampered = good[:-2] + ("AA" if good[-2:] != "AA" else "BB")
        assert reason(self.auth, tampered) == "invalid"

    def test_alg_none_is_refused(self) -> None:
        unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'sub': 'u1', 'exp': 9999999999})}."
        assert reason(self.auth, unsigned) == "invalid"

    def test_algorithm_confusion_is_refused(self) -> None:
        # An HS256 token "signed" with the server's RSA public key, for an RS256 server.
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        auth = JWTAuth.asymmetric("RS256", {"k": SigningKey(private, private.public_key())}, "k")
        header = {"alg": "HS256", "typ": "JWT", "kid": "k"}
        import hashlib
        import hmac

        body = f"{b64(header)}.{b64({'sub': 'u1', 'exp': 9999999999, 'jti': 'j', 'typ': 'access'})}"
        signature = (
            base64.urlsafe_b64encode(hmac.new(public_pem, body.encode(), hashlib.sha256).digest())
            .rstrip(b"=")
            .decode()
        )
        assert reason(auth, f"{body}.{signature}") == "invalid"

    def test_expiry_and_not_before_with_leeway(self) -> None:
        now = int(time.time())
        assert reason(self.auth, self.token(exp=now - 60)) == "expired"
        assert reason(self.auth, self.token(exp=now - 1)) == "accepted"  # within 2 s leeway
        assert reason(self.auth, self.token(nbf=now + 60)) == "not_yet_valid"
        assert reason(self.auth, self.token(nbf=now + 1)) == "accepted"

    def test_issuer_audience_and_required_claims(self) -> None:
        assert reason(self.auth, self.token(iss="other")) == "invalid"
        assert reason(self.auth, self.token(aud="other")) == "invalid"
        assert reason(self.auth, self.token(exp=None)) == "invalid"
        assert reason(self.auth, self.token(jti=None)) == "invalid"
        assert reason(self.auth, self.token(sub=None)) == "invalid"

    def test_unknown_kid(self) -> None:
        token = jwt.encode({"sub": "u"}, SECRET, algorithm="HS256", headers={"kid": "nope"})
        assert reason(self.auth, token) == "invalid"


class TestAsymmetricAndRotation:
    def test_eddsa_rotation_by_kid(self) -> None:
        old, new = ed25519_key(), ed25519_key()
        before = JWTAuth.asymmetric("EdDSA", {"2025": old}, "2025")
        token_from_old_key = before.issue("u1")
        rotated = JWTAuth.asymmetric("EdDSA", {"2025": old, "2026": new}, "2026")
        assert run(rotated.verify(token_from_old_key))["sub"] == "u1"
        assert jwt.get_unverified_header(rotated.issue("u2"))["kid"] == "2026"
        retired = JWTAuth.asymmetric("EdDSA", {"2026": new}, "2026")
        assert reason(retired, token_from_old_key) == "invalid"

    def test_a_key_from_another_pair_is_refused(self) -> None:
        mine = JWTAuth.asymmetric("EdDSA", {"k": ed25519_key()}, "k")
        theirs = JWTAuth.asymmetric("EdDSA", {"k": ed25519_key()}, "k")
        assert reason(mine, theirs.issue("u1")) == "invalid"


class TestRevocation:
    def test_memory_revocation(self) -> None:
        auth = JWTAuth.hs256(SECRET)
        token, other = auth.issue("u1"), auth.issue("u1")
        run(auth.revoke(token))
        assert reason(auth, token) == "revoked"
        assert reason(auth, other) == "accepted"

    @pytest.fixture()
    def redis(self) -> Iterator[RedisServer]:
        with redis_server() as server:
            yield server

    def test_redis_revocation_is_shared_and_fails_closed(self, redis: RedisServer) -> None:
        async def go() -> list[str]:
            store_a, store_b = RedisRevocations(redis.url), RedisRevocations(redis.url)
            node_a = JWTAuth.hs256(SECRET, revocations=store_a)
            node_b = JWTAuth.hs256(SECRET, revocations=store_b)
            token = node_a.issue("u1")
            await node_a.revoke(token)
            outcomes = []
            for auth, candidate in ((node_b, token), (node_b, node_a.issue("u1"))):
                try:
                    await auth.verify(candidate)
                    outcomes.append("accepted")
                except TokenError as exc:
                    outcomes.append(exc.reason)
            redis.stop()
            try:
                await node_b.verify(node_a.issue("u2"))
                outcomes.append("accepted")
            except TokenError as exc:
                outcomes.append(exc.reason)
            await store_a.close()
            await store_b.close()
            return outcomes

        assert run(go()) == ["revoked", "accepted", "invalid"]
