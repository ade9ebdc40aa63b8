"""The sans-I/O socket: frames in, actions out (PHOENIX_PROTOCOL.md §3.1-§3.12).

Each test feeds client frames (as phoenix.js writes them) to a ``SocketState``
and compares the actions with what Phoenix's transport process would do. Frames
the server writes are byte literals with a comment. Channel handles are plain
objects: only their identity matters to the state machine.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from phoenix_py._core.message import Message
from phoenix_py._core.serializer import (
    V1_JSON,
    V2_JSON,
    Frame,
    Serializer,
    client_decode,
    client_encode,
)
from phoenix_py._core.socket_state import (
    JOIN_CRASHED,
    Action,
    CloseSocket,
    Deliver,
    SendFrame,
    SocketState,
    StartJoin,
    StopChannel,
)
from phoenix_py._core.topics import Router

ROOM, LOBBY = "RoomChannel", "LobbyChannel"
ROUTER: Router[str] = Router([("room:*", ROOM), ("lobby", LOBBY)])


class Handle:
    """Stands in for the driver's handle on a running channel."""

    def __init__(self, name: str = "channel") -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<Handle {self.name}>"


def new_state(serializer: Serializer = V2_JSON, **options: Any) -> SocketState[Handle, str]:
    return SocketState(serializer, ROUTER, **options)


def sent(data: bytes) -> SendFrame:
    """The action that writes this text frame."""
    return SendFrame(Frame(data))


def start_of(actions: list[Action]) -> StartJoin[str]:
    starts = [action for action in actions if isinstance(action, StartJoin)]
    assert len(starts) == 1, actions
    return starts[0]


def join(
    state: SocketState[Handle, str], frame: str, handle: Handle | None, response: Any = None
) -> list[Action]:
    """Send a phx_join frame and finish it ok with ``handle`` (or error when it is None)."""
    start = start_of(state.receive(frame, binary=False))
    if handle is None:
        return state.join_finished(start, "error", response or {}, None)
    return state.join_finished(start, "ok", {} if response is None else response, handle)


def joined(state: SocketState[Handle, str], topic: str, join_ref: str) -> Handle:
    """A channel on ``topic`` joined with ``join_ref`` (which is also the join's ref)."""
    handle = Handle(topic)
    join(state, f'["{join_ref}","{join_ref}","{topic}","phx_join",{{}}]', handle)
    return handle


class TestSection3_11Heartbeat:
    def test_reply_with_no_channel_joined(self) -> None:
        state = new_state()
        # [null,"5","phoenix","heartbeat",{}]
        actions = state.receive('[null,"5","phoenix","heartbeat",{}]', binary=False)
        # [null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]
        assert actions == [sent(b'[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]')]

    def test_any_join_ref_is_answered_with_null(self) -> None:
        state = new_state()
        joined(state, "room:1", "1")
        # ["1","6","phoenix","heartbeat",{}]: a join_ref on a heartbeat is ignored
        actions = state.receive('["1","6","phoenix","heartbeat",{}]', binary=False)
        # [null,"6","phoenix","phx_reply",{"response":{},"status":"ok"}]
        assert actions == [sent(b'[null,"6","phoenix","phx_reply",{"response":{},"status":"ok"}]')]

    def test_other_events_on_phoenix_are_unmatched(self) -> None:
        state = new_state()
        # [null,"7","phoenix","ping",{}]
        actions = state.receive('[null,"7","phoenix","ping",{}]', binary=False)
        # [null,"7","phoenix","phx_reply",{"response":{"reason":"unmatched topic"},...}]
        assert actions == [
            sent(
                b'[null,"7","phoenix","phx_reply",'
                b'{"response":{"reason":"unmatched topic"},"status":"error"}]'
            )
        ]


class TestSection3_2Join:
    def test_join_starts_the_routed_channel(self) -> None:
        state = new_state()
        # ["1","1","room:1","phx_join",{"token":"x"}]
        actions = state.receive('["1","1","room:1","phx_join",{"token":"x"}]', binary=False)
        message = Message("room:1", "phx_join", {"token": "x"}, "1", "1")
        assert actions == [StartJoin(ROOM, message, "1")]
        assert state.joined_topics() == []  # not joined until join_finished

    def test_exact_route(self) -> None:
        state = new_state()
        actions = state.receive('["1","1","lobby","phx_join",{}]', binary=False)
        assert start_of(actions).target == LOBBY

    def test_join_ok_replies_and_records_the_channel(self) -> None:
        state = new_state()
        handle = Handle()
        start = start_of(state.receive('["3","4","room:1","phx_join",{}]', binary=False))
        actions = state.join_finished(start, "ok", {}, handle)
        # ["3","4","room:1","phx_reply",{"response":{},"status":"ok"}]
        assert actions == [sent(b'["3","4","room:1","phx_reply",{"response":{},"status":"ok"}]')]
        assert state.joined_topics() == ["room:1"]
        assert list(state.handles()) == [handle]

    def test_join_ok_with_a_reply(self) -> None:
        state = new_state()
        actions = join(state, '["1","1","room:1","phx_join",{}]', Handle(), {"user": 7})
        # ["1","1","room:1","phx_reply",{"response":{"user":7},"status":"ok"}]
        assert actions == [
            sent(b'["1","1","room:1","phx_reply",{"response":{"user":7},"status":"ok"}]')
        ]

    def test_join_error_reply(self) -> None:
        state = new_state()
        actions = join(state, '["1","1","room:1","phx_join",{}]', None, {"reason": "unauthorized"})
        # ["1","1","room:1","phx_reply",{"response":{"reason":"unauthorized"},"status":"error"}]
        assert actions == [
            sent(
                b'["1","1","room:1","phx_reply",'
                b'{"response":{"reason":"unauthorized"},"status":"error"}]'
            )
        ]
        assert state.joined_topics() == []

    def test_join_crashed_reply(self) -> None:
        state = new_state()
        actions = join(state, '["1","1","room:1","phx_join",{}]', None, JOIN_CRASHED)
        # ["1","1","room:1","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]
        assert actions == [
            sent(
                b'["1","1","room:1","phx_reply",'
                b'{"response":{"reason":"join crashed"},"status":"error"}]'
            )
        ]
        assert state.joined_topics() == []

    def test_refused_topic_can_be_joined_again(self) -> None:
        state = new_state()
        join(state, '["1","1","room:1","phx_join",{}]', None, {"reason": "no"})
        # ["2","2","room:1","phx_join",{}]: phoenix.js retries with a new join_ref (§3.3)
        actions = state.receive('["2","2","room:1","phx_join",{}]', binary=False)
        assert start_of(actions).replaces is False
        assert len(actions) == 1


class TestSection3_4UnmatchedTopic:
    def test_join_of_an_unrouted_topic(self) -> None:
        state = new_state()
        # ["1","1","nope","phx_join",{}]
        actions = state.receive('["1","1","nope","phx_join",{}]', binary=False)
        # [null,"1","nope","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]
        assert actions == [
            sent(
                b'[null,"1","nope","phx_reply",'
                b'{"response":{"reason":"unmatched topic"},"status":"error"}]'
            )
        ]

    def test_exact_route_does_not_match_a_longer_topic(self) -> None:
        state = new_state()
        # ["1","2","lobby:1","phx_join",{}]
        actions = state.receive('["1","2","lobby:1","phx_join",{}]', binary=False)
        # [null,"2","lobby:1","phx_reply",{"response":{"reason":"unmatched topic"},...}]
        assert actions == [
            sent(
                b'[null,"2","lobby:1","phx_reply",'
                b'{"response":{"reason":"unmatched topic"},"status":"error"}]'
            )
        ]


class TestSection3_12PushToTopicNotJoined:
    def test_unmatched_topic_reply(self) -> None:
        state = new_state()
        # ["1","2","room:1","new_msg",{"body":"hi"}]
        actions = state.receive('["1","2","room:1","new_msg",{"body":"hi"}]', binary=False)
        # [null,"2","room:1","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]
        assert actions == [
            sent(
                b'[null,"2","room:1","phx_reply",'
                b'{"response":{"reason":"unmatched topic"},"status":"error"}]'
            )
        ]

    def test_push_racing_a_server_close(self) -> None:
        state = new_state()
        handle = joined(state, "room:1", "1")
        state.channel_exited(handle, crashed=False)
        # ["1","3","room:1","new_msg",{}]: sent before the client saw phx_close
        actions = state.receive('["1","3","room:1","new_msg",{}]', binary=False)
        # [null,"3","room:1","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]
        assert actions == [
            sent(
                b'[null,"3","room:1","phx_reply",'
                b'{"response":{"reason":"unmatched topic"},"status":"error"}]'
            )
        ]


class TestSection3_7Leave:
    def test_leave_of_a_topic_not_joined(self) -> None:
        state = new_state()
        # ["7","8","room:1","phx_leave",{}]
        actions = state.receive('["7","8","room:1","phx_leave",{}]', binary=False)
        # ["7","8","room:1","phx_reply",{"response":{},"status":"ok"}]: echoed, no phx_close
        assert actions == [sent(b'["7","8","room:1","phx_reply",{"response":{},"status":"ok"}]')]

    def test_leave_of_a_joined_topic_is_delivered(self) -> None:
        state = new_state()
        handle = joined(state, "room:1", "1")
        # ["1","2","room:1","phx_leave",{}]
        actions = state.receive('["1","2","room:1","phx_leave",{}]', binary=False)
        assert actions == [Deliver(handle, Message("room:1", "phx_leave", {}, "2", "1"))]
        # The channel replies by itself, then stops normally: phx_close follows (§3.7).
        # ["1","1","room:1","phx_close",{}]
        assert state.channel_exited(handle, crashed=False) == [
            sent(b'["1","1","room:1","phx_close",{}]')
        ]
        assert state.joined_topics() == []

    def test_leave_with_null_join_ref_is_delivered(self) -> None:
        state = new_state()
        handle = joined(state, "room:1", "1")
        # [null,"2","room:1","phx_leave",{}]
        actions = state.receive('[null,"2","room:1","phx_leave",{}]', binary=False)
        assert actions == [Deliver(handle, Message("room:1", "phx_leave", {}, "2", None))]

    def test_leave_with_stale_join_ref_is_ignored(self) -> None:
        state = new_state()
        joined(state, "room:1", "3")
        # ["1","4","room:1","phx_leave",{}]: the client raced a server close
        assert state.receive('["1","4","room:1","phx_leave",{}]', binary=False) == []


class TestSection3_8ServerStop:
    def test_normal_exit_sends_phx_close(self) -> None:
        state = new_state()
        handle = joined(state, "room:1", "1")
        # ["1","1","room:1","phx_close",{}]
        assert state.channel_exited(handle, crashed=False) == [
            sent(b'["1","1","room:1","phx_close",{}]')
        ]
        assert list(state.handles()) == []

    def test_exit_is_reported_once(self) -> None:
        state = new_state()
        handle = joined(state, "room:1", "1")
        state.channel_exited(handle, crashed=False)
        assert state.channel_exited(handle, crashed=False) == []
        assert state.channel_exited(handle, crashed=True) == []

    def test_exit_of_an_unknown_handle(self) -> None:
        state = new_state()
        joined(state, "room:1", "1")
        assert state.channel_exited(Handle(), crashed=True) == []
        assert state.joined_topics() == ["room:1"]


class TestSection3_9ChannelCrash:
    def test_crash_sends_phx_error(self) -> None:
        state = new_state()
        handle = joined(state, "room:1", "1")
        # ["1","1","room:1","phx_error",{"reason":"channel_crash"}]
        assert state.channel_exited(handle, crashed=True) == [
            sent(b'["1","1","room:1","phx_error",{"reason":"channel_crash"}]')
        ]
        assert state.joined_topics() == []


class TestSection3_6DuplicateJoin:
    def test_old_channel_stopped_then_new_join_started(self) -> None:
        state = new_state()
        old = joined(state, "room:1", "1")
        # ["3","3","room:1","phx_join",{}]
        actions = state.receive('["3","3","room:1","phx_join",{}]', binary=False)
        message = Message("room:1", "phx_join", {}, "3", "3")
        assert actions == [
            StopChannel(old, "duplicate_join"),
            StartJoin(ROOM, message, "3", replaced_join_ref="1", replaces=True),
        ]
        assert list(state.handles()) == []

    def test_new_reply_then_phx_close_with_the_old_join_ref(self) -> None:
        state = new_state()
        old = joined(state, "room:1", "1")
        new = Handle("new")
        start = start_of(state.receive('["3","3","room:1","phx_join",{}]', binary=False))
        assert state.join_finished(start, "ok", {}, new) == [
            # ["3","3","room:1","phx_reply",{"response":{},"status":"ok"}]
            sent(b'["3","3","room:1","phx_reply",{"response":{},"status":"ok"}]'),
            # ["1","1","room:1","phx_close",{}]: phoenix.js drops it (stale join_ref)
            sent(b'["1","1","room:1","phx_close",{}]'),
        ]
        assert list(state.handles()) == [new]
        # The old channel was reported by StopChannel; its exit sends nothing.
        assert state.channel_exited(old, crashed=True) == []
        assert list(state.handles()) == [new]

    def test_failed_new_join_still_closes_the_old_join_ref(self) -> None:
        state = new_state()
        joined(state, "room:1", "1")
        actions = join(state, '["3","3","room:1","phx_join",{}]', None, {"reason": "no"})
        assert actions == [
            # ["3","3","room:1","phx_reply",{"response":{"reason":"no"},"status":"error"}]
            sent(b'["3","3","room:1","phx_reply",{"response":{"reason":"no"},"status":"error"}]'),
            # ["1","1","room:1","phx_close",{}]
            sent(b'["1","1","room:1","phx_close",{}]'),
        ]
        assert state.joined_topics() == []

    def test_duplicate_of_a_leaving_channel(self) -> None:
        state = new_state()
        old = joined(state, "room:1", "1")
        state.receive('["1","2","room:1","phx_leave",{}]', binary=False)
        actions = state.receive('["3","3","room:1","phx_join",{}]', binary=False)
        assert actions[0] == StopChannel(old, "duplicate_join")
        assert start_of(actions).replaced_join_ref == "1"

    def test_duplicate_join_is_allowed_at_the_channel_limit(self) -> None:
        state = new_state(max_channels=1)
        old = joined(state, "room:1", "1")
        actions = state.receive('["3","3","room:1","phx_join",{}]', binary=False)
        assert actions[0] == StopChannel(old, "duplicate_join")
        assert start_of(actions).replaces is True


class TestSection3_10StaleJoinRef:
    def test_matching_join_ref_is_delivered(self) -> None:
        state = new_state()
        handle = joined(state, "room:1", "1")
        # ["1","5","room:1","new_msg",{"body":"hi"}]
        actions = state.receive('["1","5","room:1","new_msg",{"body":"hi"}]', binary=False)
        assert actions == [Deliver(handle, Message("room:1", "new_msg", {"body": "hi"}, "5", "1"))]

    def test_null_join_ref_is_delivered(self) -> None:
        state = new_state()
        handle = joined(state, "room:1", "1")
        # [null,"5","room:1","new_msg",{}]
        actions = state.receive('[null,"5","room:1","new_msg",{}]', binary=False)
        assert actions == [Deliver(handle, Message("room:1", "new_msg", {}, "5", None))]

    def test_stale_join_ref_is_dropped_silently(self) -> None:
        state = new_state()
        joined(state, "room:1", "3")
        # ["1","5","room:1","new_msg",{}]: join_ref of an earlier join
        assert state.receive('["1","5","room:1","new_msg",{}]', binary=False) == []
        assert state.joined_topics() == ["room:1"]

    def test_binary_push_is_delivered(self) -> None:
        state = new_state()
        handle = joined(state, "room:1", "1")
        # kind 0, sizes 1 1 6 3, "1" "2" "room:1" "img", payload 89 50 4e 47
        data = b"\x00\x01\x01\x06\x03" + b"1" + b"2" + b"room:1" + b"img" + b"\x89PNG"
        actions = state.receive(data, binary=True)
        assert actions == [Deliver(handle, Message("room:1", "img", b"\x89PNG", "2", "1"))]


class TestSection3_5MaxChannels:
    def test_join_beyond_the_limit_is_refused(self) -> None:
        state = new_state(max_channels=2)
        joined(state, "room:1", "1")
        joined(state, "room:2", "2")
        # ["3","3","room:3","phx_join",{}]
        actions = state.receive('["3","3","room:3","phx_join",{}]', binary=False)
        # ["3","3","room:3","phx_reply",{"response":{"reason":"too many channels joined"},...}]
        refusal = b'["3","3","room:3","phx_reply",'
        refusal += b'{"response":{"reason":"too many channels joined"},"status":"error"}]'
        assert actions == [SendFrame(Frame(refusal), limit="max_channels")]

    def test_leaving_channels_count(self) -> None:
        state = new_state(max_channels=1)
        joined(state, "room:1", "1")
        state.receive('["1","2","room:1","phx_leave",{}]', binary=False)
        actions = state.receive('["3","3","room:3","phx_join",{}]', binary=False)
        assert not any(isinstance(action, StartJoin) for action in actions)

    def test_an_exited_channel_frees_its_slot(self) -> None:
        state = new_state(max_channels=1)
        handle = joined(state, "room:1", "1")
        state.channel_exited(handle, crashed=False)
        actions = state.receive('["3","3","room:3","phx_join",{}]', binary=False)
        assert start_of(actions).message.topic == "room:3"

    def test_unmatched_topic_is_answered_before_the_limit(self) -> None:
        state = new_state(max_channels=1)
        joined(state, "room:1", "1")
        actions = state.receive('["3","3","nope","phx_join",{}]', binary=False)
        # [null,"3","nope","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]
        assert actions == [
            sent(
                b'[null,"3","nope","phx_reply",'
                b'{"response":{"reason":"unmatched topic"},"status":"error"}]'
            )
        ]


class TestSection1_8FrameLimits:
    def test_oversized_frame_closes_with_1009(self) -> None:
        state = new_state(max_frame_size=40)
        handle = joined(state, "room:1", "1")
        frame = '["1","2","room:1","new_msg",{"body":"xxxxx"}]'  # 45 characters
        actions = state.receive(frame, binary=False)
        assert [type(action) for action in actions] == [CloseSocket, StopChannel]
        assert actions[0].code == 1009  # type: ignore[union-attr]
        assert actions[1] == StopChannel(handle, "closed")
        assert state.closed

    def test_oversized_binary_frame_closes_with_1009(self) -> None:
        state = new_state(max_frame_size=8)
        actions = state.receive(b"\x00\x00\x00\x01\x01te" + b"xx", binary=True)
        assert [action.code for action in actions] == [1009]  # type: ignore[union-attr]

    def test_frame_at_the_limit_is_accepted(self) -> None:
        frame = '[null,"5","phoenix","heartbeat",{}]'
        state = new_state(max_frame_size=len(frame))
        assert len(state.receive(frame, binary=False)) == 1
        assert not state.closed

    def test_malformed_frame_closes_with_1011_and_stops_every_channel(self) -> None:
        state = new_state()
        first = joined(state, "room:1", "1")
        second = joined(state, "room:2", "2")
        # ["1","2","room:1"]: too short for V2
        actions = state.receive('["1","2","room:1"]', binary=False)
        assert [type(action) for action in actions] == [CloseSocket, StopChannel, StopChannel]
        assert actions[0].code == 1011  # type: ignore[union-attr]
        assert actions[1:] == [StopChannel(first, "closed"), StopChannel(second, "closed")]
        assert list(state.handles()) == []

    def test_nothing_after_close(self) -> None:
        state = new_state()
        handle = joined(state, "room:1", "1")
        state.receive("not json", binary=False)
        assert state.receive('[null,"5","phoenix","heartbeat",{}]', binary=False) == []
        assert state.channel_exited(handle, crashed=True) == []
        assert state.close(1000, "again") == []

    @pytest.mark.parametrize(
        "message",
        [
            Message("phoenix", "heartbeat", {}, "6"),
            Message("room:2", "phx_join", {}, "7", "7"),
        ],
        ids=["heartbeat", "join"],
    )
    def test_handle_message_after_close(self, message: Message) -> None:
        state = new_state()
        state.close(1000, "bye")
        assert state.handle_message(message) == []

    def test_join_finishing_after_close_stops_the_new_channel(self) -> None:
        state = new_state()
        existing = joined(state, "room:1", "1")
        start = start_of(state.receive('["2","2","room:2","phx_join",{}]', binary=False))
        # The server closes (disconnect, drain) while the join runs.
        actions = state.close(1001, "disconnected")
        assert actions == [CloseSocket(1001, "disconnected"), StopChannel(existing, "closed")]
        late = Handle("late")
        assert state.join_finished(start, "ok", {}, late) == [StopChannel(late, "closed")]
        assert state.join_finished(start, "error", {}, None) == []

    def test_binary_frame_on_a_v1_socket_closes_with_1011(self) -> None:
        state = new_state(V1_JSON)
        actions = state.receive(b"\x00\x00\x00\x01\x01te", binary=True)
        assert [action.code for action in actions] == [1011]  # type: ignore[union-attr]

    def test_stop_all_when_the_connection_is_gone(self) -> None:
        state = new_state()
        first = joined(state, "room:1", "1")
        second = joined(state, "room:2", "2")
        assert state.stop_all("closed") == [
            StopChannel(first, "closed"),
            StopChannel(second, "closed"),
        ]
        assert state.closed
        assert state.stop_all("closed") == []


class TestSection3_2V1JoinRef:
    """V1 clients send no join_ref: the channel's join_ref is the join's ref (§3.2)."""

    JOIN = '{"topic":"room:1","event":"phx_join","payload":{},"ref":"1"}'

    def test_start_join_uses_the_ref(self) -> None:
        state = new_state(V1_JSON)
        start = start_of(state.receive(self.JOIN, binary=False))
        assert start.join_ref == "1"
        assert start.message.join_ref is None

    def test_join_reply(self) -> None:
        state = new_state(V1_JSON)
        actions = join(state, self.JOIN, Handle())
        # {"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"room:1"}
        assert actions == [
            sent(
                b'{"event":"phx_reply","payload":{"response":{},"status":"ok"},'
                b'"ref":"1","topic":"room:1"}'
            )
        ]

    def test_messages_without_join_ref_are_delivered(self) -> None:
        state = new_state(V1_JSON)
        handle = Handle()
        join(state, self.JOIN, handle)
        # {"topic":"room:1","event":"new_msg","payload":{},"ref":"2"}
        frame = '{"topic":"room:1","event":"new_msg","payload":{},"ref":"2"}'
        assert state.receive(frame, binary=False) == [
            Deliver(handle, Message("room:1", "new_msg", {}, "2", None))
        ]

    def test_phx_close_carries_the_message_join_ref(self) -> None:
        state = new_state(V1_JSON)
        handle = Handle()
        join(state, self.JOIN, handle)
        # {"event":"phx_close","payload":{},"ref":null,"topic":"room:1"}: stored join_ref null
        assert state.channel_exited(handle, crashed=False) == [
            sent(b'{"event":"phx_close","payload":{},"ref":null,"topic":"room:1"}')
        ]

    def test_phx_error_carries_the_message_join_ref(self) -> None:
        state = new_state(V1_JSON)
        handle = Handle()
        join(state, self.JOIN, handle)
        # {"event":"phx_error","payload":{"reason":"channel_crash"},"ref":null,"topic":"room:1"}
        assert state.channel_exited(handle, crashed=True) == [
            sent(
                b'{"event":"phx_error","payload":{"reason":"channel_crash"},'
                b'"ref":null,"topic":"room:1"}'
            )
        ]


# Property: any sequence of client frames and driver outcomes


SAME = "same-as-ref"
small_refs = st.integers(min_value=1, max_value=9).map(str)


class SocketMachine(RuleBasedStateMachine):
    """Drives ``SocketState`` the way ``_socket_server`` does: one join at a time,
    with channel exits and server closes arriving at any moment.

    The model keeps the set of live handles: handed out by ``join_finished`` and
    not yet reported by ``StopChannel`` or ``channel_exited``.
    """

    vsn = "2.0.0"
    serializer: Serializer = V2_JSON

    def __init__(self) -> None:
        super().__init__()
        self.state: SocketState[Handle, str] = SocketState(
            self.serializer, ROUTER, max_channels=2, max_frame_size=120
        )
        self.pending: StartJoin[str] | None = None
        self.issued: list[Handle] = []
        self.live: dict[int, Handle] = {}
        self.close_seen = False

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, StopChannel):
                assert self.live.pop(id(action.handle), None) is action.handle, action
                continue
            assert not self.close_seen, f"{action} after CloseSocket"
            if isinstance(action, CloseSocket):
                self.close_seen = True
            elif isinstance(action, SendFrame):
                message = client_decode(action.frame, vsn=self.vsn)
                assert isinstance(message.topic, str)
            elif isinstance(action, Deliver):
                assert id(action.handle) in self.live, action
            elif isinstance(action, StartJoin):
                assert self.pending is None
                self.pending = action
            else:  # pragma: no cover
                raise AssertionError(f"unknown action {action!r}")

    @precondition(lambda self: self.pending is None)
    @rule(
        kind=st.sampled_from(["message"] * 8 + ["junk", "oversized"]),
        topic=st.sampled_from(["room:1", "room:2", "room:3", "lobby", "nope", "phoenix"]),
        event=st.sampled_from(["phx_join", "phx_join", "phx_leave", "new_msg", "heartbeat"]),
        ref=small_refs,
        join_ref=st.none() | small_refs | st.just(SAME),
        junk=st.binary(max_size=20) | st.text(max_size=20),
        binary=st.booleans(),
    )
    def client_frame(
        self,
        kind: str,
        topic: str,
        event: str,
        ref: str,
        join_ref: str | None,
        junk: bytes | str,
        binary: bool,
    ) -> None:
        """Mostly well-formed messages; now and then junk or a frame over the size limit."""
        if kind == "junk":
            self.apply(self.state.receive(junk, binary=binary))
            return
        if kind == "oversized":
            actions = self.state.receive("x" * 121, binary=False)
            assert actions == [] or isinstance(actions[0], CloseSocket)
            self.apply(actions)
            return
        if join_ref == SAME:
            join_ref = ref
        frame = client_encode(Message(topic, event, {}, ref, join_ref), vsn=self.vsn)
        self.apply(self.state.receive(frame.text, binary=False))

    @precondition(lambda self: self.pending is not None)
    @rule(outcome=st.sampled_from(["ok", "ok", "error", "crash"]))
    def finish_join(self, outcome: str) -> None:
        start, self.pending = self.pending, None
        assert start is not None
        if outcome == "ok":
            handle = Handle(start.message.topic)
            self.issued.append(handle)
            self.live[id(handle)] = handle
            actions = self.state.join_finished(start, "ok", {}, handle)
        else:
            response = {"reason": "no"} if outcome == "error" else JOIN_CRASHED
            actions = self.state.join_finished(start, "error", response, None)
        if not self.state.closed:
            first = actions[0]
            assert isinstance(first, SendFrame)
            reply = client_decode(first.frame, vsn=self.vsn)
            assert (reply.event, reply.ref) == ("phx_reply", start.message.ref)
        self.apply(actions)

    @rule(
        kind=st.sampled_from(["exit"] * 4 + ["close"]),
        data=st.data(),
        crashed=st.booleans(),
        code=st.sampled_from([1000, 1001]),
    )
    def driver_event(self, kind: str, data: st.DataObject, crashed: bool, code: int) -> None:
        """A channel stops by itself (any handle ever issued), or the server closes."""
        if kind == "close":
            self.apply(self.state.close(code, "bye"))
            return
        if not self.issued:
            return
        handle = data.draw(st.sampled_from(self.issued))
        was_live = id(handle) in self.live
        actions = self.state.channel_exited(handle, crashed=crashed)
        if was_live:
            assert len(actions) == 1 and isinstance(actions[0], SendFrame), actions
            event = client_decode(actions[0].frame, vsn=self.vsn).event
            assert event == ("phx_error" if crashed else "phx_close")
            del self.live[id(handle)]
        else:
            assert actions == []
        self.apply(actions)

    @invariant()
    def live_handles_are_the_joined_channels(self) -> None:
        assert {id(handle) for handle in self.state.handles()} == set(self.live)
        assert len(self.state.joined_topics()) == len(self.live) <= 2

    def teardown(self) -> None:
        self.apply(self.state.stop_all("closed"))
        if self.pending is not None:  # a join still running when the connection went away
            handle = Handle("late")
            self.issued.append(handle)
            self.live[id(handle)] = handle
            self.apply(self.state.join_finished(self.pending, "ok", {}, handle))
        assert self.live == {}, f"leaked channels: {list(self.live.values())}"


class V1SocketMachine(SocketMachine):
    vsn = "1.0.0"
    serializer = V1_JSON


TestSocketStateNeverLeaksV2 = SocketMachine.TestCase
TestSocketStateNeverLeaksV1 = V1SocketMachine.TestCase


def test_deeply_nested_frame_closes_with_1011() -> None:
    state = new_state()
    actions = state.receive("[" * 1000 + "]" * 1000, binary=False)
    assert [action.code for action in actions] == [1011]  # type: ignore[union-attr]
