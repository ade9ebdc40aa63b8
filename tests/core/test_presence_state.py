"""Presence entries and their wire diffs (PHOENIX_PROTOCOL.md §5.1-§5.2).

The diffs are compared with the ``presence_diff`` payloads Phoenix sends, and
one property checks that a phoenix.js client applying every diff (``syncDiff``,
§5.4) ends up with what ``list`` returns.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from phoenix_py._core.message import Broadcast, Message
from phoenix_py._core.presence_state import PresenceState, empty_diff
from phoenix_py._core.serializer import V2_JSON

ROOM = "room:1"


class TestSection5_1Track:
    def test_track_diff_has_the_meta_with_phx_ref(self) -> None:
        state = PresenceState()
        diff = state.track(ROOM, "chan-1", "u1", {"name": "u1"}, "A")
        assert diff == {"joins": {"u1": {"metas": [{"name": "u1", "phx_ref": "A"}]}}, "leaves": {}}

    def test_track_diff_on_the_wire(self) -> None:
        state = PresenceState()
        diff = state.track(ROOM, "chan-1", "u1", {"name": "u1"}, "A")
        frame = V2_JSON.fastlane(Broadcast(ROOM, "presence_diff", diff))
        # [null,null,"room:1","presence_diff",
        #  {"joins":{"u1":{"metas":[{"name":"u1","phx_ref":"A"}]}},"leaves":{}}]
        assert frame.data == (
            b'[null,null,"room:1","presence_diff",'
            b'{"joins":{"u1":{"metas":[{"name":"u1","phx_ref":"A"}]}},"leaves":{}}]'
        )

    def test_tracking_twice_is_refused(self) -> None:
        state = PresenceState()
        state.track(ROOM, "chan-1", "u1", {}, "A")
        assert state.track(ROOM, "chan-1", "u1", {}, "B") is None  # {:error, :already_tracked}
        assert state.list(ROOM) == {"u1": {"metas": [{"phx_ref": "A"}]}}

    def test_same_key_from_another_owner_or_topic_is_a_new_entry(self) -> None:
        state = PresenceState()
        state.track(ROOM, "chan-1", "u1", {}, "A")
        assert state.track(ROOM, "chan-2", "u1", {}, "B") is not None
        assert state.track("room:2", "chan-1", "u1", {}, "C") is not None

    def test_the_caller_meta_is_not_changed(self) -> None:
        state = PresenceState()
        meta = {"name": "u1"}
        state.track(ROOM, "chan-1", "u1", meta, "A")
        assert meta == {"name": "u1"}


class TestSection5_1List:
    def test_empty_topic(self) -> None:
        assert PresenceState().list(ROOM) == {}

    def test_metas_grouped_by_key_in_tracking_order(self) -> None:
        state = PresenceState()
        state.track(ROOM, "chan-1", "u1", {"device": "phone"}, "A")
        state.track(ROOM, "chan-2", "u2", {"device": "laptop"}, "B")
        state.track(ROOM, "chan-3", "u1", {"device": "laptop"}, "C")
        state.track("room:2", "chan-4", "u1", {"device": "tv"}, "D")
        assert state.list(ROOM) == {
            "u1": {
                "metas": [
                    {"device": "phone", "phx_ref": "A"},
                    {"device": "laptop", "phx_ref": "C"},
                ]
            },
            "u2": {"metas": [{"device": "laptop", "phx_ref": "B"}]},
        }
        assert state.list("room:2") == {"u1": {"metas": [{"device": "tv", "phx_ref": "D"}]}}

    def test_presence_state_on_the_wire(self) -> None:
        state = PresenceState()
        state.track(ROOM, "chan-1", "u1", {"name": "u1"}, "A")
        frame = V2_JSON.encode_push(Message(ROOM, "presence_state", state.list(ROOM), None, "1"))
        # ["1",null,"room:1","presence_state",{"u1":{"metas":[{"name":"u1","phx_ref":"A"}]}}]
        assert frame.data == (
            b'["1",null,"room:1","presence_state",{"u1":{"metas":[{"name":"u1","phx_ref":"A"}]}}]'
        )


class TestSection5_2Update:
    def test_update_diff_is_the_section_5_1_example(self) -> None:
        state = PresenceState()
        state.track(ROOM, "chan-1", "u2", {"name": "old"}, "A")
        diff = state.update(ROOM, "chan-1", "u2", {"name": "new"}, "B")
        frame = V2_JSON.fastlane(Broadcast(ROOM, "presence_diff", diff))
        # {"joins":{"u2":{"metas":[{"name":"new","phx_ref":"B","phx_ref_prev":"A"}]}},
        #  "leaves":{"u2":{"metas":[{"name":"old","phx_ref":"A"}]}}}
        assert frame.data == (
            b'[null,null,"room:1","presence_diff",'
            b'{"joins":{"u2":{"metas":[{"name":"new","phx_ref":"B","phx_ref_prev":"A"}]}},'
            b'"leaves":{"u2":{"metas":[{"name":"old","phx_ref":"A"}]}}}]'
        )

    def test_update_replaces_the_meta_in_list(self) -> None:
        state = PresenceState()
        state.track(ROOM, "chan-1", "u1", {"status": "away"}, "A")
        state.track(ROOM, "chan-2", "u1", {"status": "here"}, "B")
        state.update(ROOM, "chan-1", "u1", {"status": "busy"}, "C")
        assert state.list(ROOM) == {
            "u1": {
                "metas": [
                    {"status": "busy", "phx_ref": "C", "phx_ref_prev": "A"},
                    {"status": "here", "phx_ref": "B"},
                ]
            }
        }

    def test_phx_ref_prev_is_the_previous_update(self) -> None:
        state = PresenceState()
        state.track(ROOM, "chan-1", "u1", {}, "A")
        state.update(ROOM, "chan-1", "u1", {}, "B")
        diff = state.update(ROOM, "chan-1", "u1", {"n": 2}, "C")
        assert diff == {
            "joins": {"u1": {"metas": [{"n": 2, "phx_ref": "C", "phx_ref_prev": "B"}]}},
            "leaves": {"u1": {"metas": [{"phx_ref": "B", "phx_ref_prev": "A"}]}},
        }

    def test_update_of_an_absent_presence(self) -> None:
        state = PresenceState()
        assert state.update(ROOM, "chan-1", "u1", {}, "A") is None  # {:error, :nopresence}
        state.track(ROOM, "chan-1", "u1", {}, "A")
        assert state.update(ROOM, "chan-2", "u1", {}, "B") is None
        assert state.update(ROOM, "chan-1", "u2", {}, "B") is None
        assert state.update("room:2", "chan-1", "u1", {}, "B") is None


class TestSection5_2Untrack:
    def test_untrack_diff_leaves_with_the_same_phx_ref(self) -> None:
        state = PresenceState()
        state.track(ROOM, "chan-1", "u1", {"name": "u1"}, "A")
        diff = state.untrack(ROOM, "chan-1", "u1")
        assert diff == {"joins": {}, "leaves": {"u1": {"metas": [{"name": "u1", "phx_ref": "A"}]}}}
        assert state.list(ROOM) == {}

    def test_untrack_keeps_other_metas_of_the_key(self) -> None:
        state = PresenceState()
        state.track(ROOM, "chan-1", "u1", {}, "A")
        state.track(ROOM, "chan-2", "u1", {}, "B")
        state.untrack(ROOM, "chan-1", "u1")
        assert state.list(ROOM) == {"u1": {"metas": [{"phx_ref": "B"}]}}

    def test_untrack_of_an_absent_presence(self) -> None:
        state = PresenceState()
        assert state.untrack(ROOM, "chan-1", "u1") is None  # Phoenix answers :ok, no diff
        state.track(ROOM, "chan-1", "u1", {}, "A")
        assert state.untrack(ROOM, "chan-2", "u1") is None
        assert state.untrack(ROOM, "chan-1", "u1") is not None
        assert state.untrack(ROOM, "chan-1", "u1") is None

    def test_untrack_owner_gives_one_diff_per_topic(self) -> None:
        state = PresenceState()
        state.track(ROOM, "chan-1", "u1", {"d": 1}, "A")
        state.track(ROOM, "chan-1", "u2", {"d": 2}, "B")
        state.track(ROOM, "chan-2", "u1", {"d": 3}, "C")
        state.track("room:2", "chan-1", "u1", {"d": 4}, "D")
        diffs = state.untrack_owner("chan-1")
        assert diffs == {
            ROOM: {
                "joins": {},
                "leaves": {
                    "u1": {"metas": [{"d": 1, "phx_ref": "A"}]},
                    "u2": {"metas": [{"d": 2, "phx_ref": "B"}]},
                },
            },
            "room:2": {"joins": {}, "leaves": {"u1": {"metas": [{"d": 4, "phx_ref": "D"}]}}},
        }
        assert state.list(ROOM) == {"u1": {"metas": [{"d": 3, "phx_ref": "C"}]}}
        assert state.list("room:2") == {}

    def test_untrack_owner_that_tracks_nothing(self) -> None:
        state = PresenceState()
        state.track(ROOM, "chan-1", "u1", {}, "A")
        assert state.untrack_owner("chan-9") == {}
        assert state.list(ROOM) == {"u1": {"metas": [{"phx_ref": "A"}]}}

    def test_empty_diff(self) -> None:
        assert empty_diff() == {"joins": {}, "leaves": {}}
        assert empty_diff() is not empty_diff()


# Property: a phoenix.js client that applies every diff sees what list() returns.


def _sync_diff(state: dict[str, list[dict[str, Any]]], diff: dict[str, Any]) -> None:
    """phoenix.js ``Presence.syncDiff`` (§5.4), on plain lists of metas."""
    for key, presence in diff["joins"].items():
        joined = {meta["phx_ref"] for meta in presence["metas"]}
        kept = [meta for meta in state.get(key, []) if meta["phx_ref"] not in joined]
        state[key] = kept + list(presence["metas"])
    for key, presence in diff["leaves"].items():
        left = {meta["phx_ref"] for meta in presence["metas"]}
        metas = [meta for meta in state.get(key, []) if meta["phx_ref"] not in left]
        if metas:
            state[key] = metas
        else:
            state.pop(key, None)


operations = st.lists(
    st.tuples(
        st.sampled_from(["track", "update", "untrack", "untrack_owner"]),
        st.sampled_from(["chan-1", "chan-2", "chan-3"]),
        st.sampled_from(["u1", "u2"]),
        st.integers(0, 3),
    ),
    max_size=30,
)


@given(operations)
def test_client_applying_every_diff_matches_list(ops: list[tuple[str, str, str, int]]) -> None:
    state = PresenceState()
    client: dict[str, list[dict[str, Any]]] = {}
    for number, (op, owner, key, value) in enumerate(ops):
        ref = f"ref{number}"
        if op == "track":
            diff = state.track(ROOM, owner, key, {"v": value}, ref)
        elif op == "update":
            diff = state.update(ROOM, owner, key, {"v": value}, ref)
        elif op == "untrack":
            diff = state.untrack(ROOM, owner, key)
        else:
            diff = state.untrack_owner(owner).get(ROOM)
        if diff is not None:
            _sync_diff(client, diff)

    def by_ref(metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(metas, key=lambda meta: meta["phx_ref"])

    listed = state.list(ROOM)
    assert {key: by_ref(value["metas"]) for key, value in listed.items()} == {
        key: by_ref(metas) for key, metas in client.items()
    }
