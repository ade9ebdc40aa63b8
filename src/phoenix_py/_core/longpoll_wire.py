"""LongPoll request and response bodies (PHOENIX_PROTOCOL.md §4.3-§4.5), free of I/O.

A POST body becomes the frames it carries (``publish_frames``). With
``content-type`` exactly ``application/x-ndjson`` (what phoenix.js sends) the
body is split on ``\\n`` or ``\\r\\n`` and only the first 100 lines count; a line
starting with ``[`` is a text frame, any other is the standard base64 of a
binary frame (phoenix.js sends binary pushes so). Any other content type makes
the whole body one text frame. An empty line is an empty binary frame, which
the serializer refuses, as Phoenix's does.

Every JSON answer is sent with HTTP status 200; the logical status is the
body's ``status`` (``status_body``, ``poll_body``): 200 messages or accepted,
204 poll window elapsed, 403 refused, 408 dispatch timed out, 410 session
created (with its token) or gone. A poll carries each frame as a JSON string.
"""

from __future__ import annotations

import base64
import binascii
import re

import msgspec

from ..errors import ProtocolError

NDJSON = "application/x-ndjson"
MAX_BATCH_LINES = 100

#: One client frame of a POST: its bytes, and whether it is binary.
ClientFrame = tuple[bytes, bool]

_LINE_BREAK = re.compile(rb"\r?\n")
_json_encode = msgspec.json.Encoder().encode


def publish_frames(body: bytes, content_type: str | None) -> list[ClientFrame]:
    """The client frames a POST body carries.

    Raises:
        ProtocolError: a batch line is neither JSON text nor valid base64
            (Phoenix answers HTTP 400).
    """
    if content_type != NDJSON:
        return [(body, False)]
    lines = _LINE_BREAK.split(body, maxsplit=MAX_BATCH_LINES)[:MAX_BATCH_LINES]
    return [_batch_line(line) for line in lines]


def _batch_line(line: bytes) -> ClientFrame:
    if line.startswith(b"["):
        return line, False
    try:
        return base64.b64decode(line, validate=True), True
    except binascii.Error as exc:
        raise ProtocolError(f"a batch line is neither a JSON array nor base64: {exc}") from exc


def status_body(status: int) -> bytes:
    """``{"status": N}``: a POST's answer, or a refused or failed GET."""
    return _json_encode({"status": status})


def poll_body(status: int, token: str, messages: list[str]) -> bytes:
    """A GET's answer: 410 for a new session, 200 with messages, 204 without."""
    return _json_encode({"status": status, "token": token, "messages": messages})
