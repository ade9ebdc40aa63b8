"""How messages cross between nodes: msgpack of tagged msgspec structs.

Only registered struct types travel (``Broadcast`` and ``Publication`` always; presence registers
its replication messages), so a node never unpickles arbitrary objects from
the network. Payloads keep their JSON types, and ``bytes`` stay binary.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Envelope(msgspec.Struct, frozen=True, array_like=True):
    """A message on the wire between nodes, with the node that sent it."""

    origin: str
    topic: str
    message: msgspec.Raw


class NodeCodec:
    def __init__(self) -> None:
        from .._core.message import Broadcast, Publication

        self._types: list[type[msgspec.Struct]] = [Broadcast, Publication]
        self._decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(
            Broadcast | Publication
        )
        self._encoder = msgspec.msgpack.Encoder()

    def register(self, *types: type[msgspec.Struct]) -> None:
        """Allow these struct types to travel between nodes.

        They must be tagged (``tag=True``) and ``array_like=True``, as
        ``Broadcast`` is; a type that cannot join the others raises here, at
        start-up, rather than when a message arrives.
        """
        new = [t for t in types if t not in self._types]
        if new:
            decoder = msgspec.msgpack.Decoder(_union([*self._types, *new]))
            self._types.extend(new)
            self._decoder = decoder

    def encode(self, origin: str, topic: str, message: Any) -> bytes:
        if type(message) not in self._types:
            raise TypeError(
                f"{type(message).__name__} cannot travel between nodes; "
                "register its msgspec struct type with the codec"
            )
        body = msgspec.Raw(self._encoder.encode(message))
        return self._encoder.encode(Envelope(origin, topic, body))

    def decode(self, data: bytes) -> tuple[str, str, Any]:
        """Returns (origin, topic, message); raises ``msgspec.DecodeError`` on junk."""
        envelope = msgspec.msgpack.decode(data, type=Envelope)
        return envelope.origin, envelope.topic, self._decoder.decode(envelope.message)


def _union(types: list[type[msgspec.Struct]]) -> Any:
    union: Any = types[0]
    for struct_type in types[1:]:
        union = union | struct_type
    return union
