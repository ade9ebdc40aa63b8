"""Message history and recovery on rejoin (CONTRACT.md, channel ``history:*``) with phoenix.js.

Each test runs a scenario of ``js/history.mjs`` (npm ``phoenix`` 1.8.16, vsn 2.0.0 unless said)
against contract app instances: the session's ``contract_server`` (in-memory history), a
two-instance cluster on a real redis-server shared by this module, or servers of its own
started with short timeouts (``--socket-timeout``, ``--history-ttl``). The subscribers use the
documented pattern (``history.mjs``, top): the join payload is a function that names the last
message seen, which phoenix.js calls again on every rejoin.

Topics are fresh, so a message's offset is its number ``n`` in the scenario, and the reference
of what was broadcast is another client that stayed connected the whole time.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    JS_DIR,
    ClusterFactory,
    ContractCluster,
    ContractServer,
    JsSession,
)

HISTORY_JS = JS_DIR / "history.mjs"
HISTORY_SIZE = 1000  # CONTRACT.md: the last 1,000 messages of a topic are kept

Obs = dict[str, Any]


# ------------------------------------------------------------------------------------------------
# fixtures and helpers


class HistoryServers(ClusterFactory):
    """Servers of one test: single instances with their own options, and clusters on a fresh
    redis-server whose instances get extra options. All stopped after the test; their output is
    attached to a failure (conftest's report hook knows ``ClusterFactory``)."""

    def __init__(self) -> None:
        super().__init__()
        self.singles: list[ContractServer] = []

    def single(self, *options: str) -> ContractServer:
        server = ContractServer(options, label=f"contract server {' '.join(options)}")
        self.singles.append(server)
        server.start()
        server.test_log_offset = server.log_size()
        return server

    def cluster(self, size: int, *options: str) -> ContractCluster:
        cluster = ContractCluster(size)
        for node in cluster.nodes:
            node.extra_args += options
        self.clusters.append(cluster)
        cluster.start()
        cluster.mark_test_start()
        return cluster

    def report_sections(self) -> list[tuple[str, str]]:
        sections = super().report_sections()
        for server in self.singles:
            output = server.log_since(server.test_log_offset)
            sections.append((f"{server.label} (port {server.port})", output or "(nothing)"))
        return sections

    def close(self) -> None:
        for server in self.singles:
            server.close()
        super().close()


@pytest.fixture
def servers() -> Iterator[HistoryServers]:
    factory = HistoryServers()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="module")
def _redis_pair() -> Iterator[ContractCluster]:
    cluster = ContractCluster(2)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def redis_pair(_redis_pair: ContractCluster) -> Iterator[ContractCluster]:
    """Two instances on one redis-server (default options); fails the test that kills one."""
    for node in _redis_pair.nodes:
        if not node.alive():
            pytest.fail(f"{node.label} died in an earlier test:\n{node.log_since()}")
    _redis_pair.mark_test_start()
    yield _redis_pair
    dead = [node.label for node in _redis_pair.nodes if not node.alive()]
    if dead:
        pytest.fail(f"died during this test: {dead}")


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> list[ContractServer]:
    """The instance(s) of a test run on both histories: in memory, or on Redis."""
    if request.param == "memory":
        return [request.getfixturevalue("contract_server")]
    return list(request.getfixturevalue("redis_pair").nodes)


class HistoryJs:
    """Starts ``history.mjs`` scenarios (:class:`JsSession`, killed after the test)."""

    def __init__(self) -> None:
        self.sessions: list[JsSession] = []

    def start(
        self,
        nodes: Sequence[ContractServer],
        scenario: str,
        *,
        timeout: float = 40,
        **extra: object,
    ) -> JsSession:
        node = shutil.which("node")
        assert node is not None, "node is not on PATH"
        args = [
            node,
            str(HISTORY_JS),
            "--scenario",
            scenario,
            "--timeout",
            str(int(timeout * 1000)),
        ]
        args += ["--urls", json.dumps([n.ws_url for n in nodes])]
        args += ["--http-urls", json.dumps([n.http_url for n in nodes])]
        for key, value in extra.items():
            args += [
                f"--{key.replace('_', '-')}",
                value if isinstance(value, str) else json.dumps(value),
            ]
        session = JsSession(args, f"history.mjs scenario {scenario!r}", timeout + 5)
        self.sessions.append(session)
        return session

    def run(
        self,
        nodes: Sequence[ContractServer],
        scenario: str,
        *,
        timeout: float = 40,
        **extra: object,
    ) -> Obs:
        obs = self.start(nodes, scenario, timeout=timeout, **extra).result()
        assert (obs["scenario"], obs["library_version"]) == (scenario, "1.8.16")
        return obs


@pytest.fixture
def history_js(js_deps: Path) -> Iterator[HistoryJs]:
    runner = HistoryJs()
    yield runner
    for session in runner.sessions:
        session.close()


def ok(response: Any) -> Obs:
    return {"status": "ok", "response": response}


def refs(epoch: str, offsets: range | list[int]) -> list[str]:
    return [f"{offset}:{epoch}" for offset in offsets]


def check_recovery(obs: Obs) -> tuple[str, int]:
    """The ``away`` scenario: the subscriber a got every message exactly once, in order (the
    same as c, connected all along, and c got offsets 1, 2, ... with nothing missing), the 5
    first live, the ones from while it was away recovered on its rejoin, then the live ones.
    Returns the epoch and the offset a's rejoin named."""
    a, c = obs["a"], obs["c"]
    count, total = obs["count"], obs["live_total"]
    epoch = c["join_replies"][0]["response"]["epoch"]
    assert isinstance(epoch, str) and epoch
    # both joined a fresh topic with {}: offset 0
    assert a["join_replies"][0] == {**ok({"offset": 0, "epoch": epoch}), "received": 0}
    assert c["join_replies"] == [{**ok({"offset": 0, "epoch": epoch}), "received": 0}]

    expected = (
        [{"phase": "before", "n": n} for n in range(1, 6)]
        + [{"phase": "away", "n": n} for n in range(6, 6 + count)]
        + [{"phase": "live", "n": n} for n in range(6 + count, total + 1)]
    )
    assert [m["ref"] for m in c["received"]] == refs(epoch, range(1, total + 1))
    assert [m["payload"] for m in c["received"]] == expected
    # the live ones: those shouted while a rejoined, and 20 after its rejoin reply
    assert total - 5 - count == obs["live_before_rejoin"] + 20

    # a: everything, once each, in order; nothing while it was away
    assert obs["received_while_away"] == 5
    assert len(a["received"]) == total
    assert a["received"] == c["received"]

    # one rejoin, naming the last message a had seen, which recovered the rest
    [_first, rejoin] = a["join_replies"]
    seen = rejoin["received"]
    assert a["joins_sent"] == [{}, {"since": {"offset": seen, "epoch": epoch}}]
    assert rejoin["status"] == "ok"
    assert rejoin["response"] == {
        "recovered": True,
        "offset": rejoin["response"]["offset"],
        "epoch": epoch,
    }
    # the reply's offset is the topic's last when the history was read: every away message
    # was in by then, some live ones maybe too
    assert 5 + count <= rejoin["response"]["offset"] <= total
    return epoch, seen


def expected_probe(since: Obs, epoch: str, last: int, oldest_kept: int) -> tuple[Obs, list[int]]:
    """CONTRACT.md's answer to a join with ``since`` on a topic whose offsets run to ``last``
    and whose history holds ``oldest_kept`` to ``last``: the reply, and the offsets recovered."""
    offset = since["offset"]
    recovered = since["epoch"] == epoch and offset <= last and offset + 1 >= oldest_kept
    reply = ok({"recovered": recovered, "offset": last, "epoch": epoch})
    return reply, list(range(offset + 1, last + 1)) if recovered else []


def check_probes(obs: Obs, *, old: int, fresh: int, oldest_kept: Callable[[int], int]) -> None:
    """The ``probes`` scenario: each probe got exactly what the contract says (its recovered
    messages, in order, right after its reply), then the live shout made after it. Offsets
    and message numbers are the same; probe i ran when the topic's last offset was
    old + fresh + i (the probes before it each added a live shout); ``oldest_kept(last)``."""
    epoch = obs["epoch"]
    assert obs["join"] == {**ok({"offset": 0, "epoch": epoch}), "received": 0}
    assert obs["shout_replies"] == [ok({"offset": n}) for n in range(1, old + fresh + 1)]
    for i, probe in enumerate(obs["probes"]):
        last = old + fresh + i
        reply, offsets = expected_probe(probe["since"], epoch, last, oldest_kept(last))
        label = f"probe {i} since {probe['since']} (last {last})"
        assert {k: probe["reply"][k] for k in ("status", "response")} == reply, label
        assert probe["reply"]["received"] == 0, label  # nothing before the reply
        assert [m["ref"] for m in probe["recovered"]] == refs(epoch, offsets), label
        assert [m["payload"]["n"] for m in probe["recovered"]] == offsets, label
        assert probe["next"] == {
            "ref": f"{last + 1}:{epoch}",
            "payload": {"phase": "live", "n": last + 1},
        }
        assert probe["left"] == "ok", label


# ------------------------------------------------------------------------------------------------
# 1-3: a subscriber that was away gets all it missed, once, in order, then the live stream


@pytest.mark.parametrize(
    ("count", "live_before_rejoin"),
    [
        pytest.param(1000, 0, id="1000-away"),
        # live shouts race with the rejoin: those published between its subscribe and its
        # history read reach a both ways, and count once; 900 + 100 keeps within the 1,000 kept
        pytest.param(900, 100, id="live-while-rejoining"),
    ],
)
def test_recovers_after_a_server_side_disconnect(
    history_js: HistoryJs, contract_server: ContractServer, count: int, live_before_rejoin: int
) -> None:
    """POST /api/disconnect closes a's socket; while a cannot reconnect (offline), ``count``
    messages go out through POST /api/broadcast; then phoenix.js reconnects and rejoins."""
    obs = history_js.run(
        [contract_server],
        "away",
        away="disconnect",
        away_via="http",
        count=count,
        live_before_rejoin=live_before_rejoin,
    )
    _epoch, seen = check_recovery(obs)
    assert seen == 5
    assert obs["count"] == count
    assert obs["live_before_rejoin"] <= live_before_rejoin
    assert obs["disconnect_http"] == {"status": 200, "body": {"ok": True}}
    a = obs["a"]
    assert [c["code"] for c in a["closes"]] == [1001]
    assert a["opens"] == 2
    assert a["connects"] == [f"{contract_server.ws_url}/websocket?user={obs['user']}&vsn=2.0.0"] * 2
    assert obs["c"]["closes"] == []


def test_recovers_after_the_idle_timeout_closed_a_silent_client(
    history_js: HistoryJs, servers: HistoryServers
) -> None:
    """a stops sending (no heartbeats) and reading; 500 messages go out while the server still
    has its socket, then the server's 1 s idle timeout closes it and 500 more go out. When a
    reads again it gets what was written to it before the close, then the close, and phoenix.js
    reconnects and rejoins, naming the last message it read."""
    server = servers.single("--socket-timeout", "1")
    obs = history_js.run(
        [server], "away", away="silent", away_via="shout", heartbeat_ms=250, silent_ms=2500
    )
    _epoch, seen = check_recovery(obs)
    # some of the first 500 may have been read from the old connection, never the last 500
    assert 5 <= seen <= 505
    a = obs["a"]
    assert a["closes"] == [{"code": 1001, "reason": "idle timeout"}]
    assert a["opens"] == 2
    assert obs["silent_ms"] >= 2500
    # c heartbeated every 250 ms: the idle timeout left it alone
    assert obs["c"]["closes"] == []


@pytest.mark.parametrize(
    ("count", "live_before_rejoin"),
    [pytest.param(1000, 0, id="1000-away"), pytest.param(900, 100, id="live-while-rejoining")],
)
def test_recovers_on_another_instance(
    history_js: HistoryJs, redis_pair: ContractCluster, count: int, live_before_rejoin: int
) -> None:
    """a is on instance A when it is cut; ``count`` messages are shouted by c on instance B; a
    reconnects to B (phoenix.js's socket.endPoint changed meanwhile) and recovers there."""
    node_a, node_b = redis_pair.nodes
    obs = history_js.run(
        [node_a, node_b],
        "away",
        away="disconnect",
        away_via="shout",
        count=count,
        live_before_rejoin=live_before_rejoin,
        subscriber_node=0,
        shouter_node=1,
        reconnect_node=1,
    )
    _epoch, seen = check_recovery(obs)
    assert seen == 5
    assert obs["count"] == count
    a = obs["a"]
    query = f"?user={obs['user']}&vsn=2.0.0"
    assert a["connects"] == [
        f"{node_a.ws_url}/websocket{query}",
        f"{node_b.ws_url}/websocket{query}",
    ]
    assert [c["code"] for c in a["closes"]] == [1001]


# ------------------------------------------------------------------------------------------------
# 4: recovered false: expired, trimmed, Redis restarted


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_expired_messages_are_not_recovered(
    history_js: HistoryJs, servers: HistoryServers, store: str
) -> None:
    """--history-ttl 2.5: messages 1-3 are older than that when the probes join, 4-5 (and the
    live ones the probes hear) are not. A since that needs an expired message is not recovered;
    one that needs only kept ones is."""
    ttl = ["--history-ttl", "2.5"]
    nodes = [servers.single(*ttl)] if store == "memory" else servers.cluster(1, *ttl).nodes
    probes = [
        {"offset": 3, "epoch": "E"},  # needs 4, 5: kept
        {"offset": 2, "epoch": "E"},  # needs 3: expired
        {"offset": 0, "epoch": "E"},  # needs 1-3: expired
        {"offset": 7, "epoch": "E"},  # the last: nothing to send, recovered
    ]
    obs = history_js.run(nodes, "probes", old=3, fresh=2, wait_ms=2800, probes=probes)
    check_probes(obs, old=3, fresh=2, oldest_kept=lambda last: 4)
    recovered = [p["reply"]["response"]["recovered"] for p in obs["probes"]]
    assert recovered == [True, False, False, True]


def test_trimmed_messages_are_not_recovered(
    history_js: HistoryJs, backend: list[ContractServer]
) -> None:
    """1,001 messages: the history holds the last 1,000. Exactly 1,000 missed is recovered, one
    more is not."""
    probes = [
        {"offset": 1, "epoch": "E"},  # last 1001: 1,000 missed, all kept
        {"offset": 0, "epoch": "E"},  # last 1002: needs 1, trimmed
        {"offset": 2, "epoch": "E"},  # last 1003: needs 3, trimmed
        {"offset": 4, "epoch": "E"},  # last 1004: 1,000 missed again, all kept
    ]
    obs = history_js.run(backend[:1], "probes", old=1001, probes=probes)
    check_probes(obs, old=1001, fresh=0, oldest_kept=lambda last: last - HISTORY_SIZE + 1)
    recovered = [p["reply"]["response"]["recovered"] for p in obs["probes"]]
    assert recovered == [True, False, False, True]
    assert len(obs["probes"][0]["recovered"]) == HISTORY_SIZE


def test_a_redis_restart_starts_a_new_epoch(
    history_js: HistoryJs, cluster_factory: ClusterFactory
) -> None:
    """Redis restarts without persistence: the history is lost. A join naming the old epoch gets
    recovered false and the new epoch; offsets start again at 1; a subscriber joined throughout
    hears the new epoch's messages, and recovers in it after a disconnect."""
    cluster = cluster_factory(1)
    session = history_js.start(cluster.nodes, "redis_restart")
    old_epoch = session.checkpoint("shouted")["epoch"]
    cluster.redis.stop()  # SIGKILL; it saves nothing (--save "" --appendonly no)
    cluster.redis.start()  # the same port: the instance finds it again by itself
    session.resume()
    session.checkpoint("heard", timeout=30)
    session.resume()
    obs = session.result()
    assert obs["epoch"] == old_epoch

    # p's join names {3, old epoch}: refused while the history is unreachable (phoenix.js then
    # rejoins by itself), then ok, not recovered, in a new epoch at offset 0
    p = obs["p"]
    *refused, joined = p["join_replies"]
    assert all(r["status"] == "error" for r in refused), refused
    assert all(r["response"] == {"reason": "history unavailable"} for r in refused), refused
    assert joined["status"] == "ok"
    new_epoch = joined["response"]["epoch"]
    assert isinstance(new_epoch, str) and new_epoch and new_epoch != old_epoch
    assert joined["response"] == {"recovered": False, "offset": 0, "epoch": new_epoch}
    assert joined["received"] == 0

    # p's shouts numbered from 1 in the new epoch, then the final one; p heard its own from
    # some point on (those published before its instance subscribed again to Redis are lost:
    # live delivery is at most once)
    shouts = obs["shouts"]
    final = len(shouts) + 1
    assert [s["reply"] for s in shouts] == [ok({"offset": n}) for n in range(1, final)]
    assert obs["final_reply"] == ok({"offset": final})
    heard_by_p = [int(m["ref"].split(":")[0]) for m in p["received"]]
    assert heard_by_p == list(range(heard_by_p[0], final + 1)), p["received"]
    assert all(m["ref"].endswith(f":{new_epoch}") for m in p["received"])

    # s, joined all along: the 3 old messages, then new-epoch ones, like p; after its rejoin
    # (naming the last one it heard, in the new epoch: recovered), the final one
    s = obs["s"]
    assert [m["ref"] for m in s["received"][:3]] == refs(old_epoch, [1, 2, 3])
    heard = s["received"][3 : obs["s_heard_before_rejoin"]]
    offsets = [int(m["ref"].split(":")[0]) for m in heard]
    assert offsets == list(range(offsets[0], final)), heard
    assert all(m["ref"].endswith(f":{new_epoch}") for m in heard)
    [_first, rejoin] = s["join_replies"]
    assert s["joins_sent"] == [{}, {"since": {"offset": final - 1, "epoch": new_epoch}}]
    assert rejoin["response"] == {"recovered": True, "offset": final - 1, "epoch": new_epoch}
    assert s["received"][obs["s_heard_before_rejoin"] :] == [
        {"ref": f"{final}:{new_epoch}", "payload": {"phase": "final"}}
    ]


# ------------------------------------------------------------------------------------------------
# 5: malformed and unrecoverable since


MALFORMED_SINCE = [
    ("negative offset", {"since": {"offset": -1, "epoch": "E"}}),
    ("fractional offset", {"since": {"offset": 1.5, "epoch": "E"}}),
    ("string offset", {"since": {"offset": "1", "epoch": "E"}}),
    ("boolean offset", {"since": {"offset": True, "epoch": "E"}}),
    ("no offset", {"since": {"epoch": "E"}}),
    ("epoch a number", {"since": {"offset": 1, "epoch": 7}}),
    ("no epoch", {"since": {"offset": 1}}),
    ("since a string", {"since": "1:E"}),
    ("since a list", {"since": [1, "E"]}),
    ("since null", {"since": None}),
]
UNRECOVERABLE_SINCE = [
    ("offset beyond the last", {"since": {"offset": "LAST+1", "epoch": "E"}}),
    ("a huge offset", {"since": {"offset": 2**64, "epoch": "E"}}),  # beyond int64
    ("another topic's epoch", {"since": {"offset": 1, "epoch": "E2"}}),
    ("an empty epoch", {"since": {"offset": 1, "epoch": ""}}),
]
RECOVERABLE_SINCE = [("everything", {"since": {"offset": 0, "epoch": "E"}})]


def test_malformed_and_unrecoverable_since_disturb_nobody(
    history_js: HistoryJs, backend: list[ContractServer]
) -> None:
    """x tries each since on topic T, one after another, on a socket that also has a room and
    another history topic T2 joined; w, on T, shouts before each. A malformed since is refused
    with "invalid since"; a well-formed one that cannot be recovered joins, recovered false,
    with nothing replayed; w hears every shout, x's socket and other channels go on."""
    cases = [*MALFORMED_SINCE, *UNRECOVERABLE_SINCE, *RECOVERABLE_SINCE]
    obs = history_js.run(
        backend[:1], "bad_since", cases=[{"name": n, "payload": p} for n, p in cases]
    )
    epoch, epoch2 = obs["epoch"], obs["epoch2"]
    assert epoch != epoch2
    malformed = {name for name, _ in MALFORMED_SINCE}
    unrecoverable = {name for name, _ in UNRECOVERABLE_SINCE}
    results = obs["results"]
    assert [r["name"] for r in results] == [name for name, _ in cases]
    for i, result in enumerate(results):
        name = result["name"]
        last = 2 * i + 1 - sum(r["name"] in malformed for r in results[:i])  # w's shouts so far
        assert result["room_echo"] == ok({"after": name}), name
        if name in malformed:
            assert {k: result["reply"][k] for k in ("status", "response")} == {
                "status": "error",
                "response": {"reason": "invalid since"},
            }, name
            continue
        assert result["reply"]["status"] == "ok", name
        recovered = name not in unrecoverable
        assert result["reply"]["response"] == {
            "recovered": recovered,
            "offset": last,
            "epoch": epoch,
        }, name
        so_far = obs["w"]["received"][:last]
        assert so_far[-1]["payload"] == {"case": name, "n": last}  # w's shout before the case
        # recovered: everything after offset 0; otherwise nothing replayed; then the live one
        assert result["recovered"] == (so_far if recovered else []), name
        assert result["next"] == obs["w"]["received"][last], name
        assert result["next"]["ref"] == f"{last + 1}:{epoch}", name
        assert result["left"] == "ok", name

    # w heard every shout, in order, once: offsets 1, 2, ...
    w = obs["w"]
    assert [m["ref"] for m in w["received"]] == refs(epoch, range(1, obs["shouted"] + 1))
    assert [m["payload"]["n"] for m in w["received"]] == list(range(1, obs["shouted"] + 1))
    assert w["join_replies"] == [{**ok({"offset": 0, "epoch": epoch}), "received": 0}]
    # x's socket never closed; its room and its other history topic were not disturbed
    assert (obs["x_opens"], obs["x_closes"], obs["w_closes"]) == (1, [], [])
    assert obs["room_errors"] == []
    assert obs["t2_reply"] == ok({"offset": 1})
    assert obs["x2"]["received"] == [{"ref": f"1:{epoch2}", "payload": {"on": "T2"}}]
    assert obs["x2"]["errors"] == 0


# ------------------------------------------------------------------------------------------------
# the ref slot for a client that ignores it


PLAIN_PAYLOAD = {
    "text": "héllo ✓ 日本",
    "n": 42,
    "f": 1.5,
    "t": True,
    "nothing": None,
    "list": [1, "two", {"three": 3}],
    "nested": {"ref": "not this one", "offset": -1},
    "empty": {},
}


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
def test_a_client_that_ignores_the_ref_gets_the_payload_as_sent(
    history_js: HistoryJs, contract_server: ContractServer, vsn: str
) -> None:
    obs = history_js.run([contract_server], "plain", vsn=vsn, payload=PLAIN_PAYLOAD)
    topic, room = obs["topic"], obs["room"]
    epoch = obs["join"]["epoch"]
    assert obs["join"] == {"offset": 0, "epoch": epoch}
    assert obs["reply"] == ok({"offset": 1})
    assert obs["http"] == {"status": 200, "body": {"ok": True}}
    assert obs["room_reply"] == ok({})
    news = {**PLAIN_PAYLOAD, "via": "http"}
    assert obs["seen"] == {
        "shout": [PLAIN_PAYLOAD],
        "news": [news],
        "room": [{"payload": PLAIN_PAYLOAD, "ref": None}],  # no history: an empty ref slot
    }
    # on the wire: "<offset>:<epoch>" in the ref slot, nothing else changed
    expected = [
        (f"1:{epoch}", topic, "shout", PLAIN_PAYLOAD),
        (f"2:{epoch}", topic, "news", news),
        (None, room, "shout", PLAIN_PAYLOAD),
    ]
    if vsn == "2.0.0":
        assert obs["frames"] == [[None, ref, t, e, p] for ref, t, e, p in expected]
    else:
        assert obs["frames"] == [
            {"topic": t, "event": e, "payload": p, "ref": ref} for ref, t, e, p in expected
        ]
