"""examples/docs/authentication.py does what docs/authentication.md says."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from examples.docs import authentication as page
from phoenix_py import ConnectionRefused
from phoenix_py.auth import JWTAuth, SigningKey, TokenError
from phoenix_py.testing import JoinRefused, connect

pytestmark = pytest.mark.anyio


async def test_issued_tokens_and_a_refresh() -> None:
    tokens = page.sign_in("42", role="admin")
    access = await page.auth.verify(tokens["access"])
    assert (access["sub"], access["typ"], access["role"]) == ("42", "access", "admin")
    assert access["exp"] - access["iat"] == 15 * 60
    assert (access["iss"], access["aud"]) == ("my-app", "web")
    refresh = await page.auth.verify(tokens["refresh"], token_type="refresh")
    assert refresh["exp"] - refresh["iat"] == 30 * 24 * 3600
    with pytest.raises(TokenError) as wrong:
        await page.auth.verify(tokens["refresh"])
    assert wrong.value.reason == "wrong_type"
    renewed = await page.auth.verify(await page.refreshed(tokens["refresh"]))
    assert (renewed["sub"], renewed["role"]) == ("42", "admin")


async def test_the_socket_and_the_private_rooms() -> None:
    token = page.sign_in("42", role="admin")["access"]
    for socket in (
        await connect(page.UserSocket, {"token": token}, endpoint=page.endpoint),
        await connect(page.UserSocket, auth_token=token, endpoint=page.endpoint),
    ):
        assert socket.assigns["user_id"] == "42" and socket.assigns["claims"]["role"] == "admin"
        assert (await socket.join("room:private:42"))[0] == {"user_id": "42"}
        with pytest.raises(JoinRefused) as refused:
            await socket.join("room:private:7")
        assert refused.value.response == {"reason": "unauthorized"}
        await socket.close()
    with pytest.raises(ConnectionRefused) as no_token:
        await connect(page.UserSocket, {}, endpoint=page.endpoint)
    assert no_token.value.status == 403


async def test_sign_out_closes_the_sockets_of_the_token() -> None:
    token = page.sign_in("43")["access"]
    socket = await connect(page.UserSocket, {"token": token}, endpoint=page.endpoint)
    another = page.sign_in("43")["access"]
    other = await connect(page.UserSocket, {"token": another}, endpoint=page.endpoint)
    await page.sign_out(token)
    assert await socket.assert_closed() == 1001
    with pytest.raises(AssertionError):
        await other.assert_closed()  # another token of the same user stays connected
    with pytest.raises(ConnectionRefused):
        await connect(page.UserSocket, {"token": token}, endpoint=page.endpoint)
    await other.close()


def key_pair() -> SigningKey:
    private = Ed25519PrivateKey.generate()
    return SigningKey(private, private.public_key())


async def test_key_rotation() -> None:
    old, new = key_pair(), key_pair()
    before = JWTAuth.asymmetric("EdDSA", keys={"2026-01": old}, signing_kid="2026-01")
    signed_before = before.issue("42")
    rotated = page.rotating_auth(old, new)
    signed_after = rotated.issue("42")
    assert jwt.get_unverified_header(signed_after)["kid"] == "2026-07"
    assert (await rotated.verify(signed_before))["sub"] == "42"
    verifier = JWTAuth.asymmetric(  # a service that only verifies holds public keys only
        "EdDSA",
        keys={kid: SigningKey(None, key.public) for kid, key in rotated.keys.items()},
        signing_kid="2026-07",
    )
    assert (await verifier.verify(signed_after))["sub"] == "42"
    retired = JWTAuth.asymmetric("EdDSA", keys={"2026-07": new}, signing_kid="2026-07")
    with pytest.raises(TokenError) as unknown:
        await retired.verify(signed_before)
    assert unknown.value.reason == "invalid"
