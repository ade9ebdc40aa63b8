"""Signed LongPoll session tokens (PHOENIX_PROTOCOL.md §4.2).

A token names the node and the session; ``verify`` gives that back only for a
token this secret and namespace signed, within ``max_age``. Everything else is
``None``, never an exception.
"""

from __future__ import annotations

import base64
import json
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix_py._core.session_token import SessionRef, SessionTokens

SECRET = b"s" * 32
NOW = 1_800_000_000.0
TWO_WEEKS = 1_209_600.0
REF = SessionRef("node-a", "abc123")


def tokens(secret: bytes = SECRET, namespace: str = "app.UserSocket") -> SessionTokens:
    return SessionTokens(secret, namespace, max_age=TWO_WEEKS)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestRoundTrip:
    def test_a_signed_token_names_its_session(self) -> None:
        token = tokens().sign(REF, now=NOW)
        assert tokens().verify(token, now=NOW) == REF

    def test_the_payload_is_node_session_and_issued_at(self) -> None:
        version, payload, _ = tokens().sign(REF, now=NOW).split(".")
        assert version == "v1"
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        assert json.loads(decoded) == ["node-a", "abc123", 1_800_000_000]

    def test_url_safe(self) -> None:
        token = tokens().sign(SessionRef("n" * 40, "?&=/+"), now=NOW)
        assert set(token) <= set(string.ascii_letters + string.digits + "-_.")


class TestAge:
    def test_valid_until_max_age(self) -> None:
        token = tokens().sign(REF, now=NOW)
        assert tokens().verify(token, now=NOW + TWO_WEEKS) == REF

    def test_expired_after_max_age(self) -> None:
        token = tokens().sign(REF, now=NOW)
        assert tokens().verify(token, now=NOW + TWO_WEEKS + 1) is None

    def test_max_age_is_configurable(self) -> None:
        short = SessionTokens(SECRET, "app.UserSocket", max_age=60)
        token = short.sign(REF, now=NOW)
        assert short.verify(token, now=NOW + 60) == REF
        assert short.verify(token, now=NOW + 61) is None


class TestRefused:
    def test_another_secret(self) -> None:
        token = tokens(secret=b"t" * 32).sign(REF, now=NOW)
        assert tokens().verify(token, now=NOW) is None

    def test_another_namespace(self) -> None:
        token = tokens(namespace="app.AdminSocket").sign(REF, now=NOW)
        assert tokens().verify(token, now=NOW) is None

    def test_tampered_payload(self) -> None:
        version, _, mac = tokens().sign(REF, now=NOW).split(".")
        forged = b64(json.dumps(["node-a", "someone-else", int(NOW)]).encode())
        assert tokens().verify(f"{version}.{forged}.{mac}", now=NOW) is None

    def test_forged_mac(self) -> None:
        version, payload, _ = tokens().sign(REF, now=NOW).split(".")
        assert tokens().verify(f"{version}.{payload}.{b64(bytes(32))}", now=NOW) is None

    def test_extra_characters_in_the_mac(self) -> None:
        # base64 decoders skip stray characters; a token must be exactly what was signed
        token = tokens().sign(REF, now=NOW)
        assert tokens().verify(token + "!", now=NOW) is None
        assert tokens().verify(token + "=", now=NOW) is None

    def test_a_signed_payload_of_the_wrong_shape(self) -> None:
        signer = tokens()
        payload = b64(b'{"node": "a"}')
        mac = b64(signer._mac(payload))
        assert signer.verify(f"v1.{payload}.{mac}", now=NOW) is None

    @pytest.mark.parametrize(
        "junk",
        [None, 42, "", "v1", "v1..", "v2.a.b", "a.b.c", "v1.é.x", "v1.%%%.%%%", "x" * 5000],
    )
    def test_junk(self, junk: object) -> None:
        assert tokens().verify(junk, now=NOW) is None

    @given(st.text(max_size=200))
    def test_any_text_is_refused_without_raising(self, text: str) -> None:
        assert tokens().verify(text, now=NOW) is None
