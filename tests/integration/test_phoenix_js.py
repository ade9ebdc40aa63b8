"""The contract app (shared CONTRACT.md) driven by the official phoenix.js.

Each test runs one scenario of ``js/run.mjs`` (npm ``phoenix`` 1.8.16, and 1.7.23 for the core
cases) against one running contract server, over WebSocket with both serializers (``vsn``
1.0.0 and 2.0.0) and over LongPoll (1.8.16, ``vsn`` 2.0.0: see ``TRANSPORT_VSNS``), and
compares what phoenix.js observed with exact expected values. A few tests are WebSocket only:
a custom Origin, heartbeats (phoenix.js sends none over LongPoll), binary replies (LongPoll
carries none to the client, as in Phoenix) and a raw client without ``vsn``.

Frames are compared in the runner's normalized form ``{join_ref, ref, topic, event, payload}``.
V1 frames never carry ``join_ref`` on the wire, so it is ``None`` there; ``wire_checks`` also
asserts that every V1 frame is an object with exactly ``topic, event, payload, ref``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # fixtures come from conftest.py; these names are only for annotations
    from .conftest import ContractServer, RunJs

VSNS = ["1.0.0", "2.0.0"]
CLIENTS = ["phoenix", "phoenix17"]
# phoenix.js speaks only V2 over LongPoll (it forces its own serializer there), and only 1.8
# runs LongPoll in Node (1.7's needs XMLHttpRequest); V1 over LongPoll is in test_longpoll_raw.
# "longpoll-cluster": LongPoll through a proxy that alternates every request between two
# instances on one Redis (``alternating_cluster``), so no session is where its requests land.
TRANSPORT_VSNS = [
    ("websocket", "1.0.0"),
    ("websocket", "2.0.0"),
    ("longpoll", "2.0.0"),
    ("longpoll-cluster", "2.0.0"),
]
VARIANTS = [pytest.param(t, v, id=f"{t}-{v}") for t, v in TRANSPORT_VSNS]
CORE = [
    pytest.param(c, t, v, id=f"{c}-{t}-{v}")
    for c in CLIENTS
    for t, v in TRANSPORT_VSNS
    if c == "phoenix" or t == "websocket"
]
# Across instances presence converges by heartbeats, so its exact frames differ (a state may
# lack a presence the other instance has not replicated yet); test_cluster.py covers that, and
# test_longpoll_js.py LongPoll presence across instances.
ONE_INSTANCE_CORE = [p for p in CORE if "cluster" not in str(p.id)]
V1_KEYS = {"topic", "event", "payload", "ref"}
OK_EMPTY = {"status": "ok", "response": {}}

Obs = dict[str, Any]


@pytest.fixture
def contract_server(request: pytest.FixtureRequest, contract_server: ContractServer) -> Any:
    """The contract server; for the "longpoll-cluster" cases, two instances behind a proxy
    that alternates their requests (``alternating_cluster``), which run_js drives the same way."""
    params = getattr(request.node, "callspec", None)
    if params is not None and params.params.get("transport") == "longpoll-cluster":
        return request.getfixturevalue("alternating_cluster")
    return contract_server


# ------------------------------------------------------------------------------------------------
# helpers


def observe(
    run_js: RunJs,
    server: ContractServer,
    scenario: str,
    *,
    vsn: str,
    client: str = "phoenix",
    transport: str = "websocket",
    **extra: object,
) -> Obs:
    transport = transport.removesuffix("-cluster")  # the server tells the topology apart
    obs = run_js(server, scenario, client=client, vsn=vsn, transport=transport, **extra)
    assert obs["scenario"] == scenario
    assert (obs["vsn"], obs["transport"]) == (vsn, transport)
    assert obs["library_version"] == {"phoenix": "1.8.16", "phoenix17": "1.7.23"}[client]
    wire_checks(obs, vsn)
    return obs


def wire_checks(obs: Obs, vsn: str) -> None:
    """Every inbound frame has the serializer's exact shape and decoded without error."""
    for name, client in obs["clients"].items():
        assert client["decode_errors"] == [], f"client {name}"
        for raw in client["raw"]:
            if vsn == "1.0.0":
                assert isinstance(raw, dict), f"client {name}: V1 frame is not an object: {raw}"
                assert set(raw) == V1_KEYS, f"client {name}: V1 frame keys: {raw}"
            elif isinstance(raw, dict):
                assert set(raw) == {"$binary"}, f"client {name}: V2 text frame is an object: {raw}"
            else:
                assert isinstance(raw, list), f"client {name}: V2 frame: {raw}"
                assert len(raw) == 5, f"client {name}: V2 frame is not 5 elements: {raw}"


def frame(
    vsn: str, join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any
) -> dict[str, Any]:
    """The expected normalized frame; V1 carries no join_ref."""
    return {
        "join_ref": join_ref if vsn == "2.0.0" else None,
        "ref": ref,
        "topic": topic,
        "event": event,
        "payload": payload,
    }


def reply(obs_reply: Obs) -> Obs:
    """A push result without its timing."""
    return {"status": obs_reply["status"], "response": obs_reply["response"]}


def ok(response: Any) -> Obs:
    return {"status": "ok", "response": response}


def error(response: Any) -> Obs:
    return {"status": "error", "response": response}


def strip_refs(metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Metas without phx_ref / phx_ref_prev, after checking that phx_ref is a string."""
    stripped = []
    for meta in metas:
        assert isinstance(meta.get("phx_ref"), str) and meta["phx_ref"], meta
        stripped.append({k: v for k, v in meta.items() if k not in ("phx_ref", "phx_ref_prev")})
    return stripped


def plain_list(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """A Presence.list() snapshot as {key: metas without refs}."""
    return {e["key"]: strip_refs(e["metas"]) for e in entries}


def plain_presences(presences: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """A presence_state map or one side of a presence_diff as {key: metas without refs}."""
    return {key: strip_refs(value["metas"]) for key, value in presences.items()}


# ------------------------------------------------------------------------------------------------
# socket connect


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_connect_with_user(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "join", vsn=vsn, transport=transport, user="carol")
    assert obs["join"] == ok({"topic": obs["topic"], "user": "carol"})
    assert obs["clients"]["a"]["opens"] == 1
    assert obs["clients"]["a"]["closes"] == []


@pytest.mark.parametrize(("client", "transport", "vsn"), CORE)
def test_connect_without_user_and_join(
    run_js: RunJs, contract_server: ContractServer, client: str, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "join", vsn=vsn, transport=transport, client=client)
    topic = obs["topic"]
    assert topic.startswith("room:")
    assert obs["join"] == ok({"topic": topic, "user": None})
    jr = obs["join_ref"]
    assert obs["clients"]["a"]["frames"] == [
        frame(vsn, jr, jr, topic, "phx_reply", ok({"topic": topic, "user": None}))
    ]


@pytest.mark.parametrize("vsn", VSNS)
def test_any_origin_is_allowed(run_js: RunJs, contract_server: ContractServer, vsn: str) -> None:
    obs = observe(run_js, contract_server, "origin", vsn=vsn, origin="https://elsewhere.invalid")
    assert obs["join"] == ok({"topic": obs["topic"], "user": None})


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_bad_token_is_refused(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "token_bad", vsn=vsn, transport=transport)
    assert obs["opens"] == 0
    if transport == "websocket":
        # ws reports the refused upgrade as an error naming the HTTP status, then closes with 1006
        assert obs["first_error"] == "Unexpected server response: 403"
        assert obs["first_close"]["code"] == 1006
    else:
        # {"status": 403}: LongPoll reports the error 403 and closes with 1008 "forbidden"
        assert obs["first_error"] == "403"
        assert obs["first_close"] == {"code": 1008, "reason": "forbidden"}
    assert obs["clients"]["a"]["frames"] == []


def test_no_vsn_means_v1(run_js: RunJs, contract_server: ContractServer) -> None:
    """A raw WebSocket without ``vsn`` speaks the V1 object serializer."""
    obs = run_js(contract_server, "no_vsn")
    topic = obs["topic"]
    assert obs["received"] == [
        {"topic": "phoenix", "event": "phx_reply", "payload": OK_EMPTY, "ref": "1"},
        {
            "topic": topic,
            "event": "phx_reply",
            "payload": ok({"topic": topic, "user": None}),
            "ref": "2",
        },
        {"topic": topic, "event": "phx_reply", "payload": ok({"v": 1}), "ref": "3"},
    ]
    assert obs["errors"] == []


# ------------------------------------------------------------------------------------------------
# room:* joins


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_join_forbidden(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "join_forbidden", vsn=vsn, transport=transport)
    assert obs["join"] == error({"reason": "unauthorized"})
    sent = obs["clients"]["a"]["sent"][0]
    assert obs["clients"]["a"]["frames"][0] == frame(
        vsn,
        sent["join_ref"],
        sent["ref"],
        "room:forbidden",
        "phx_reply",
        error({"reason": "unauthorized"}),
    )


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_join_crash(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "join_crash", vsn=vsn, transport=transport)
    assert obs["join"] == error({"reason": "join crashed"})
    # the socket lives on: another join and an echo work, nothing closed
    assert obs["other_join"] == ok({"topic": obs["other_topic"], "user": None})
    assert reply(obs["other_echo"]) == ok({"after": "join crash"})
    assert obs["closes"] == 0


@pytest.mark.parametrize(("client", "transport", "vsn"), CORE)
def test_unmatched_topic(
    run_js: RunJs, contract_server: ContractServer, client: str, transport: str, vsn: str
) -> None:
    obs = observe(
        run_js, contract_server, "unmatched_topic", vsn=vsn, transport=transport, client=client
    )
    topic = obs["topic"]
    assert obs["join"] == error({"reason": "unmatched topic"})
    # the reply echoes the ref and carries a null join_ref
    assert obs["reply_frames"] == [
        frame(
            vsn,
            None,
            obs["sent_join"]["ref"],
            topic,
            "phx_reply",
            error({"reason": "unmatched topic"}),
        )
    ]


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_push_to_unjoined_topic(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "unjoined_push", vsn=vsn, transport=transport)
    assert obs["frames"] == [
        frame(
            vsn, None, obs["ref"], obs["topic"], "phx_reply", error({"reason": "unmatched topic"})
        )
    ]
    assert obs["socket_closes"] == 0


# ------------------------------------------------------------------------------------------------
# room:* events


@pytest.mark.parametrize(("client", "transport", "vsn"), CORE)
def test_echo(
    run_js: RunJs, contract_server: ContractServer, client: str, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "echo", vsn=vsn, transport=transport, client=client)
    assert reply(obs["reply"]) == ok(obs["payload"])
    assert obs["payload"]["unicode"] == "héllo ✓ 日本"
    assert reply(obs["empty_reply"]) == OK_EMPTY
    sent = [m for m in obs["clients"]["a"]["sent"] if m["event"] == "echo"]
    jr = obs["join_ref"]
    replies = [f for f in obs["clients"]["a"]["frames"] if f["ref"] != jr]
    assert replies == [
        frame(vsn, jr, sent[0]["ref"], obs["topic"], "phx_reply", ok(obs["payload"])),
        frame(vsn, jr, sent[1]["ref"], obs["topic"], "phx_reply", OK_EMPTY),
    ]


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_echo_error(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "echo_error", vsn=vsn, transport=transport)
    assert reply(obs["reply"]) == error({"why": "because", "code": 7})
    # an error reply is just a reply: the channel stays joined
    assert obs["channel_state"] == "joined"
    assert obs["channel_errors"] == []


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_noreply(run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str) -> None:
    obs = observe(
        run_js, contract_server, "noreply", vsn=vsn, transport=transport, push_timeout=300
    )
    assert obs["reply"]["status"] == "timeout"
    assert reply(obs["after"]) == ok({"after": "noreply"})
    client = obs["clients"]["a"]
    noreply_ref = next(m["ref"] for m in client["sent"] if m["event"] == "noreply")
    assert [f for f in client["frames"] if f["ref"] == noreply_ref] == []
    assert obs["replies_for_topic"] == 2  # the join and the echo after


@pytest.mark.parametrize(("client", "transport", "vsn"), CORE)
def test_shout_reaches_everyone(
    run_js: RunJs, contract_server: ContractServer, client: str, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "shout", vsn=vsn, transport=transport, client=client)
    payload = obs["payload"]
    assert reply(obs["reply"]) == OK_EMPTY
    assert obs["a_events"] == [payload]
    assert obs["b_events"] == [payload]
    for name in ("a", "b"):
        shouts = [f for f in obs["clients"][name]["frames"] if f["event"] == "shout"]
        assert shouts == [frame(vsn, None, None, obs["topic"], "shout", payload)], name


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_shout_others_excludes_sender(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "shout_others", vsn=vsn, transport=transport)
    assert reply(obs["reply"]) == OK_EMPTY
    assert obs["a_events"] == []
    assert obs["b_events"] == [obs["payload"]]


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_push_me(run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str) -> None:
    obs = observe(run_js, contract_server, "push_me", vsn=vsn, transport=transport)
    payload = obs["payload"]
    assert reply(obs["reply"]) == OK_EMPTY
    assert obs["a_events"] == [payload]
    assert obs["b_events"] == []
    # a push carries the channel's join_ref and no ref
    assert obs["a_push_frames"] == [
        frame(vsn, obs["a_join_ref"], None, obs["topic"], "pushed", payload)
    ]


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_censor(run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str) -> None:
    obs = observe(run_js, contract_server, "censor", vsn=vsn, transport=transport)
    assert [reply(r) for r in obs["replies"]] == [OK_EMPTY, OK_EMPTY]
    expected = [{"text": "***", "from": "a", "n": 1}, {"from": "b", "n": 2, "text": "***"}]
    assert obs["a_events"] == expected
    assert obs["b_events"] == expected
    # intercepted broadcasts are pushed by each channel, so they carry its join_ref
    topic = obs["topic"]
    for name in ("a", "b"):
        jr = obs[f"{name}_join_ref"]
        assert obs[f"{name}_frames"] == [
            frame(vsn, jr, None, topic, "censored", payload) for payload in expected
        ], name


def test_binary_echo(run_js: RunJs, contract_server: ContractServer) -> None:
    vsn = "2.0.0"  # binary frames exist in V2 only
    obs = observe(run_js, contract_server, "binary_echo", vsn=vsn)
    data: list[int] = obs["bytes"]
    assert obs["response_is_arraybuffer"] is True
    assert reply(obs["reply"]) == ok({"$binary": data})
    client = obs["clients"]["a"]
    sent = next(m for m in client["sent"] if m["event"] == "binary_echo")
    assert sent["payload"] == {"$binary": data}
    # the reply is a binary frame of kind 1: sizes, join_ref, ref, topic, status, payload
    jr, ref, topic = (sent[k].encode() for k in ("join_ref", "ref", "topic"))
    header = [1, len(jr), len(ref), len(topic), 2]
    expected_raw = header + list(jr) + list(ref) + list(topic) + list(b"ok") + data
    binaries = [r["$binary"] for r in client["raw"] if isinstance(r, dict)]
    assert binaries == [expected_raw]


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_slow_echo_does_not_block_other_topics(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "slow_echo", vsn=vsn, transport=transport, ms=1500)
    assert reply(obs["slow"]) == ok({"ms": 1500})
    assert reply(obs["fast"]) == ok({"quick": True})
    assert obs["fast_at_ms"] < 500, obs
    assert obs["slow_at_ms"] >= 1450, obs
    assert obs["fast_at_ms"] < obs["slow_at_ms"] - 900, obs


@pytest.mark.parametrize(("client", "transport", "vsn"), CORE)
def test_crash(
    run_js: RunJs, contract_server: ContractServer, client: str, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "crash", vsn=vsn, transport=transport, client=client)
    jr = obs["join_ref"]
    assert obs["channel_errors"] == [{"reason": "channel_crash"}]
    assert obs["error_frames"] == [
        frame(vsn, jr, jr, obs["topic"], "phx_error", {"reason": "channel_crash"})
    ]
    # the other channel of the same socket still answers, and the socket never closed
    assert obs["other_errors"] == []
    assert reply(obs["other_echo"]) == ok({"still": "alive"})
    assert obs["socket_closes"] == 0
    assert obs["opens"] == 1
    # phoenix.js rejoins the crashed channel with a new join_ref, and it works again
    assert obs["rejoin"] == ok({"topic": obs["topic"], "user": None})
    assert obs["rejoin_join_ref"] not in (None, jr)
    assert reply(obs["echo_after_rejoin"]) == ok({"rejoined": True})


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_unhandled_event_crashes_the_channel_only(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "unhandled_event", vsn=vsn, transport=transport)
    jr = obs["join_ref"]
    assert obs["channel_errors"] == [{"reason": "channel_crash"}]
    assert obs["error_frames"] == [
        frame(vsn, jr, jr, obs["topic"], "phx_error", {"reason": "channel_crash"})
    ]
    assert obs["other_errors"] == []
    assert reply(obs["other_echo"]) == ok({"still": "alive"})
    assert obs["socket_closes"] == 0


@pytest.mark.parametrize(("client", "transport", "vsn"), CORE)
def test_stop(
    run_js: RunJs, contract_server: ContractServer, client: str, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "stop", vsn=vsn, transport=transport, client=client)
    jr = obs["join_ref"]
    assert reply(obs["reply"]) == OK_EMPTY
    assert obs["close_frames"] == [frame(vsn, jr, jr, obs["topic"], "phx_close", {})]
    assert obs["channel_closes"] == [{}]
    assert obs["channel_errors"] == []
    assert obs["state"] == "closed"
    assert obs["still_registered"] is False
    assert obs["joins_sent"] == 1  # no rejoin after phx_close
    assert obs["socket_closes"] == 0
    # the reply reaches the client before the phx_close
    frames = [f for f in obs["clients"]["a"]["frames"] if f["topic"] == obs["topic"]]
    assert [f["event"] for f in frames] == ["phx_reply", "phx_reply", "phx_close"]


# ------------------------------------------------------------------------------------------------
# presence:*


@pytest.mark.parametrize(("client", "transport", "vsn"), ONE_INSTANCE_CORE)
def test_presence(
    run_js: RunJs, contract_server: ContractServer, client: str, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "presence", vsn=vsn, transport=transport, client=client)
    user_a: str = obs["user_a"]
    anon: str = obs["anon_key"]
    topic: str = obs["topic"]
    assert anon.startswith("anon-") and len(anon) > len("anon-"), anon
    assert obs["join_a"] == OK_EMPTY
    assert obs["join_b"] == OK_EMPTY
    assert reply(obs["update"]) == OK_EMPTY

    alice = {"name": "Alice"}
    anon_meta = {"name": anon}
    away = {"name": anon, "status": "away", "mood": "ok"}

    # what phoenix.js's Presence shows
    assert plain_list(obs["list_a_alone"]) == {user_a: [alice]}
    assert plain_list(obs["list_b_after_join"]) == {user_a: [alice], anon: [anon_meta]}
    assert plain_list(obs["list_a_after_b_join"]) == {user_a: [alice], anon: [anon_meta]}
    assert plain_list(obs["list_a_after_update"]) == {user_a: [alice], anon: [away]}
    assert plain_list(obs["list_b_after_update"]) == {user_a: [alice], anon: [away]}
    assert plain_list(obs["list_a_after_b_left"]) == {user_a: [alice]}

    # what went over the wire: presence_state is a push (join_ref), diffs are broadcasts
    a_frames = obs["a_presence_frames"]
    b_frames = obs["b_presence_frames"]
    a_states = [f for f in a_frames if f["event"] == "presence_state"]
    b_states = [f for f in b_frames if f["event"] == "presence_state"]
    assert len(a_states) == 1
    assert len(b_states) == 1
    assert a_states[0]["join_ref"] == (obs["a_join_ref"] if vsn == "2.0.0" else None)
    assert b_states[0]["join_ref"] == (obs["b_join_ref"] if vsn == "2.0.0" else None)
    assert plain_presences(a_states[0]["payload"]) == {user_a: [alice]}
    assert plain_presences(b_states[0]["payload"]) == {user_a: [alice], anon: [anon_meta]}

    diffs = [f for f in a_frames if f["event"] == "presence_diff"]
    for diff in diffs:
        assert (diff["join_ref"], diff["ref"], diff["topic"]) == (None, None, topic)
        assert set(diff["payload"]) == {"joins", "leaves"}
    plain = [
        (plain_presences(d["payload"]["joins"]), plain_presences(d["payload"]["leaves"]))
        for d in diffs
    ]
    assert plain == [
        ({user_a: [alice]}, {}),
        ({anon: [anon_meta]}, {}),
        ({anon: [away]}, {anon: [anon_meta]}),
        ({}, {anon: [away]}),
    ]
    # an update gets a new phx_ref and names the old one in phx_ref_prev
    joined_ref = diffs[1]["payload"]["joins"][anon]["metas"][0]["phx_ref"]
    updated = diffs[2]["payload"]["joins"][anon]["metas"][0]
    assert diffs[2]["payload"]["leaves"][anon]["metas"][0]["phx_ref"] == joined_ref
    assert updated["phx_ref"] != joined_ref
    assert updated["phx_ref_prev"] == joined_ref


# ------------------------------------------------------------------------------------------------
# bench:*


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_bench_broadcast(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "bench", vsn=vsn, transport=transport)
    payload = obs["payload"]
    assert obs["join_a"] == OK_EMPTY
    assert obs["join_b"] == OK_EMPTY
    assert reply(obs["reply"]) == OK_EMPTY
    assert obs["a_events"] == [payload]
    assert obs["b_events"] == [payload]
    assert obs["a_frames"] == [frame(vsn, None, None, obs["topic"], "broadcast", payload)]


# ------------------------------------------------------------------------------------------------
# HTTP control endpoints


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_api_broadcast(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "api_broadcast", vsn=vsn, transport=transport)
    payload = obs["payload"]
    assert obs["http"] == {"status": 200, "body": {"ok": True}}
    assert obs["a_events"] == [payload]
    assert obs["b_events"] == [payload]
    assert obs["a_frames"] == [frame(vsn, None, None, obs["topic"], "news", payload)]


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_api_disconnect(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "api_disconnect", vsn=vsn, transport=transport)
    assert obs["http"] == {"status": 200, "body": {"ok": True}}
    if transport == "websocket":
        # 1001 "going away": every phoenix.js version reconnects after it
        assert obs["a_first_close"]["code"] == 1001
    else:
        # the session ended; the next poll got a new one (410), which phoenix.js 1.8 reports
        # as the session gone (3410) before it reconnects
        assert obs["a_first_close"] == {"code": 3410, "reason": "session_gone"}
    assert obs["a_opens"] == 2
    assert obs["a_rejoin"] == ok({"topic": obs["topic"], "user": obs["user_a"]})
    assert reply(obs["a_echo"]) == ok({"back": True})
    # another user's socket is untouched
    assert obs["b_closes"] == []
    assert obs["b_opens"] == 1
    assert reply(obs["b_echo"]) == ok({"untouched": True})


# ------------------------------------------------------------------------------------------------
# heartbeats and malformed frames


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_heartbeat_ping(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "heartbeat_ping", vsn=vsn, transport=transport)
    assert isinstance(obs["rtt"], int) and obs["rtt"] >= 0
    [sent] = obs["heartbeats_sent"]
    assert (sent["topic"], sent["event"], sent["payload"]) == ("phoenix", "heartbeat", {})
    assert obs["phoenix_frames"] == [
        {
            "join_ref": None,
            "ref": sent["ref"],
            "topic": "phoenix",
            "event": "phx_reply",
            "payload": OK_EMPTY,
        }
    ]


@pytest.mark.parametrize("vsn", VSNS)
def test_heartbeat_interval_keeps_connection(
    run_js: RunJs, contract_server: ContractServer, vsn: str
) -> None:
    obs = observe(
        run_js, contract_server, "heartbeat_interval", vsn=vsn, interval=200, duration=1100
    )
    assert obs["opens"] == 1
    assert obs["closes"] == []
    assert obs["channel_errors"] == []
    assert reply(obs["echo"]) == ok({"after": "heartbeats"})
    sent_refs = [m["ref"] for m in obs["heartbeats_sent"]]
    assert len(sent_refs) >= 4, sent_refs
    replies = obs["phoenix_frames"]
    assert all(
        f
        == {
            "join_ref": None,
            "ref": f["ref"],
            "topic": "phoenix",
            "event": "phx_reply",
            "payload": OK_EMPTY,
        }
        for f in replies
    ), replies
    # every heartbeat is answered (the last one may still be in flight)
    assert [f["ref"] for f in replies] in (sent_refs, sent_refs[:-1])


@pytest.mark.parametrize(("transport", "vsn"), VARIANTS)
def test_malformed_frame_closes_only_that_socket(
    run_js: RunJs, contract_server: ContractServer, transport: str, vsn: str
) -> None:
    obs = observe(run_js, contract_server, "malformed_frame", vsn=vsn, transport=transport)
    assert obs["a_first_close"]["code"] == 1011
    assert obs["b_closes"] == []
    assert reply(obs["b_echo"]) == ok({"fine": True})
