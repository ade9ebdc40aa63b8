"""The contract app as a cluster: instances sharing a real redis-server, driven by phoenix.js.

Every test runs contract app instances as subprocesses
(``python -m examples.contract --redis URL --presence-down-period 3``) on a fresh
redis-server (``tests/redis_server.py``), and clients of the official phoenix.js 1.8.16
(vsn 2.0.0, ``js/run.mjs`` ``cluster_*`` scenarios) connected to different instances.

Tests 1 to 6 share one three-instance cluster (each scenario uses its own topics and users).
The tests that stop an instance or Redis start their own cluster and act at the scenario's
checkpoints (``start_js``). redis-server missing is a failure, not a skip.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import CLUSTER_DOWN_PERIOD_S, ContractCluster

if TYPE_CHECKING:  # fixtures come from conftest.py; these names are only for annotations
    from .conftest import ClusterFactory, ContractServer, RunJs, StartJs

Obs = dict[str, Any]

DOWN_PERIOD_S = CLUSTER_DOWN_PERIOD_S  # --presence-down-period: 3 s (heartbeats every 0.75 s)
OK_EMPTY = {"status": "ok", "response": {}}


# ------------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def _shared_cluster() -> Iterator[ContractCluster]:
    cluster = ContractCluster(3, DOWN_PERIOD_S)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def cluster(_shared_cluster: ContractCluster) -> Iterator[ContractCluster]:
    """Three running instances on one Redis; fails the test that leaves one dead."""
    for node in _shared_cluster.nodes:
        if not node.alive():
            pytest.fail(f"{node.label} died in an earlier test:\n{node.log_since()}")
    _shared_cluster.mark_test_start()
    yield _shared_cluster
    dead = [node for node in _shared_cluster.nodes if not node.alive()]
    if dead:
        pytest.fail(f"died during this test: {[node.label for node in dead]}")


def cluster_options(nodes: list[ContractServer]) -> dict[str, object]:
    return {"urls": [n.ws_url for n in nodes], "http_urls": [n.http_url for n in nodes]}


def observe(run_js: RunJs, cluster: ContractCluster, scenario: str, **extra: object) -> Obs:
    obs = run_js(cluster.nodes[0], scenario, **cluster_options(cluster.nodes), **extra)
    check_obs(obs, scenario)
    return obs


def check_obs(obs: Obs, scenario: str) -> None:
    assert obs["scenario"] == scenario
    assert (obs["library_version"], obs["vsn"]) == ("1.8.16", "2.0.0")
    for name, client in obs["clients"].items():
        assert client["decode_errors"] == [], f"client {name}"
        for raw in client["raw"]:
            assert isinstance(raw, list) and len(raw) == 5, f"client {name}: V2 frame {raw}"


def ok(response: Any) -> Obs:
    return {"status": "ok", "response": response}


def broadcast_frame(topic: str, event: str, payload: Any) -> Obs:
    """A broadcast as the client decodes it: no join_ref, no ref."""
    return {"join_ref": None, "ref": None, "topic": topic, "event": event, "payload": payload}


def strip_refs(metas: list[Obs]) -> list[Obs]:
    """Metas without phx_ref / phx_ref_prev, after checking that phx_ref is a string."""
    stripped = []
    for meta in metas:
        assert isinstance(meta.get("phx_ref"), str) and meta["phx_ref"], meta
        stripped.append({k: v for k, v in meta.items() if k not in ("phx_ref", "phx_ref_prev")})
    return stripped


def plain_list(entries: list[Obs]) -> dict[str, list[Obs]]:
    """A phoenix.js Presence.list() snapshot as {key: metas without refs}."""
    return {e["key"]: strip_refs(e["metas"]) for e in entries}


def plain_presences(presences: dict[str, Any]) -> dict[str, list[Obs]]:
    return {key: strip_refs(value["metas"]) for key, value in presences.items()}


def key_history(frames: list[Obs], key: str) -> list[tuple[str, list[Obs]]]:
    """What presence_state / presence_diff frames said about ``key``, in order:
    ("state", metas), ("join", metas) and ("leave", metas), refs stripped."""
    history: list[tuple[str, list[Obs]]] = []
    for f in frames:
        if f["event"] == "presence_state":
            if key in f["payload"]:
                history.append(("state", strip_refs(f["payload"][key]["metas"])))
        else:
            assert f["event"] == "presence_diff", f
            assert (f["join_ref"], f["ref"]) == (None, None), f
            assert set(f["payload"]) == {"joins", "leaves"}, f
            if key in f["payload"]["joins"]:
                history.append(("join", strip_refs(f["payload"]["joins"][key]["metas"])))
            if key in f["payload"]["leaves"]:
                history.append(("leave", strip_refs(f["payload"]["leaves"][key]["metas"])))
    return history


# ------------------------------------------------------------------------------------------------
# 1-3: broadcasts cross instances


def test_shout_reaches_a_client_on_another_instance(
    run_js: RunJs, cluster: ContractCluster
) -> None:
    obs = observe(run_js, cluster, "cluster_shout")
    topic, payload = obs["topic"], obs["payload"]
    assert obs["join_a"] == ok({"topic": topic, "user": None})
    assert obs["join_b"] == ok({"topic": topic, "user": None})
    assert {k: obs["reply"][k] for k in ("status", "response")} == OK_EMPTY
    assert obs["a_events"] == [payload]  # the sender, on instance 0
    assert obs["b_events"] == [payload]  # instance 1, exactly once
    assert obs["b_frames"] == [broadcast_frame(topic, "shout", payload)]


def test_censor_is_intercepted_on_the_receiving_instance(
    run_js: RunJs, cluster: ContractCluster
) -> None:
    obs = observe(run_js, cluster, "cluster_censor")
    assert obs["replies"] == [OK_EMPTY, OK_EMPTY]
    expected = [
        {"text": "***", "from": "a", "n": 1},
        {"from": "a", "n": 2, "nested": {"text": "kept"}, "text": "***"},
    ]
    assert obs["a_events"] == expected
    assert obs["b_events"] == expected
    # intercepted, then pushed by b's channel on instance 1: so it carries b's join_ref
    assert obs["b_frames"] == [
        {**broadcast_frame(obs["topic"], "censored", p), "join_ref": obs["b_join_ref"]}
        for p in expected
    ]


def test_api_broadcast_on_one_instance_reaches_another(
    run_js: RunJs, cluster: ContractCluster
) -> None:
    obs = observe(run_js, cluster, "cluster_api_broadcast")
    payload = obs["payload"]
    assert obs["http"] == {"status": 200, "body": {"ok": True}}
    assert obs["a_events"] == [payload]
    assert obs["b_events"] == [payload]
    assert obs["b_frames"] == [broadcast_frame(obs["topic"], "news", payload)]


# ------------------------------------------------------------------------------------------------
# 4: forced disconnect across instances


def test_api_disconnect_on_one_instance_closes_sockets_on_every_instance(
    run_js: RunJs, cluster: ContractCluster
) -> None:
    obs = observe(run_js, cluster, "cluster_api_disconnect")
    topic, user, other = obs["topic"], obs["user"], obs["other"]
    assert obs["http"] == {"status": 200, "body": {"ok": True}}
    joined = ok({"topic": topic, "user": user})
    for name in ("a", "a2"):  # U on instance 0 (a) and on instance 1 (a2), where the POST went
        # exactly one close, 1001 "going away"; then phoenix.js reconnects and rejoins by itself
        assert [c["code"] for c in obs[f"{name}_closes"]] == [1001], name
        assert obs[f"{name}_opens"] == 2, name
        assert obs[f"{name}_join_replies"] == [joined, joined], name
    assert obs["a_echo"] == ok({"back": True, "instance": 0})
    assert obs["a2_echo"] == ok({"back": True, "instance": 1})
    assert obs["closed_ms"] < 2000
    # another user on instance 0 is untouched
    assert obs["c_closes"] == []
    assert obs["c_opens"] == 1
    assert obs["c_join_replies"] == [ok({"topic": topic, "user": other})]
    assert obs["c_echo"] == ok({"untouched": True})


# ------------------------------------------------------------------------------------------------
# 5: presence across instances


def test_presence_across_instances(run_js: RunJs, cluster: ContractCluster) -> None:
    obs = observe(run_js, cluster, "cluster_presence", topic="presence:room")
    user_a, user_b = obs["user_a"], obs["user_b"]
    assert obs["topic"] == "presence:room"
    assert obs["join_a"] == OK_EMPTY
    assert obs["join_b"] == OK_EMPTY
    assert obs["update"] == OK_EMPTY
    assert obs["leave"] == OK_EMPTY

    alice, bob = {"name": "Alice"}, {"name": "Bob"}
    bob_away = {"name": "Bob", "status": "away"}
    # both phoenix.js Presence lists: keys are the users, one meta each with the name
    assert plain_list(obs["list_a_both"]) == {user_a: [alice], user_b: [bob]}
    assert plain_list(obs["list_b_both"]) == {user_a: [alice], user_b: [bob]}
    assert obs["converged_ms"] < 3000  # heartbeats every 0.75 s
    # b's update (instance 1) in a's list (instance 0): a new phx_ref naming the old one
    assert plain_list(obs["list_a_after_update"]) == {user_a: [alice], user_b: [bob_away]}
    assert plain_list(obs["list_b_after_update"]) == {user_a: [alice], user_b: [bob_away]}
    assert obs["update_ms"] < 3000
    [bob_before] = next(e["metas"] for e in obs["list_a_both"] if e["key"] == user_b)
    [bob_after] = next(e["metas"] for e in obs["list_a_after_update"] if e["key"] == user_b)
    assert bob_after["phx_ref"] != bob_before["phx_ref"]
    assert bob_after["phx_ref_prev"] == bob_before["phx_ref"]
    # a's leave (instance 0) in b's list (instance 1), for good
    assert plain_list(obs["list_b_after_leave"]) == {user_b: [bob_away]}
    assert plain_list(obs["list_b_later"]) == {user_b: [bob_away]}
    assert obs["leave_ms"] < 3000

    # on the wire: each remote user joined once, changed once, left once (no flapping)
    b_history = key_history(obs["b_presence_frames"], user_a)
    assert b_history in (
        [("state", [alice]), ("leave", [alice])],
        [("join", [alice]), ("leave", [alice])],
    )
    a_history = key_history(obs["a_presence_frames"], user_b)
    assert a_history[1:] == [("join", [bob_away]), ("leave", [bob])]
    assert a_history[0] in (("state", [bob]), ("join", [bob]))


# ------------------------------------------------------------------------------------------------
# 6: three instances


def test_three_instances_publisher_and_two_subscribers(
    run_js: RunJs, cluster: ContractCluster
) -> None:
    obs = observe(run_js, cluster, "cluster_fanout", count=20)
    payloads = obs["payloads"]
    assert len(payloads) == 20
    assert obs["joins"] == [ok({"topic": obs["topic"], "user": None})] * 3
    assert obs["replies"] == [OK_EMPTY] * 20
    # every shout exactly once, in the order sent, on each of the three instances
    assert obs["p_events"] == payloads
    assert obs["s1_events"] == payloads
    assert obs["s2_events"] == payloads


# ------------------------------------------------------------------------------------------------
# 7: an instance goes away


def test_killed_instance_presences_leave_after_the_down_period(
    start_js: StartJs, cluster_factory: ClusterFactory
) -> None:
    cluster = cluster_factory(2)
    session = start_js(
        cluster.nodes[0],
        "cluster_presence_stop",
        topic="presence:room",
        timeout=40,
        **cluster_options(cluster.nodes),
    )
    session.checkpoint("tracked")
    victim = cluster.nodes[0]
    stopped_at_ms = victim.kill()  # SIGKILL: no goodbye
    session.resume(stopped_at_ms=stopped_at_ms)
    obs = session.result()
    check_obs(obs, "cluster_presence_stop")
    user_a, user_b = obs["user_a"], obs["user_b"]
    victim_meta, watcher_meta = {"name": "Victim"}, {"name": "Watcher"}
    assert plain_list(obs["list_b_before"]) == {user_a: [victim_meta], user_b: [watcher_meta]}

    # the killed node's presence is kept while it might come back, then leaves: at least
    # down_period minus one heartbeat period (0.75 s) after the kill, and well before 10 s
    gone = obs["gone_after_ms"]
    assert 2000 <= gone < 10_000, f"left {gone} ms after SIGKILL"
    assert [(e["key"], strip_refs(e["left_metas"])) for e in obs["leaves"]] == [
        (user_a, [victim_meta])
    ]
    assert obs["leaves"][0]["after_ms"] >= 2000
    assert obs["joins"] == []
    assert plain_list(obs["list_b_after"]) == {user_b: [watcher_meta]}
    assert plain_list(obs["list_b_later"]) == {user_b: [watcher_meta]}
    diffs = obs["b_presence_frames_after"]
    assert [
        (plain_presences(d["payload"]["joins"]), plain_presences(d["payload"]["leaves"]))
        for d in diffs
    ] == [({}, {user_a: [victim_meta]})]
    assert obs["b_closes"] == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cleanly_stopped_instance_presences_leave_at_once(
    start_js: StartJs, cluster_factory: ClusterFactory, sig: signal.Signals
) -> None:
    cluster = cluster_factory(2)
    session = start_js(
        cluster.nodes[0],
        "cluster_presence_stop",
        topic="presence:room",
        timeout=40,
        **cluster_options(cluster.nodes),
    )
    session.checkpoint("tracked")
    stopping = cluster.nodes[0]
    stopped_at_ms = stopping.send_signal(sig)
    session.resume(stopped_at_ms=stopped_at_ms)
    obs = session.result()
    check_obs(obs, "cluster_presence_stop")
    user_a, user_b = obs["user_a"], obs["user_b"]
    victim_meta, watcher_meta = {"name": "Victim"}, {"name": "Watcher"}
    assert obs["gone_after_ms"] < 2500, f"left {obs['gone_after_ms']} ms after {sig.name}"
    assert [(e["key"], strip_refs(e["left_metas"])) for e in obs["leaves"]] == [
        (user_a, [victim_meta])
    ]
    assert obs["joins"] == []
    assert plain_list(obs["list_b_after"]) == {user_b: [watcher_meta]}
    assert plain_list(obs["list_b_later"]) == {user_b: [watcher_meta]}
    assert obs["b_closes"] == []
    # a clean stop: the process exits by itself (uvicorn re-raises SIGTERM after shutting down)
    code = stopping.wait_exit(10)
    assert code in (0, -sig), f"exit code {code} after {sig.name}"


# ------------------------------------------------------------------------------------------------
# 8: Redis goes away and comes back


def test_instances_reconnect_after_a_redis_restart(
    start_js: StartJs, cluster_factory: ClusterFactory
) -> None:
    cluster = cluster_factory(2)
    session = start_js(
        cluster.nodes[0],
        "cluster_redis_restart",
        timeout=40,
        recover_ms=12_000,
        **cluster_options(cluster.nodes),
    )
    session.checkpoint("connected")
    redis_port = cluster.redis.port
    cluster.redis.stop()  # SIGKILL
    killed = time.monotonic()
    session.resume()
    outage = session.checkpoint("outage_checked")
    # during the outage b, on the other instance, heard only the shout from before it
    assert outage["b_events"] == [{"phase": "before", "seq": 0}]
    time.sleep(max(0.0, killed + 2.0 - time.monotonic()))
    cluster.redis.start()  # the same port: the instances find it again by themselves
    assert cluster.redis.port == redis_port
    session.resume(restarted_at_ms=time.time() * 1000)
    obs = session.result()
    check_obs(obs, "cluster_redis_restart")

    sent = obs["sent"]
    assert [r["status"] for r in obs["replies"]] == ["ok"] * len(sent)
    assert all(r["response"] == {} for r in obs["replies"])
    assert sent[0] == {"phase": "before", "seq": 0}
    assert sent[1] == {"phase": "outage", "seq": 1}
    assert sent[-1]["phase"] == "final"
    after = sent[2:-1]
    assert after and all(p["phase"] == "after" for p in after)
    # a, on the publishing instance, heard every shout: local delivery never stopped
    assert obs["a_events"] == sent
    # b heard the shout from before, none from the outage (dropped: at most once), and every
    # shout from some point after the restart on, in order and once each
    b_events = obs["b_events"]
    assert b_events[0] == sent[0]
    assert b_events[-1] == sent[-1]
    b_after = b_events[1:-1]
    assert b_after, "b heard no shout between the restart and the final one"
    assert b_after == after[len(after) - len(b_after) :]
    assert obs["recovered_after_ms"] < 10_000
    # the phoenix.js sockets never noticed: no close, no reconnect
    assert (obs["a_closes"], obs["b_closes"], obs["a_opens"], obs["b_opens"]) == ([], [], 1, 1)
    assert all(node.alive() for node in cluster.nodes)
