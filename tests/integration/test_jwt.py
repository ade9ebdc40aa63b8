"""JWT mode of the contract app (shared CONTRACT.md, "JWT mode"), driven by the real phoenix.js.

The app runs as ``python -m examples.contract --jwt-secret SECRET`` (one process for this
module). Tokens are minted here with pyjwt (HS256, ``sub``, ``exp``, sometimes ``nbf``; the
unsigned and HS512 ones by hand) and handed to the ``jwt_*`` scenarios of ``js/run.mjs``
(phoenix.js 1.8.16 over the ``ws`` WebSocket), which give them either as the ``token`` connect
param (``mode="params"``) or as the phoenix.js 1.8 ``authToken`` option, the
``base64url.bearer.phx.<base64>`` subprotocol (``mode="auth_token"``). Every JWT client logs its
connects: URL, subprotocols offered, the one agreed, and the token each carried.

Raw ``websockets`` checks pin the exact HTTP status of each handshake and the close frame sent
when a token expires.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import jwt
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .conftest import ContractServer, watched

if TYPE_CHECKING:  # fixtures come from conftest.py; these names are only for annotations
    from .conftest import RunJs

SECRET = "phoenix-py-jwt-contract-test-secret-0042"  # 40 characters
OTHER_SECRET = "not-the-server-secret-but-just-as-long-0"

MODES = ["params", "auth_token"]
AUTH_PREFIX = "base64url.bearer.phx."
EXPIRED_CLOSE = {"code": 1008, "reason": "token expired"}
# how ws reports an upgrade answered with HTTP 403 (the token=bad refusal, test_phoenix_js.py)
REFUSED_CLOSE = {"code": 1006, "reason": ""}
REFUSED_ERROR = "Unexpected server response: 403"

Obs = dict[str, Any]


# ------------------------------------------------------------------------------------------------
# the JWT-mode server


@pytest.fixture(scope="module")
def _jwt_server() -> Iterator[ContractServer]:
    server = ContractServer(["--jwt-secret", SECRET], label="JWT-mode contract server")
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def contract_server(_jwt_server: ContractServer) -> Iterator[ContractServer]:
    """The JWT-mode server, under the name conftest's report hook looks for (so that a failing
    test shows the server's output); fails the test that leaves it dead."""
    yield from watched(_jwt_server, "JWT-mode contract server")


# ------------------------------------------------------------------------------------------------
# tokens


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def mint(sub: str, *, ttl: int = 600, secret: str = SECRET, **claims: Any) -> str:
    """HS256 with ``sub`` and ``exp`` = now + ``ttl`` seconds (pyjwt); ``claims`` are added
    (an ``exp`` among them wins)."""
    payload = {"sub": sub, "exp": int(time.time()) + ttl, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hand_built(header: dict[str, Any], payload: dict[str, Any], key: str | None) -> str:
    """A JWT built by hand: unsigned when ``key`` is None, else HMAC-SHA512 with ``key``."""
    signing_input = (
        f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
    )
    if key is None:
        return f"{signing_input}."
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha512).digest()
    return f"{signing_input}.{_b64url(signature)}"


def refused_tokens(sub: str) -> dict[str, str]:
    """Every kind of token JWT mode must refuse, each otherwise valid for ``sub``."""
    now = int(time.time())
    return {
        "bad": "bad",
        "malformed": "abc",
        "wrong_signature": mint(sub, secret=OTHER_SECRET),
        "alg_none": hand_built({"alg": "none", "typ": "JWT"}, {"sub": sub, "exp": now + 600}, None),
        "hs512": hand_built({"alg": "HS512", "typ": "JWT"}, {"sub": sub, "exp": now + 600}, SECRET),
        "expired": mint(sub, ttl=-3600),
        "not_yet_valid": mint(sub, ttl=7200, nbf=now + 3600),
        "no_exp": jwt.encode({"sub": sub}, SECRET, algorithm="HS256"),
        "no_sub": jwt.encode({"exp": now + 600}, SECRET, algorithm="HS256"),
    }


def subprotocol_for(token: str) -> str:
    """What phoenix.js 1.8 offers for ``authToken``: standard base64, padding stripped (§1.5)."""
    return AUTH_PREFIX + base64.b64encode(token.encode("latin-1")).decode("ascii").rstrip("=")


# ------------------------------------------------------------------------------------------------
# phoenix.js helpers


def observe(run_js: RunJs, server: ContractServer, scenario: str, **extra: object) -> Obs:
    obs = run_js(server, scenario, **extra)
    assert obs["scenario"] == scenario
    assert obs["library_version"] == "1.8.16"
    for name, client in obs["clients"].items():
        assert client["decode_errors"] == [], f"client {name}"
    return obs


def connect_log(
    server: ContractServer,
    mode: str,
    token: str | None,
    *,
    params: str = "",
    opened: bool = True,
) -> dict[str, Any]:
    """The connect entry run.mjs logs when phoenix.js gives ``token`` the ``mode`` way
    (``none``: no token at all; ``params``: extra query params, before the token as phoenix.js
    puts them)."""
    param_token = token if mode == "params" else None
    auth_token = token if mode == "auth_token" else None
    query = f"{params}token={token}&vsn=2.0.0" if param_token is not None else f"{params}vsn=2.0.0"
    return {
        "url": f"{server.ws_url}/websocket?{query}",
        "protocols": None if auth_token is None else ["phoenix", subprotocol_for(auth_token)],
        # ws reports "" when the server agreed to no subprotocol, null before the handshake
        "agreed": None if not opened else "" if auth_token is None else "phoenix",
        "param_token": param_token,
        "auth_token": auth_token,
        "opened": opened,
    }


def ok(response: Any) -> dict[str, Any]:
    return {"status": "ok", "response": response}


# ------------------------------------------------------------------------------------------------
# phoenix.js: valid tokens


@pytest.mark.parametrize("mode", MODES)
def test_valid_token_joins_as_its_sub(
    run_js: RunJs, contract_server: ContractServer, mode: str
) -> None:
    """A valid token (``token`` param, or ``authToken``: the server agrees to "phoenix") opens
    the socket; a room join names the token's ``sub`` as the user."""
    sub = unique("alice")
    token = mint(sub)
    obs = observe(run_js, contract_server, "jwt_join", mode=mode, token=token)
    topic = obs["topic"]
    assert obs["join"] == ok({"topic": topic, "user": sub})
    assert obs["echo"] == ok({"hello": "jwt"})
    assert obs["connects"] == [connect_log(contract_server, mode, token)]
    assert obs["closes"] == []
    assert obs["errors"] == []


@pytest.mark.parametrize("mode", MODES)
def test_private_room_only_for_its_user(
    run_js: RunJs, contract_server: ContractServer, mode: str
) -> None:
    """``room:private:<sub>`` joins; ``room:private:<other>`` is refused with
    ``{"reason": "unauthorized"}``, though the socket also says ``?user=<other>``: in JWT mode
    the ``sub`` is the user, and the ``user`` param is ignored."""
    sub, other = unique("bob"), unique("eve")
    token = mint(sub)
    obs = observe(
        run_js, contract_server, "jwt_private", mode=mode, token=token, sub=sub, other=other
    )
    own, theirs, room = f"room:private:{sub}", f"room:private:{other}", obs["room_topic"]
    assert (obs["own_topic"], obs["their_topic"]) == (own, theirs)
    assert obs["own_join"] == ok({"topic": own, "user": sub})
    assert obs["own_echo"] == ok({"mine": True})
    assert obs["their_join"] == {"status": "error", "response": {"reason": "unauthorized"}}
    assert obs["their_joins_sent"] == 1
    assert obs["room_join"] == ok({"topic": room, "user": sub})
    assert obs["connects"] == [connect_log(contract_server, mode, token, params=f"user={other}&")]
    assert obs["closes"] == []


def test_socket_id_is_the_sub(run_js: RunJs, contract_server: ContractServer) -> None:
    """The ``sub`` takes the place of ``user`` in the socket id too: ``/api/disconnect`` of the
    (ignored) ``?user=`` closes nothing; of the ``sub``, it closes the socket (1001) and
    phoenix.js reconnects and rejoins."""
    sub, other = unique("carol"), unique("mallory")
    token = mint(sub)
    obs = observe(
        run_js, contract_server, "jwt_socket_id", mode="params", token=token, sub=sub, other=other
    )
    topic = f"room:private:{sub}"
    assert obs["http_other"] == {"status": 200, "body": {"ok": True}}
    assert obs["closes_after_other"] == 0
    assert obs["http_sub"] == {"status": 200, "body": {"ok": True}}
    assert obs["closes"] == [{"code": 1001, "reason": "disconnected"}]
    assert obs["opens"] == 2
    assert obs["join_replies"] == [ok({"topic": topic, "user": sub})] * 2
    assert obs["echo"] == ok({"back": True})
    assert (
        obs["connects"]
        == [connect_log(contract_server, "params", token, params=f"user={other}&")] * 2
    )


# ------------------------------------------------------------------------------------------------
# phoenix.js: refused tokens


def test_refused_tokens_fail_the_upgrade(run_js: RunJs, contract_server: ContractServer) -> None:
    """Missing, malformed, wrongly signed, ``alg: none``, HS512, expired, not yet valid, no
    ``exp``, no ``sub``: given as the ``token`` param or as ``authToken``, each is refused the
    way ``token=bad`` is. phoenix.js sees the upgrade fail (error naming HTTP 403, close 1006)
    and never opens."""
    tokens = refused_tokens(unique("zed"))
    cases = [{"name": "missing", "mode": "none", "token": None}] + [
        {"name": f"{name}/{mode}", "mode": mode, "token": token}
        for name, token in tokens.items()
        for mode in MODES
    ]
    obs = observe(run_js, contract_server, "jwt_refused", cases=cases)
    observed = obs["cases"]
    expected = {
        case["name"]: {
            "opens": 0,
            "first_close": REFUSED_CLOSE,
            "first_error": REFUSED_ERROR,
            "frames": [],
            "connects": [
                connect_log(contract_server, str(case["mode"]), case["token"], opened=False)
            ],
        }
        for case in cases
    }
    assert observed == expected


# ------------------------------------------------------------------------------------------------
# phoenix.js: expiry while connected


@pytest.mark.parametrize("mode", MODES)
def test_expiry_closes_then_reconnects_with_fresh_token(
    run_js: RunJs, contract_server: ContractServer, mode: str
) -> None:
    """``params`` (or ``authToken``) is a function handing out tokens in order; the first one
    expires 2-3 s after the start. At its ``exp`` the server closes the socket (1008,
    "token expired"); phoenix.js reconnects by itself, calling the function again (the next,
    fresh token), its channel rejoins (a new join_ref, the same user) and echo works."""
    sub = unique("dave")
    exp = int(time.time()) + 3
    tokens = [mint(sub, exp=exp), mint(sub), mint(sub)]
    obs = observe(run_js, contract_server, "jwt_expiry", mode=mode, tokens=tokens, sub=sub)
    topic = f"room:private:{sub}"
    assert obs["handed_out"] == [0, 1]
    assert obs["connects"] == [connect_log(contract_server, mode, t) for t in tokens[:2]]
    assert obs["closes"] == [EXPIRED_CLOSE]
    assert obs["opens"] == 2
    # the server closed at exp (give or take the timer's granularity), not before the open
    (first_open, reopen), (closed,) = obs["opened_at_ms"], obs["closed_at_ms"]
    assert first_open < exp * 1000
    assert exp * 1000 - 50 <= closed < exp * 1000 + 1000
    assert closed <= reopen
    assert obs["echo_before"] == ok({"before": "expiry"})
    assert obs["channel_errors"] == [{"source": "transport", "reason": "connection_closed"}]
    assert obs["join_replies"] == [ok({"topic": topic, "user": sub})] * 2
    first, second = obs["joins_sent"]
    assert first == {
        "join_ref": first["ref"],
        "ref": first["ref"],
        "topic": topic,
        "event": "phx_join",
        "payload": {},
    }
    assert second == {
        "join_ref": second["ref"],
        "ref": second["ref"],
        "topic": topic,
        "event": "phx_join",
        "payload": {},
    }
    assert first["ref"] != second["ref"]
    assert obs["join_refs"] == [first["ref"], second["ref"]]
    assert obs["echo_after"] == ok({"after": "expiry"})


def test_expiry_with_constant_token_refuses_the_reconnects(
    run_js: RunJs, contract_server: ContractServer
) -> None:
    """With a constant token (a string, not a function), phoenix.js reconnects after the expiry
    close with the same, now expired, token: CONTRACT.md refuses expired tokens like
    ``token=bad``, so every reconnect fails the upgrade and the socket never opens again."""
    sub = unique("erin")
    token = mint(sub, ttl=3)
    obs = observe(
        run_js, contract_server, "jwt_expiry_constant", mode="params", token=token, watch_ms=1500
    )
    assert obs["join"] == ok({"topic": obs["topic"], "user": sub})
    assert obs["closes"][0] == EXPIRED_CLOSE
    assert obs["opens"] == 1, f"{obs['opens']} opens, closes: {obs['closes'][:5]}..."
    assert len(obs["closes"]) >= 2  # phoenix.js kept trying
    assert obs["closes"][1:] == [REFUSED_CLOSE] * (len(obs["closes"]) - 1)
    assert obs["errors"] == [REFUSED_ERROR] * len(obs["errors"])
    assert obs["joins_sent"] == 1


# ------------------------------------------------------------------------------------------------
# raw websockets: exact HTTP statuses and the close frame


async def _handshake(url: str, subprotocols: list[str] | None = None) -> tuple[int, str | None]:
    """(HTTP status, agreed subprotocol) of one upgrade attempt."""
    kwargs: dict[str, Any] = {"subprotocols": subprotocols} if subprotocols else {}
    try:
        ws = await websockets.connect(url, **kwargs)
    except InvalidStatus as exc:
        return exc.response.status_code, None
    await ws.close()
    return 101, ws.subprotocol


def _url(server: ContractServer, token: str | None = None) -> str:
    query = "vsn=2.0.0" if token is None else f"vsn=2.0.0&token={token}"
    return f"{server.ws_url}/websocket?{query}"


def test_raw_handshake_statuses(contract_server: ContractServer) -> None:
    """Exact statuses: 101 for a valid token (agreeing to "phoenix" when it came as the
    authToken subprotocol), 403 (as ``token=bad``) for each refused token, either way."""
    sub = unique("raw")
    good = mint(sub)

    async def attempts() -> dict[str, tuple[int, str | None]]:
        results = {
            "good/params": await _handshake(_url(contract_server, good)),
            "good/auth_token": await _handshake(
                _url(contract_server), ["phoenix", subprotocol_for(good)]
            ),
            "missing": await _handshake(_url(contract_server)),
        }
        for name, token in refused_tokens(sub).items():
            results[f"{name}/params"] = await _handshake(_url(contract_server, token))
            results[f"{name}/auth_token"] = await _handshake(
                _url(contract_server), ["phoenix", subprotocol_for(token)]
            )
        return results

    results = asyncio.run(attempts())
    expected: dict[str, tuple[int, str | None]] = {
        name: (403, None) for name in results if not name.startswith("good/")
    }
    expected["good/params"] = (101, None)
    expected["good/auth_token"] = (101, "phoenix")
    assert results == expected


def test_raw_expiry_close_frame(contract_server: ContractServer) -> None:
    """A joined socket whose token expires gets, at ``exp``, a close frame with code 1008 and
    reason "token expired", and nothing else after its join reply."""
    sub = unique("frank")
    exp = int(time.time()) + 2
    token = mint(sub, exp=exp)
    topic = f"room:private:{sub}"

    async def scenario() -> tuple[list[Any], Any, tuple[int, str] | None, float]:
        ws = await websockets.connect(_url(contract_server, token))
        await ws.send(json.dumps(["1", "1", topic, "phx_join", {}]))
        join_reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        frames: list[Any] = []
        try:
            while True:
                frames.append(await asyncio.wait_for(ws.recv(), 5))
        except ConnectionClosed as exc:
            closed_at = time.time()
            rcvd = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd is not None else None
        return frames, join_reply, rcvd, closed_at

    frames, join_reply, close, closed_at = asyncio.run(scenario())
    assert join_reply == [
        "1",
        "1",
        topic,
        "phx_reply",
        {"status": "ok", "response": {"topic": topic, "user": sub}},
    ]
    assert frames == []
    assert close == (1008, "token expired")
    assert exp - 0.05 <= closed_at < exp + 1.0


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("expired_2s_ago"),
        pytest.param("valid_in_2s"),
    ],
)
def test_raw_recently_expired_or_soon_valid_is_403(
    contract_server: ContractServer, kind: str
) -> None:
    """A token that expired 2 s ago, or becomes valid in 2 s, is already expired / not yet
    valid: refused with 403 like any other, via the param and via the subprotocol."""
    sub = unique("gina")
    now = int(time.time())
    tokens = {"expired_2s_ago": mint(sub, exp=now - 2), "valid_in_2s": mint(sub, nbf=now + 2)}
    token = tokens[kind]

    async def attempts() -> list[tuple[int, str | None]]:
        return [
            await _handshake(_url(contract_server, token)),
            await _handshake(_url(contract_server), ["phoenix", subprotocol_for(token)]),
        ]

    assert asyncio.run(attempts()) == [(403, None), (403, None)]
