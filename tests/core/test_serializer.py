"""Serializers, bytes in and frames out (PHOENIX_PROTOCOL.md §1.3, §2).

Expected frames are byte literals, each with a comment saying what it is. The
vectors of §2.3 and §2.4 are Phoenix's own (``v2_json_serializer_test.exs``).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode

from phoenix_py._core.message import Broadcast, Message, Reply
from phoenix_py._core.serializer import (
    V1_JSON,
    V2_JSON,
    Frame,
    client_decode,
    client_encode,
    serializer_for_vsn,
    websocket_frame,
)
from phoenix_py.errors import ProtocolError, UsageError

PAYLOAD = b"\x65\x66\x67"  # "efg", the payload of every §2.4 vector


def text(data: bytes) -> Frame:
    return Frame(data)


def binary(data: bytes) -> Frame:
    return Frame(data, binary=True)


# Strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
json_maps = st.dictionaries(st.text(), json_values, max_size=5)
refs = st.none() | st.text() | st.integers(min_value=-(2**63), max_value=2**63 - 1)


def _utf8_prefix(value: str, limit: int = 255) -> str:
    """The longest prefix of ``value`` that is at most ``limit`` bytes of UTF-8."""
    return value.encode()[:limit].decode("utf-8", "ignore")


# A header field of a binary frame: any text up to 255 bytes of UTF-8 (§2.4).
fields = st.text(max_size=255).map(_utf8_prefix)
field_refs = st.none() | fields


# §1.3 vsn negotiation


class TestSection1_3VsnNegotiation:
    @pytest.mark.parametrize(
        ("vsn", "expected"),
        [
            (None, V1_JSON),  # no vsn means 1.0.0
            ("1.0.0", V1_JSON),
            ("1.0.5", V1_JSON),  # ~> 1.0.0 takes any patch
            ("2.0.0", V2_JSON),  # what phoenix.js sends
            ("2.0.7", V2_JSON),
            ("2.0.0+build", V2_JSON),  # build metadata is ignored
            ("2.1.0", None),  # ~> 2.0.0 is < 2.1.0
            ("1.1.0", None),
            ("3.0.0", None),
            ("123.1.1", None),  # the vsn of Phoenix's own "does not match" test
            ("abc", None),
            ("2.0", None),
            ("", None),
            ("2.0.0-rc.1", None),  # a pre-release is below 2.0.0
            (5, None),  # a non-string vsn (1.8.6+ refuses it gracefully)
            (2.0, None),
            (["2.0.0"], None),
        ],
    )
    def test_serializer_for_vsn(self, vsn: object, expected: object) -> None:
        assert serializer_for_vsn(vsn) is expected

    def test_trailing_newline_is_not_a_version(self) -> None:
        assert serializer_for_vsn("2.0.0\n") is None

    def test_leading_zero_is_not_a_version(self) -> None:
        assert serializer_for_vsn("01.0.0") is None


# §2.2 V1 JSON


class TestSection2_2V1Json:
    def test_push_has_exactly_event_payload_ref_topic(self) -> None:
        frame = V1_JSON.encode_push(Message("room:1", "new_msg", {"body": "hi"}, None, "3"))
        # {"event":"new_msg","payload":{"body":"hi"},"ref":null,"topic":"room:1"}; no join_ref
        assert frame == text(
            b'{"event":"new_msg","payload":{"body":"hi"},"ref":null,"topic":"room:1"}'
        )
        assert list(msgspec.json.decode(frame.data)) == ["event", "payload", "ref", "topic"]

    def test_reply_payload_is_response_and_status(self) -> None:
        frame = V1_JSON.encode_reply(Reply("room:1", "ok", {}, "1", "1"))
        # {"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"room:1"}
        assert frame == text(
            b'{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"room:1"}'
        )

    def test_fastlane_has_no_ref(self) -> None:
        frame = V1_JSON.fastlane(Broadcast("room:1", "new_msg", {"body": "hi"}))
        # {"event":"new_msg","payload":{"body":"hi"},"ref":null,"topic":"room:1"}
        assert frame == text(
            b'{"event":"new_msg","payload":{"body":"hi"},"ref":null,"topic":"room:1"}'
        )

    @pytest.mark.parametrize("payload", [[1, 2], "text", 3, None])
    def test_any_json_payload_is_allowed(self, payload: Any) -> None:
        frame = V1_JSON.encode_push(Message("t", "e", payload))
        assert msgspec.json.decode(frame.data)["payload"] == payload
        assert V1_JSON.fastlane(Broadcast("t", "e", payload)).binary is False

    def test_binary_payload_needs_v2(self) -> None:
        with pytest.raises(UsageError, match="V2"):
            V1_JSON.encode_push(Message("t", "e", b"\x00"))
        with pytest.raises(UsageError, match="V2"):
            V1_JSON.fastlane(Broadcast("t", "e", b"\x00"))

    def test_decode_object(self) -> None:
        # {"topic":"room:1","event":"phx_join","payload":{},"ref":"1"}: a V1 join, no join_ref
        message = V1_JSON.decode(
            b'{"topic":"room:1","event":"phx_join","payload":{},"ref":"1"}', binary=False
        )
        assert message == Message("room:1", "phx_join", {}, "1", None)

    def test_decode_object_with_join_ref(self) -> None:
        message = V1_JSON.decode(
            '{"topic":"t","event":"e","payload":[1],"ref":2,"join_ref":"1"}', binary=False
        )
        assert message == Message("t", "e", [1], 2, "1")

    @pytest.mark.parametrize("missing", ["topic", "event", "payload", "ref"])
    def test_decode_missing_key(self, missing: str) -> None:
        value = {"topic": "t", "event": "e", "payload": {}, "ref": "1"}
        del value[missing]
        with pytest.raises(ProtocolError, match=missing):
            V1_JSON.decode(msgspec.json.encode(value), binary=False)

    def test_decode_array_raises(self) -> None:
        # [null,"1","t","e",{}]: a V2 frame sent to a V1 socket
        with pytest.raises(ProtocolError, match="expected an object"):
            V1_JSON.decode(b'[null,"1","t","e",{}]', binary=False)

    def test_decode_binary_frame_raises(self) -> None:
        with pytest.raises(ProtocolError, match="binary"):
            V1_JSON.decode(b"\x00\x00\x00\x01\x01te", binary=True)

    def test_decode_invalid_json_raises(self) -> None:
        with pytest.raises(ProtocolError, match="JSON"):
            V1_JSON.decode(b"{", binary=False)


# §2.3 V2 JSON


class TestSection2_3V2Json:
    def test_push_vector(self) -> None:
        frame = V2_JSON.encode_push(Message("t", "e", {"m": 1}))
        # [null,null,"t","e",{"m":1}]
        assert frame == text(b'[null,null,"t","e",{"m":1}]')

    def test_reply_vector_with_nil_status(self) -> None:
        frame = V2_JSON.encode_reply(Reply("t", None, {"m": 1}))  # type: ignore[arg-type]
        # [null,null,"t","phx_reply",{"response":{"m":1},"status":null}]
        assert frame == text(b'[null,null,"t","phx_reply",{"response":{"m":1},"status":null}]')

    def test_broadcast_vector(self) -> None:
        frame = V2_JSON.fastlane(Broadcast("t", "e", {"m": 1}))
        # [null,null,"t","e",{"m":1}]: fastlane frames carry no join_ref
        assert frame == text(b'[null,null,"t","e",{"m":1}]')

    def test_push_carries_join_ref(self) -> None:
        frame = V2_JSON.encode_push(Message("room:1", "new_msg", {"body": "hi"}, None, "3"))
        # ["3",null,"room:1","new_msg",{"body":"hi"}]
        assert frame == text(b'["3",null,"room:1","new_msg",{"body":"hi"}]')

    def test_reply_response_may_be_any_json(self) -> None:
        frame = V2_JSON.encode_reply(Reply("t", "ok", [1, "a"], "2", "1"))
        # ["1","2","t","phx_reply",{"response":[1,"a"],"status":"ok"}]
        assert frame == text(b'["1","2","t","phx_reply",{"response":[1,"a"],"status":"ok"}]')

    def test_decode_phoenix_js_push(self) -> None:
        # ["3","4","room:lobby","new_msg",{"body":"hi"}]: verified with JS816
        message = V2_JSON.decode('["3","4","room:lobby","new_msg",{"body":"hi"}]', binary=False)
        assert message == Message("room:lobby", "new_msg", {"body": "hi"}, "4", "3")

    def test_decode_phoenix_js_heartbeat(self) -> None:
        # [null,"5","phoenix","heartbeat",{}]
        message = V2_JSON.decode(b'[null,"5","phoenix","heartbeat",{}]', binary=False)
        assert message == Message("phoenix", "heartbeat", {}, "5", None)

    def test_decode_ignores_extra_elements(self) -> None:
        # ["1","2","t","e",{},"extra"]: "at least 5 elements"
        message = V2_JSON.decode(b'["1","2","t","e",{},"extra"]', binary=False)
        assert message == Message("t", "e", {}, "2", "1")

    def test_decode_integer_refs(self) -> None:
        message = V2_JSON.decode(b'[1,2,"t","e",{}]', binary=False)
        assert (message.join_ref, message.ref) == (1, 2)

    @pytest.mark.parametrize(
        "frame",
        [
            b'["1","2","t","e"]',  # four elements
            b"[]",
            b'{"topic":"t"}',  # a V1 object
            b'"text"',
            b"null",
            b'[null,null,1,"e",{}]',  # topic not a string
            b'[null,null,"t",null,{}]',  # event not a string
            b'[null,true,"t","e",{}]',  # ref a boolean
            b'[{},null,"t","e",{}]',  # join_ref an object
            b'[null,1.5,"t","e",{}]',  # ref a float
            b"[null,null,",  # truncated
            b"",
        ],
    )
    def test_decode_malformed_raises(self, frame: bytes) -> None:
        with pytest.raises(ProtocolError):
            V2_JSON.decode(frame, binary=False)

    @pytest.mark.parametrize("payload", [[1], "text", 1, None, True])
    def test_push_payload_must_be_a_map(self, payload: Any) -> None:
        with pytest.raises(UsageError, match="push payload must be a dict"):
            V2_JSON.encode_push(Message("t", "e", payload))

    @pytest.mark.parametrize("payload", [[1], "text", 1, None, True])
    def test_broadcast_payload_must_be_a_map(self, payload: Any) -> None:
        with pytest.raises(UsageError, match="broadcast payload must be a dict"):
            V2_JSON.fastlane(Broadcast("t", "e", payload))

    def test_payload_that_is_not_json_raises_usage_error(self) -> None:
        with pytest.raises(UsageError, match="not JSON-encodable"):
            V2_JSON.encode_push(Message("t", "e", {"when": object()}))


# §2.4 V2 binary


class TestSection2_4V2Binary:
    def test_decode_client_push_vector(self) -> None:
        # kind 0, sizes 2 3 5 5, "12" "123" "topic" "event", payload 65 66 67
        data = b"\x00\x02\x03\x05\x05" + b"12" + b"123" + b"topic" + b"event" + b"\x65\x66\x67"
        message = V2_JSON.decode(data, binary=True)
        assert message == Message("topic", "event", PAYLOAD, "123", "12")

    def test_encode_server_push_vector(self) -> None:
        frame = V2_JSON.encode_push(Message("topic", "event", PAYLOAD, None, "12"))
        # kind 0, sizes 2 5 5 (no ref field), "12" "topic" "event", payload 65 66 67
        assert frame == binary(b"\x00\x02\x05\x05" + b"12" + b"topic" + b"event" + b"\x65\x66\x67")

    def test_encode_reply_vector(self) -> None:
        frame = V2_JSON.encode_reply(Reply("topic", "ok", PAYLOAD, "123", "12"))
        # kind 1, sizes 2 3 5 2, "12" "123" "topic" "ok", payload 65 66 67
        assert frame == binary(
            b"\x01\x02\x03\x05\x02" + b"12" + b"123" + b"topic" + b"ok" + b"\x65\x66\x67"
        )

    def test_encode_broadcast_vector(self) -> None:
        frame = V2_JSON.fastlane(Broadcast("topic", "event", PAYLOAD))
        # kind 2, sizes 5 5, "topic" "event", payload 65 66 67
        assert frame == binary(b"\x02\x05\x05" + b"topic" + b"event" + b"\x65\x66\x67")

    def test_client_encode_vector(self) -> None:
        frame = client_encode(Message("topic", "event", PAYLOAD, "123", "12"))
        # the client push vector again, this time from the client side
        assert frame == binary(
            b"\x00\x02\x03\x05\x05" + b"12" + b"123" + b"topic" + b"event" + b"\x65\x66\x67"
        )

    def test_null_join_ref_is_an_empty_field(self) -> None:
        frame = V2_JSON.encode_push(Message("t", "e", b"", None, None))
        # kind 0, sizes 0 1 1, "t" "e", empty payload
        assert frame == binary(b"\x00\x00\x01\x01te")

    def test_decode_empty_refs_are_null(self) -> None:
        # kind 0, sizes 0 0 1 1, "t" "e", payload "x"
        message = V2_JSON.decode(b"\x00\x00\x00\x01\x01tex", binary=True)
        assert message == Message("t", "e", b"x", None, None)

    def test_fields_are_utf8_bytes(self) -> None:
        frame = V2_JSON.fastlane(Broadcast("é", "e", b""))
        # kind 2, sizes 2 1, "é" as c3 a9, "e"
        assert frame == binary(b"\x02\x02\x01\xc3\xa9e")

    def test_255_byte_fields_fit(self) -> None:
        long = "x" * 255
        frame = V2_JSON.encode_reply(Reply(long, long, b"", long, long))
        assert frame.data[:5] == b"\x01\xff\xff\xff\xff"
        assert client_decode(frame) == Message(
            long, "phx_reply", {"status": long, "response": b""}, long, long
        )

    @pytest.mark.parametrize(
        "make",
        [
            lambda big: V2_JSON.encode_push(Message(big, "e", b"")),
            lambda big: V2_JSON.encode_push(Message("t", big, b"")),
            lambda big: V2_JSON.encode_push(Message("t", "e", b"", None, big)),
            lambda big: V2_JSON.encode_reply(Reply(big, "ok", b"")),
            lambda big: V2_JSON.encode_reply(Reply("t", big, b"")),
            lambda big: V2_JSON.encode_reply(Reply("t", "ok", b"", big)),
            lambda big: V2_JSON.encode_reply(Reply("t", "ok", b"", None, big)),
            lambda big: V2_JSON.fastlane(Broadcast(big, "e", b"")),
            lambda big: V2_JSON.fastlane(Broadcast("t", big, b"")),
        ],
        ids=[
            "push-topic",
            "push-event",
            "push-join_ref",
            "reply-topic",
            "reply-status",
            "reply-ref",
            "reply-join_ref",
            "broadcast-topic",
            "broadcast-event",
        ],
    )
    @pytest.mark.parametrize("big", ["x" * 256, "é" * 128], ids=["256-ascii", "128-two-byte"])
    def test_field_over_255_bytes_raises(self, make: Any, big: str) -> None:
        with pytest.raises(UsageError, match="at most 255 bytes"):
            make(big)

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"\x00\x00\x00\x00",  # a header one size short
            b"\x01\x00\x00\x00\x00",  # kind 1 (reply) is server to client only
            b"\x02\x00\x00\x00\x00",  # kind 2 (broadcast) likewise
            b"\x07\x00\x00\x00\x00",  # unknown kind
            b"\x00\x00\x00\x05\x05topi",  # ends inside the topic
            b"\x00\x00\x00\x01\x01\xffe",  # topic not UTF-8
            b"\x00\x02\x00\x01\x01\xc3(te",  # join_ref not UTF-8
        ],
    )
    def test_decode_malformed_raises(self, data: bytes) -> None:
        with pytest.raises(ProtocolError):
            V2_JSON.decode(data, binary=True)

    def test_decode_binary_given_as_text(self) -> None:
        message = V2_JSON.decode("\x00\x00\x00\x01\x01te", binary=True)
        assert message == Message("t", "e", b"", None, None)


# §2.6 canonical server-generated frames


class TestSection2_6CanonicalFrames:
    def test_heartbeat_reply(self) -> None:
        frame = V2_JSON.encode_reply(Reply("phoenix", "ok", {}, "5", None))
        # [null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]
        assert frame == text(b'[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]')

    def test_join_refused(self) -> None:
        frame = V2_JSON.encode_reply(Reply("room:1", "error", {"reason": "no"}, "1", "1"))
        # ["1","1","room:1","phx_reply",{"response":{"reason":"no"},"status":"error"}]
        assert frame == text(
            b'["1","1","room:1","phx_reply",{"response":{"reason":"no"},"status":"error"}]'
        )

    def test_phx_close(self) -> None:
        frame = V2_JSON.encode_push(Message("room:1", "phx_close", {}, "1", "1"))
        # ["1","1","room:1","phx_close",{}]
        assert frame == text(b'["1","1","room:1","phx_close",{}]')

    def test_phx_error(self) -> None:
        frame = V2_JSON.encode_push(
            Message("room:1", "phx_error", {"reason": "channel_crash"}, "1", "1")
        )
        # ["1","1","room:1","phx_error",{"reason":"channel_crash"}]
        assert frame == text(b'["1","1","room:1","phx_error",{"reason":"channel_crash"}]')


class TestFrame:
    def test_equality_compares_opcode_and_bytes(self) -> None:
        assert Frame(b"a") == Frame(b"a")
        assert Frame(b"a") != Frame(b"a", binary=True)
        assert Frame(b"a") != Frame(b"b")
        assert Frame(b"a").__eq__(b"a") is NotImplemented

    def test_text_is_decoded_once(self) -> None:
        frame = Frame('["é"]'.encode())
        assert frame.text == '["é"]'
        assert frame.text is frame.text

    def test_unhashable(self) -> None:
        with pytest.raises(TypeError):
            hash(Frame(b""))

    def test_repr_names_the_opcode(self) -> None:
        assert repr(Frame(b"x", binary=True)) == "Frame(binary, b'x')"
        assert repr(Frame(b"x")) == "Frame(text, b'x')"


# Properties: round trips


class TestRoundTrips:
    @given(topic=st.text(), event=st.text(), payload=json_values, ref=refs, join_ref=refs)
    def test_v1_client_encode_then_decode(
        self, topic: str, event: str, payload: Any, ref: Any, join_ref: Any
    ) -> None:
        message = Message(topic, event, payload, ref, join_ref)
        frame = client_encode(message, vsn="1.0.0")
        assert frame.binary is False
        assert V1_JSON.decode(frame.data, binary=False) == message
        assert V1_JSON.decode(frame.text, binary=False) == message

    @given(topic=st.text(), event=st.text(), payload=json_values, ref=refs, join_ref=refs)
    def test_v2_client_encode_then_decode(
        self, topic: str, event: str, payload: Any, ref: Any, join_ref: Any
    ) -> None:
        message = Message(topic, event, payload, ref, join_ref)
        frame = client_encode(message)
        assert frame.binary is False
        assert V2_JSON.decode(frame.data, binary=False) == message
        assert V2_JSON.decode(frame.text, binary=False) == message

    @given(topic=fields, event=fields, payload=st.binary(), ref=field_refs, join_ref=field_refs)
    def test_v2_binary_client_encode_then_decode(
        self, topic: str, event: str, payload: bytes, ref: str | None, join_ref: str | None
    ) -> None:
        frame = client_encode(Message(topic, event, payload, ref, join_ref))
        assert frame.binary is True
        # An empty ref and a null ref are the same zero-length field.
        expected = Message(topic, event, payload, ref or None, join_ref or None)
        assert V2_JSON.decode(frame.data, binary=True) == expected

    @given(topic=st.text(), event=st.text(), payload=json_values, ref=refs, join_ref=refs)
    def test_v1_server_frames_then_client_decode(
        self, topic: str, event: str, payload: Any, ref: Any, join_ref: Any
    ) -> None:
        push = V1_JSON.encode_push(Message(topic, event, payload, ref, join_ref))
        assert client_decode(push, vsn="1.0.0") == Message(topic, event, payload, ref, None)
        reply = V1_JSON.encode_reply(Reply(topic, event, payload, ref, join_ref))
        assert client_decode(reply, vsn="1.0.0") == Message(
            topic, "phx_reply", {"status": event, "response": payload}, ref, None
        )
        fast = V1_JSON.fastlane(Broadcast(topic, event, payload))
        assert client_decode(fast, vsn="1.0.0") == Message(topic, event, payload, None, None)
        for frame in (push, reply, fast):
            assert frame.binary is False
            assert list(msgspec.json.decode(frame.data)) == ["event", "payload", "ref", "topic"]

    @given(
        topic=st.text(),
        event=st.text(),
        payload=json_maps,
        response=json_values,
        ref=refs,
        join_ref=refs,
    )
    def test_v2_server_frames_then_client_decode(
        self, topic: str, event: str, payload: Any, response: Any, ref: Any, join_ref: Any
    ) -> None:
        push = V2_JSON.encode_push(Message(topic, event, payload, ref, join_ref))
        assert client_decode(push) == Message(topic, event, payload, ref, join_ref)
        reply = V2_JSON.encode_reply(Reply(topic, event, response, ref, join_ref))
        assert client_decode(reply) == Message(
            topic, "phx_reply", {"status": event, "response": response}, ref, join_ref
        )
        fast = V2_JSON.fastlane(Broadcast(topic, event, payload))
        assert client_decode(fast) == Message(topic, event, payload, None, None)
        assert not (push.binary or reply.binary or fast.binary)

    @given(topic=fields, event=fields, payload=st.binary(), ref=field_refs, join_ref=field_refs)
    def test_v2_binary_server_frames_then_client_decode(
        self, topic: str, event: str, payload: bytes, ref: str | None, join_ref: str | None
    ) -> None:
        # phoenix.js reads a zero-length ref field as "" (serializer.js binaryDecode).
        push = V2_JSON.encode_push(Message(topic, event, payload, ref, join_ref))
        assert client_decode(push) == Message(topic, event, payload, None, join_ref or "")
        reply = V2_JSON.encode_reply(Reply(topic, event, payload, ref, join_ref))
        assert client_decode(reply) == Message(
            topic, "phx_reply", {"status": event, "response": payload}, ref or "", join_ref or ""
        )
        fast = V2_JSON.fastlane(Broadcast(topic, event, payload))
        assert client_decode(fast) == Message(topic, event, payload, None, None)
        assert push.binary and reply.binary and fast.binary


# Properties: junk raises ProtocolError and nothing else


def _decode_or_protocol_error(serializer: Any, data: bytes | str, *, binary: bool) -> None:
    try:
        message = serializer.decode(data, binary=binary)
    except ProtocolError:
        return
    assert isinstance(message, Message)
    assert isinstance(message.topic, str)
    assert isinstance(message.event, str)
    for ref in (message.ref, message.join_ref):
        assert ref is None or (isinstance(ref, str | int) and not isinstance(ref, bool))


serializers = st.sampled_from([V1_JSON, V2_JSON])
# What a text frame can hold: any text, as str or as bytes (even invalid UTF-8,
# as a LongPoll body may be).
text_frames = st.text() | st.text().map(str.encode) | st.binary()
v1_keys = st.sampled_from(["topic", "event", "payload", "ref", "join_ref"]) | st.text()
json_junk = (
    json_values
    | st.lists(json_values, max_size=7)
    | st.dictionaries(v1_keys, json_values, max_size=6)
)


class TestJunkRaisesOnlyProtocolError:
    @given(serializer=serializers, data=st.binary())
    @example(serializer=V2_JSON, data=b"\x00\xff\xff\xff\xff")
    @example(serializer=V2_JSON, data=b"\x00\x00\x00\x00\x00")
    def test_binary_frames(self, serializer: Any, data: bytes) -> None:
        _decode_or_protocol_error(serializer, data, binary=True)

    @given(serializer=serializers, data=text_frames)
    @example(serializer=V2_JSON, data="[" * 900)
    @example(serializer=V1_JSON, data='{"topic":"t","event":"e","payload":{},"ref":true}')
    def test_text_frames(self, serializer: Any, data: bytes | str) -> None:
        _decode_or_protocol_error(serializer, data, binary=False)

    @given(serializer=serializers, value=json_junk)
    def test_json_values(self, serializer: Any, value: Any) -> None:
        data = msgspec.json.encode(value)
        _decode_or_protocol_error(serializer, data, binary=False)
        _decode_or_protocol_error(serializer, data.decode(), binary=False)

    @pytest.mark.parametrize("serializer", [V1_JSON, V2_JSON], ids=["V1", "V2"])
    def test_deeply_nested_json(self, serializer: Any) -> None:
        _decode_or_protocol_error(serializer, "[" * 1000 + "]" * 1000, binary=False)

    @pytest.mark.parametrize("serializer", [V1_JSON, V2_JSON], ids=["V1", "V2"])
    def test_invalid_utf8_inside_a_json_string(self, serializer: Any) -> None:
        # [null,"1","<80>","e",{}]: the topic holds a lone continuation byte
        _decode_or_protocol_error(serializer, b'[null,"1","\x80","e",{}]', binary=False)

    @pytest.mark.parametrize("serializer", [V1_JSON, V2_JSON], ids=["V1", "V2"])
    def test_lone_surrogate_in_text(self, serializer: Any) -> None:
        _decode_or_protocol_error(serializer, '[null,"1","\ud800","e",{}]', binary=False)


# The pre-built server frame of the direct write path (RFC 6455 §5.2)


@given(data=st.binary(max_size=70_000), binary=st.booleans())
@example(data=b"x" * 125, binary=False)  # the last one-byte length
@example(data=b"x" * 126, binary=False)  # the first 16-bit length
@example(data=b"x" * 65_535, binary=True)  # the last 16-bit length
@example(data=b"x" * 65_536, binary=True)  # the first 64-bit length
def test_websocket_frame_is_what_websockets_writes(data: bytes, binary: bool) -> None:
    opcode = Opcode.BINARY if binary else Opcode.TEXT
    assert websocket_frame(data, binary=binary) == WsFrame(opcode, data).serialize(mask=False)


def test_frame_wire_is_built_once() -> None:
    frame = Frame(b'[null,null,"t","e",{}]')
    assert frame.wire is frame.wire
    assert frame.wire == b"\x81\x16" + frame.data
