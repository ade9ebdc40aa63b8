"""What crosses between nodes: registered msgspec structs, nothing else."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix_py import Broadcast, PubSub
from phoenix_py.presence import Presence
from phoenix_py.pubsub.codec import NodeCodec

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(topic=st.text(), event=st.text(), payload=json_values)
def test_broadcast_round_trips_with_presence_types_registered(
    topic: str, event: str, payload: object
) -> None:
    pubsub = PubSub()
    Presence(pubsub)  # registers the tracker's messages next to Broadcast
    data = pubsub.codec.encode("node-a", topic, Broadcast(topic, event, payload))
    assert pubsub.codec.decode(data) == ("node-a", topic, Broadcast(topic, event, payload))


def test_presence_messages_round_trip() -> None:
    pubsub = PubSub()
    presence = Presence(pubsub)
    tracker = presence.tracker
    tracker.track("owner", "room:1", "alice", {"name": "Alice"}, "ref1")
    from phoenix_py.presence.tracker import Heartbeat, Transfer

    for message in (
        Heartbeat(tracker.replica, "node-a", tracker.state.clock, tracker.state.cut_delta()),
        Transfer("node-a", tracker.state.snapshot()),
    ):
        assert pubsub.codec.decode(pubsub.codec.encode("n", "t", message))[2] == message


def test_unregistered_types_do_not_travel() -> None:
    class Secret(msgspec.Struct, tag=True, array_like=True):
        value: int

    codec = NodeCodec()
    with pytest.raises(TypeError, match="register"):
        codec.encode("n", "t", Secret(1))
    with pytest.raises(TypeError, match="register"):
        codec.encode("n", "t", {"a": "dict"})


def test_incompatible_type_is_refused_at_registration() -> None:
    class NotArrayLike(msgspec.Struct, tag=True):
        value: int

    with pytest.raises(TypeError):
        NodeCodec().register(NotArrayLike)


def test_junk_raises_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        NodeCodec().decode(b"\xff\x00junk")
