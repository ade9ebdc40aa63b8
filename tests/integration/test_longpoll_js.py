"""LongPoll with the official phoenix.js 1.8.16 (``js/run.mjs`` ``longpoll_*`` scenarios):
``longPollFallbackMs``, a LongPoll and a WebSocket client in one room, binary pushes, and two
instances behind a proxy that alternates between them (no sticky sessions).

The contract scenarios themselves run over LongPoll in ``test_phoenix_js.py``, on one instance
and on the same two instances behind the alternating proxy (``alternating_cluster``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from examples.contract.app import create_app

from .servers import ThreadedServer, serve

if TYPE_CHECKING:  # fixtures come from conftest.py; these names are only for annotations
    from .conftest import AlternatingCluster, ContractServer, RunJs

Obs = dict[str, Any]
OK_EMPTY = {"status": "ok", "response": {}}


def ok(response: Any) -> Obs:
    return {"status": "ok", "response": response}


@dataclass
class InProcessServer:
    """A ThreadedServer seen as run_js sees a contract server."""

    server: ThreadedServer

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/socket"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


def observe(run_js: RunJs, server: Any, scenario: str, **extra: object) -> Obs:
    obs = run_js(server, scenario, **extra)
    assert (obs["scenario"], obs["library_version"]) == (scenario, "1.8.16")
    for name, client in obs["clients"].items():
        assert client["decode_errors"] == [], f"client {name}"
    return obs


# ------------------------------------------------------------------------------------------------
# longPollFallbackMs (§4.8)


def test_fallback_when_the_websocket_path_is_refused(run_js: RunJs) -> None:
    with serve(create_app(websocket=False)) as server:
        obs = observe(run_js, InProcessServer(server), "longpoll_fallback", fallback_ms=1000)
    assert obs["transport"] == "LongPoll"
    # the refused upgrade is an error before open: the fallback is immediate, not after 1 s
    assert obs["opened_ms"] < 500, obs
    assert obs["join"] == ok({"topic": obs["topic"], "user": None})
    assert obs["echo"]["status"] == "ok" and obs["echo"]["response"] == {"via": "fallback"}
    assert obs["stored"] == {"phx:fallback:LongPoll": "true"}  # later connects go straight to it
    assert obs["opens"] == 1
    assert obs["clients"]["a"]["errors"][0] == "Unexpected server response: 403"


def test_no_fallback_when_the_websocket_works(
    run_js: RunJs, contract_server: ContractServer
) -> None:
    # the first heartbeat (phoenix.js's health check) is answered well within 300 ms
    obs = observe(run_js, contract_server, "longpoll_fallback", fallback_ms=300)
    assert obs["transport"] == "WebSocket"
    assert obs["stored"] == {}
    assert obs["echo"]["status"] == "ok"
    assert obs["clients"]["a"]["closes"] == []


# ------------------------------------------------------------------------------------------------
# one instance


def test_binary_pushes_over_longpoll(run_js: RunJs, contract_server: ContractServer) -> None:
    obs = observe(run_js, contract_server, "longpoll_binary_push", transport="longpoll")
    sent = [m for m in obs["sent"] if m["event"] in ("binary_echo", "crash")]
    assert [m["payload"] for m in sent] == [{"$binary": [0, 1, 2, 255]}] * 2
    # binary_echo's reply is binary, which LongPoll cannot carry (nor can Phoenix's): dropped
    assert obs["echo"]["status"] == "timeout"
    # the crash push arrived as a base64 line and reached its channel
    assert obs["channel_errors"] == [{"reason": "channel_crash"}]
    assert obs["socket_closes"] == 0


def test_longpoll_and_websocket_clients_in_one_room(
    run_js: RunJs, contract_server: ContractServer
) -> None:
    obs = observe(run_js, contract_server, "longpoll_mixed")
    assert obs["replies"] == [OK_EMPTY] * 3
    expected = [
        {"event": "shout", "payload": {"from": "longpoll"}},
        {"event": "shout", "payload": {"from": "websocket"}},
        {"event": "censored", "payload": {"text": "***", "from": "websocket"}},
    ]
    assert obs["a_events"] == expected
    assert obs["b_events"] == expected
    both = sorted([obs["user_a"], obs["user_b"]])
    assert (obs["list_a"], obs["list_b"]) == (both, both)
    assert (obs["a_closes"], obs["b_closes"]) == ([], [])


# ------------------------------------------------------------------------------------------------
# two instances, no sticky sessions


def test_a_two_instance_cluster_behind_alternating_requests(
    run_js: RunJs, alternating_cluster: AlternatingCluster
) -> None:
    nodes = alternating_cluster.nodes
    served_before = len(alternating_cluster.proxy.served)
    obs = observe(
        run_js,
        nodes[0],
        "longpoll_cluster",
        urls=[n.ws_url for n in nodes],
        http_urls=[n.http_url for n in nodes],
        proxy_url=alternating_cluster.ws_url,
        timeout=40_000,
    )
    topic = obs["topic"]
    assert obs["joins"] == [ok({"topic": topic, "user": obs["user_a"]}), obs["joins"][1]]
    assert obs["replies"][:12] == [OK_EMPTY] * 12
    assert obs["replies"][12] == ok({"unicode": "héllo ✓ 日本", "n": 1.5})
    assert obs["replies"][13] == OK_EMPTY
    # each sender's shouts arrive in order; two instances' broadcasts have no order between them
    for events in (obs["a_events"], obs["b_events"]):
        shouts = [e["payload"] for e in events if e["event"] == "shout"][:12]
        for sender in ("a", "b"):
            assert [p["n"] for p in shouts if p["from"] == sender] == list(range(6)), events
    assert [e for e in obs["a_events"] if e["event"] == "pushed"] == [
        {"event": "pushed", "payload": {"only": "a"}}
    ]
    # the session survived every alternation; only /api/disconnect ended it
    assert obs["closes_before_disconnect"] == 0
    assert obs["http"] == {"status": 200, "body": {"ok": True}}
    assert obs["a_closes"][0] == {"code": 3410, "reason": "session_gone"}
    assert obs["a_opens"] == 2
    assert obs["rejoin"] == ok({"topic": topic, "user": obs["user_a"]})
    assert obs["echo_after"] == ok({"back": True})
    assert obs["shout_after"] == OK_EMPTY
    assert obs["b_closes"] == []

    # polls and publishes reached both instances, each answered as if the session were local
    served = alternating_cluster.proxy.served[served_before:]
    polls = [(i, body["status"]) for method, i, body in served if method == "GET"]
    posts = [(i, body["status"]) for method, i, body in served if method == "POST"]
    assert {i for i, status in polls if status in (200, 204)} == {0, 1}, polls
    assert {i for i, status in posts if status == 200} == {0, 1}, posts
