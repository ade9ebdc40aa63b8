"""LongPoll bodies: POST batches in, JSON answers out (PHOENIX_PROTOCOL.md §4.3-§4.5)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix_py._core.longpoll_wire import (
    MAX_BATCH_LINES,
    NDJSON,
    poll_body,
    publish_frames,
    status_body,
)
from phoenix_py.errors import ProtocolError

JOIN = b'["1","1","room:1","phx_join",{}]'
ECHO = b'["1","2","room:1","echo",{"a":1}]'
# a V2 binary push: kind 0, sizes 1 1 6 4, then "1" "3" "room:1" "blob", then the payload
BINARY_PUSH = bytes([0, 1, 1, 6, 4]) + b"13room:1blob" + b"\x00\xff"


class TestNdjsonBatches:
    """§4.4: phoenix.js POSTs up to 100 messages as ndjson."""

    def test_lines_are_text_frames(self) -> None:
        assert publish_frames(JOIN + b"\n" + ECHO, NDJSON) == [(JOIN, False), (ECHO, False)]

    def test_crlf_separates_lines_too(self) -> None:
        assert publish_frames(JOIN + b"\r\n" + ECHO, NDJSON) == [(JOIN, False), (ECHO, False)]

    def test_a_lone_cr_is_part_of_the_line(self) -> None:
        assert publish_frames(JOIN + b"\r" + ECHO, NDJSON) == [(JOIN + b"\r" + ECHO, False)]

    def test_a_line_not_starting_with_a_bracket_is_base64_binary(self) -> None:
        line = base64.b64encode(BINARY_PUSH)
        assert publish_frames(JOIN + b"\n" + line, NDJSON) == [(JOIN, False), (BINARY_PUSH, True)]

    def test_only_the_first_100_lines_count(self) -> None:
        lines = [b'[null,"%d","phoenix","heartbeat",{}]' % n for n in range(MAX_BATCH_LINES + 5)]
        frames = publish_frames(b"\n".join(lines), NDJSON)
        assert frames == [(line, False) for line in lines[:100]]

    def test_an_empty_line_is_an_empty_binary_frame(self) -> None:
        # as in Phoenix; the serializer then refuses it (never send a trailing newline)
        assert publish_frames(JOIN + b"\n", NDJSON) == [(JOIN, False), (b"", True)]

    @pytest.mark.parametrize("line", [b"not base64!", b"QQ", b"QUJD\xff", b"{json}"])
    def test_a_bad_line_is_a_protocol_error(self, line: bytes) -> None:
        with pytest.raises(ProtocolError):
            publish_frames(JOIN + b"\n" + line, NDJSON)


class TestOtherContentTypes:
    """§4.4: anything but exactly application/x-ndjson is one text frame."""

    @pytest.mark.parametrize(
        "content_type",
        [None, "", "application/json", "application/x-ndjson; charset=utf-8", "text/plain"],
    )
    def test_the_whole_body_is_one_text_frame(self, content_type: str | None) -> None:
        body = JOIN + b"\n" + ECHO
        assert publish_frames(body, content_type) == [(body, False)]


class TestAnswers:
    def test_status_body(self) -> None:
        assert status_body(200) == b'{"status":200}'
        assert status_body(410) == b'{"status":410}'

    def test_poll_body_carries_frames_as_json_strings(self) -> None:
        body = poll_body(200, "tok", ['["1","1","room:1","phx_reply",{}]'])
        assert body == (
            b'{"status":200,"token":"tok","messages":["[\\"1\\",\\"1\\",\\"room:1\\",'
            b'\\"phx_reply\\",{}]"]}'
        )

    def test_new_session(self) -> None:
        assert json.loads(poll_body(410, "tok", [])) == {
            "status": 410,
            "token": "tok",
            "messages": [],
        }


@given(st.binary(max_size=300), st.sampled_from([NDJSON, "application/json", None]))
def test_any_body_gives_frames_or_a_protocol_error(body: bytes, content_type: str | None) -> None:
    try:
        frames = publish_frames(body, content_type)
    except ProtocolError:
        return
    assert 1 <= len(frames) <= MAX_BATCH_LINES
