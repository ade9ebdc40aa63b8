"""Serializers: Phoenix's V1 JSON, V2 JSON and V2 binary frames (PHOENIX_PROTOCOL.md §2).

A serializer turns server-side values into frames and client frames into
``Message`` values. Which one a socket uses is chosen once, at connect, from the
``vsn`` query parameter (``serializer_for_vsn``; §1.3): ``1.0.x`` (the default)
picks V1, ``2.0.x`` picks V2, anything else refuses the connection.

Wire shapes (server to client):

* V1: a JSON object with exactly ``event``, ``payload``, ``ref``, ``topic`` (no
  ``join_ref``); replies put ``{"response": .., "status": ..}`` in ``payload``.
* V2 text: ``[join_ref, ref, topic, event, payload]``.
* V2 binary, for a ``bytes`` payload: kind 0 push, 1 reply, 2 broadcast (§2.4).

Every decode error is a ``ProtocolError``; nothing else escapes ``decode``.
The ``client_*`` functions speak the other direction (what phoenix.js sends and
reads); the test toolkit and the benchmark load generator use them.
"""

from __future__ import annotations

import re
import struct
from typing import Any, Protocol

import msgspec

from ..errors import ProtocolError, UsageError
from .message import Broadcast, Message, Ref, Reply

__all__ = [
    "V1_JSON",
    "V2_JSON",
    "Frame",
    "Serializer",
    "serializer_for_vsn",
]

_PUSH, _REPLY, _BROADCAST = 0, 1, 2
_MAX_FIELD = 255
_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode


class Frame:
    """One encoded frame, shared by every subscriber a broadcast reaches.

    ``data`` holds the bytes; ``binary`` says which WebSocket opcode carries
    them. ``text`` decodes text frames once and keeps the result, so a
    broadcast to many ASGI sockets pays for one decode; ``wire`` likewise
    builds the server's WebSocket frame once for every direct-write socket.
    """

    __slots__ = ("_text", "_wire", "binary", "data")

    def __init__(self, data: bytes, *, binary: bool = False) -> None:
        self.data = data
        self.binary = binary
        self._text: str | None = None
        self._wire: bytes | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.data.decode()
        return self._text

    @property
    def wire(self) -> bytes:
        """The whole unmasked WebSocket frame a server sends (RFC 6455 §5.2)."""
        if self._wire is None:
            self._wire = websocket_frame(self.data, binary=self.binary)
        return self._wire

    def __repr__(self) -> str:
        kind = "binary" if self.binary else "text"
        return f"Frame({kind}, {self.data!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return self.binary == other.binary and self.data == other.data

    __hash__ = None  # type: ignore[assignment]


def websocket_frame(data: bytes, *, binary: bool) -> bytes:
    """``data`` as one final, unmasked text or binary frame (RFC 6455 §5.2).

    Server frames carry no mask, so the bytes are the same for every client.
    """
    first = 0x82 if binary else 0x81
    size = len(data)
    if size < 126:
        header = bytes((first, size))
    elif size < 0x10000:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + data


class Serializer(Protocol):
    """What a socket needs to speak one protocol version."""

    name: str

    def decode(self, data: bytes | str, *, binary: bool) -> Message:
        """Decode one client frame; raise ``ProtocolError`` when it is malformed."""
        ...

    def encode_push(self, message: Message) -> Frame:
        """Encode a server push (``ref`` is normally ``None``)."""
        ...

    def encode_reply(self, reply: Reply) -> Frame:
        """Encode a ``phx_reply``."""
        ...

    def fastlane(self, broadcast: Broadcast) -> Frame:
        """Encode a broadcast once for every subscriber using this serializer."""
        ...


def _encode_json(value: Any) -> bytes:
    try:
        return _json_encode(value)
    except (TypeError, msgspec.EncodeError) as exc:
        raise UsageError(
            f"payload is not JSON-encodable ({exc}); send dicts, lists, str, int, "
            "float, bool and None, or bytes for a binary payload (V2 only)"
        ) from exc


class _V1Json:
    """V1: JSON objects, text frames only."""

    name = "V1.JSON"

    def decode(self, data: bytes | str, *, binary: bool) -> Message:
        if binary:
            raise ProtocolError("V1 JSON serializer got a binary frame")
        value = _decode_json(data)
        if not isinstance(value, dict):
            raise ProtocolError(f"V1 JSON serializer expected an object, got {_kind(value)}")
        try:
            topic, event, payload, ref = (
                value["topic"],
                value["event"],
                value["payload"],
                value["ref"],
            )
        except KeyError as exc:
            raise ProtocolError(f"V1 message is missing the key {exc.args[0]!r}") from exc
        return _checked_message(topic, event, payload, ref, value.get("join_ref"))

    def encode_push(self, message: Message) -> Frame:
        return self._encode(message.topic, message.event, message.payload, message.ref)

    def encode_reply(self, reply: Reply) -> Frame:
        payload = {"response": reply.payload, "status": reply.status}
        return self._encode(reply.topic, "phx_reply", payload, reply.ref)

    def fastlane(self, broadcast: Broadcast) -> Frame:
        return self._encode(broadcast.topic, broadcast.event, broadcast.payload, broadcast.ref)

    @staticmethod
    def _encode(topic: str, event: str, payload: Any, ref: Ref) -> Frame:
        if isinstance(payload, bytes | bytearray | memoryview):
            raise UsageError("binary payloads need the V2 serializer (vsn 2.0.0)")
        # Keys in the order Phoenix's encoder writes them (sorted), for byte-equal frames.
        return Frame(_encode_json({"event": event, "payload": payload, "ref": ref, "topic": topic}))


class _V2Json:
    """V2: JSON arrays in text frames, and binary frames for ``bytes`` payloads."""

    name = "V2.JSON"

    def decode(self, data: bytes | str, *, binary: bool) -> Message:
        if binary:
            return _decode_binary_push(data if isinstance(data, bytes) else data.encode())
        value = _decode_json(data)
        if not isinstance(value, list) or len(value) < 5:
            raise ProtocolError(
                "V2 JSON serializer expected [join_ref, ref, topic, event, payload], "
                f"got {_kind(value)}"
            )
        join_ref, ref, topic, event, payload = value[:5]
        return _checked_message(topic, event, payload, ref, join_ref)

    def encode_push(self, message: Message) -> Frame:
        payload = message.payload
        if isinstance(payload, bytes):
            return _binary(_PUSH, [message.join_ref, message.topic, message.event], payload, "push")
        _require_map(payload, "push")
        return Frame(
            _encode_json([message.join_ref, message.ref, message.topic, message.event, payload])
        )

    def encode_reply(self, reply: Reply) -> Frame:
        payload = reply.payload
        if isinstance(payload, bytes):
            fields = [reply.join_ref, reply.ref, reply.topic, reply.status]
            return _binary(_REPLY, fields, payload, "reply")
        response = {"response": payload, "status": reply.status}
        return Frame(_encode_json([reply.join_ref, reply.ref, reply.topic, "phx_reply", response]))

    def fastlane(self, broadcast: Broadcast) -> Frame:
        payload = broadcast.payload
        if isinstance(payload, bytes):  # the binary broadcast has no ref slot (§2.3)
            return _binary(_BROADCAST, [broadcast.topic, broadcast.event], payload, "broadcast")
        _require_map(payload, "broadcast")
        return Frame(_encode_json([None, broadcast.ref, broadcast.topic, broadcast.event, payload]))


def _decode_json(data: bytes | str) -> Any:
    try:
        return _json_decode(data)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"frame is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ProtocolError("frame's JSON is nested too deeply") from exc
    except UnicodeError as exc:
        raise ProtocolError(f"frame is not valid UTF-8: {exc}") from exc


def _kind(value: object) -> str:
    return type(value).__name__ if not isinstance(value, list) else f"a list of {len(value)}"


def _require_map(payload: object, what: str) -> None:
    if not isinstance(payload, dict):
        raise UsageError(
            f"a V2 {what} payload must be a dict (or bytes for binary), got "
            f"{type(payload).__name__}; wrap it, e.g. {{'value': ...}}"
        )


def _checked_message(topic: Any, event: Any, payload: Any, ref: Any, join_ref: Any) -> Message:
    if not isinstance(topic, str) or not isinstance(event, str):
        raise ProtocolError("topic and event must be strings")
    if not _is_ref(ref) or not _is_ref(join_ref):
        raise ProtocolError("ref and join_ref must be strings, integers or null")
    return Message(topic=topic, event=event, payload=payload, ref=ref, join_ref=join_ref)


def _is_ref(value: object) -> bool:
    return value is None or (isinstance(value, str | int) and not isinstance(value, bool))


def _field_bytes(value: Ref, name: str) -> bytes:
    raw = b"" if value is None else str(value).encode()
    if len(raw) > _MAX_FIELD:
        raise UsageError(f"binary frames carry at most {_MAX_FIELD} bytes of {name}")
    return raw


def _binary(kind: int, fields: list[Ref], payload: bytes, what: str) -> Frame:
    names = {
        _PUSH: ("join_ref", "topic", "event"),
        _REPLY: ("join_ref", "ref", "topic", "status"),
        _BROADCAST: ("topic", "event"),
    }[kind]
    raws = [_field_bytes(value, name) for value, name in zip(fields, names, strict=True)]
    header = bytes([kind, *(len(raw) for raw in raws)])
    return Frame(header + b"".join(raws) + payload, binary=True)


def _decode_binary_push(data: bytes) -> Message:
    if len(data) < 5:
        raise ProtocolError(f"binary frame of {len(data)} bytes is shorter than its header")
    if data[0] != _PUSH:
        raise ProtocolError(f"binary frame kind {data[0]} is not a client push (0)")
    sizes = data[1:5]
    fields: list[str] = []
    offset = 5
    for size in sizes:
        chunk = data[offset : offset + size]
        if len(chunk) != size:
            raise ProtocolError("binary frame ends inside its header fields")
        try:
            fields.append(chunk.decode())
        except UnicodeDecodeError as exc:
            raise ProtocolError("binary frame header field is not UTF-8") from exc
        offset += size
    join_ref, ref, topic, event = fields
    return Message(
        topic=topic,
        event=event,
        payload=bytes(data[offset:]),
        ref=ref or None,
        join_ref=join_ref or None,
    )


V1_JSON: Serializer = _V1Json()
V2_JSON: Serializer = _V2Json()

# Semver as Elixir's Version parses it: no leading zeros, nothing after the end.
_VSN = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?"
)


def serializer_for_vsn(vsn: object) -> Serializer | None:
    """The serializer for a client's ``vsn``, or ``None`` when none matches (§1.3).

    ``~> 1.0.0`` and ``~> 2.0.0`` as Elixir reads them: same major and minor,
    any patch. A missing ``vsn`` means ``1.0.0``.
    """
    if vsn is None:
        return V1_JSON
    if not isinstance(vsn, str):
        return None
    match = _VSN.fullmatch(vsn)
    if match is None:
        return None
    major, minor, patch = int(match[1]), int(match[2]), int(match[3])
    if match[4] and patch == 0:
        return None  # x.y.0-pre sorts below x.y.0, outside "~> x.y.0"
    if (major, minor) == (1, 0):
        return V1_JSON
    if (major, minor) == (2, 0):
        return V2_JSON
    return None


# Client side of the wire (what phoenix.js does), for tests, the testing toolkit
# and load generators.


def client_encode(message: Message, *, vsn: str = "2.0.0") -> Frame:
    """Encode a client message the way phoenix.js (V2) or a V1 client does."""
    if vsn.startswith("1."):
        return Frame(
            _encode_json(
                {
                    "topic": message.topic,
                    "event": message.event,
                    "payload": message.payload,
                    "ref": message.ref,
                    "join_ref": message.join_ref,
                }
            )
        )
    if isinstance(message.payload, bytes):
        fields = [message.join_ref, message.ref, message.topic, message.event]
        raws = [
            _field_bytes(v, n)
            for v, n in zip(fields, ("join_ref", "ref", "topic", "event"), strict=False)
        ]
        header = bytes([_PUSH, *(len(raw) for raw in raws)])
        return Frame(header + b"".join(raws) + message.payload, binary=True)
    return Frame(
        _encode_json([message.join_ref, message.ref, message.topic, message.event, message.payload])
    )


def client_decode(frame: Frame, *, vsn: str = "2.0.0") -> Message:
    """Decode a server frame as phoenix.js does (a reply's payload is ``{status, response}``)."""
    if frame.binary:
        return _client_decode_binary(frame.data)
    value = _json_decode(frame.data)
    if vsn.startswith("1."):
        return Message(value["topic"], value["event"], value["payload"], value["ref"], None)
    join_ref, ref, topic, event, payload = value
    return Message(topic, event, payload, ref, join_ref)


def _client_decode_binary(data: bytes) -> Message:
    kind = data[0]
    count = {_PUSH: 3, _REPLY: 4, _BROADCAST: 2}[kind]
    sizes = data[1 : 1 + count]
    offset = 1 + count
    fields = []
    for size in sizes:
        fields.append(data[offset : offset + size].decode())
        offset += size
    payload = data[offset:]
    if kind == _PUSH:
        join_ref, topic, event = fields
        return Message(topic, event, payload, None, join_ref)
    if kind == _REPLY:
        join_ref, ref, topic, status = fields
        return Message(topic, "phx_reply", {"status": status, "response": payload}, ref, join_ref)
    topic, event = fields
    return Message(topic, event, payload, None, None)
