"""Message histories on Redis, for a cluster on ``RedisAdapter``: the same
offsets on every node.

    adapter = RedisAdapter("redis://127.0.0.1:6379/0")
    pubsub = PubSub(adapter)
    history = History(pubsub, size=1000, ttl=300, store=RedisHistory(adapter))

Per topic, two keys: a hash with the epoch and the last offset
(``<namespace>:h:<topic>:m``) and a stream of the kept messages
(``<namespace>:h:<topic>:s``, entry ids ``0-<offset>``, capped at ``size``
with ``MAXLEN``, expiring ``ttl`` after the last message).

Order. One Lua script numbers a message, appends it to the stream and
publishes it on the topic's channel of the adapter (``RedisAdapter.topic_channel``),
atomically: Redis publishes in offset order, and every node, this one too,
receives the message from its subscription, so that each subscriber sees
the offsets in order, whichever node sent them. (A plain broadcast is
delivered locally at once; a kept one takes the round trip to Redis.) The
script leaves the publishing node's name out of the envelope so that its own
adapter does not skip it.

Encoding. The node codec's envelope of a ``Publication`` ends with its
``offset``, ``epoch`` and ``sender``; Python encodes it with placeholders and
sends the part before them (``head``) and the sender's encoding (``tail``),
and the script puts ``cmsgpack.pack(offset)`` and ``cmsgpack.pack(epoch)``
between them.

Epochs. The epoch is created with the hash: when Redis lost the hash (a
restart without persistence, an eviction, ``idle_ttl`` without any
message or join), the next message or join starts a new epoch at offset 1
and drops any stream left, so an old ``since`` gets ``recovered: false``.
Time is Redis's own (``TIME``), one clock for every node.

A Redis that cannot be reached raises ``HistoryUnavailable``: the broadcast
was not made (the caller knows), the join is refused with an error reply.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .._core.history import Position, Recovery, new_epoch
from .._core.message import Publication
from ..errors import HistoryUnavailable, UsageError
from .redis import RedisAdapter

if TYPE_CHECKING:
    from .base import PubSub

__all__ = ["RedisHistory"]

logger = logging.getLogger("phoenix_py.history")

# KEYS: the hash (epoch "e", last offset "o"), the stream.
_OPEN = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
  redis.call('DEL', KEYS[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
"""

# ARGV: new epoch, idle ttl ms, size, ttl ms, channel, head, tail.
_PUBLISH = (
    _OPEN
    + """
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
local data = ARGV[6] .. cmsgpack.pack(offset) .. cmsgpack.pack(epoch) .. ARGV[7]
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], '0-' .. offset, 't', ms, 'd', data)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[5], data)
return {offset, epoch}
"""
)

# ARGV: new epoch, idle ttl ms, since offset (-1: none), since epoch, ttl ms.
# Returns {last offset, epoch, recovered (0/1), {message data...}}.
_RECOVER = (
    _OPEN
    + """
local last = tonumber(redis.call('HGET', KEYS[1], 'o'))
local since = tonumber(ARGV[3])
if since < 0 or ARGV[4] ~= epoch or since > last then
  return {last, epoch, 0, {}}
end
if since == last then
  return {last, epoch, 1, {}}
end
local entries = redis.call('XRANGE', KEYS[2], '0-' .. string.format('%d', since + 1), '+')
if #entries ~= last - since or tonumber(entries[1][2][2]) < ms - tonumber(ARGV[5]) then
  return {last, epoch, 0, {}}
end
local out = {}
for i, entry in ipairs(entries) do
  out[i] = entry[2][4]
end
return {last, epoch, 1, out}
"""
)

_PLACEHOLDERS = b"\x00\xa0"  # msgpack of offset 0 and epoch ""


class RedisHistory:
    """Histories kept in Redis, next to ``adapter``'s pub/sub (see the module docs).

    Args:
        adapter: the endpoint pubsub's adapter; messages go out on its topic channels.
        url: the Redis holding the histories (default: the adapter's).
        idle_ttl: seconds after which a topic with no message and no join
            forgets its epoch (the next starts a new one).
        timeout: seconds a Redis call may take before it counts as unreachable.
        max_connections: connections to Redis at most; a call waits for a free one
            (within ``timeout``), so that a reconnect storm of thousands of
            recoveries queues up instead of failing with "Too many connections".
    """

    def __init__(
        self,
        adapter: RedisAdapter,
        *,
        url: str | None = None,
        idle_ttl: float = 86_400.0,
        timeout: float = 5.0,
        max_connections: int = 32,
    ) -> None:
        self.adapter = adapter
        self.url = adapter.url if url is None else url
        self.idle_ttl = idle_ttl
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url,
            max_connections=max_connections,
            timeout=timeout,
            socket_connect_timeout=min(2.0, timeout),
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._client = aioredis.Redis.from_pool(pool)  # closes the pool with itself
        self._publish = self._client.register_script(_PUBLISH)
        self._recover = self._client.register_script(_RECOVER)
        self._pubsub: PubSub | None = None
        self._encoder = msgspec.msgpack.Encoder()

    # HistoryStore

    def bind(self, pubsub: PubSub) -> None:
        if pubsub.adapter is not self.adapter:
            raise UsageError(
                "RedisHistory(adapter) publishes on that adapter's channels: give it "
                "the RedisAdapter of the PubSub the History is built with"
            )
        if self._pubsub is None:
            self._pubsub = pubsub
            pubsub.add_service(self)
        elif self._pubsub is not pubsub:
            raise UsageError("a RedisHistory serves one PubSub; make one per endpoint")

    async def publish(
        self,
        topic: str,
        event: str,
        payload: Any,
        *,
        sender: str | None,
        size: int,
        ttl: float,
    ) -> Position:
        head, tail = self._encode(topic, event, payload, sender)
        arguments: list[str | int | bytes] = [new_epoch(), self._ms(self.idle_ttl), size]
        arguments += [self._ms(ttl), self.adapter.topic_channel(topic), head, tail]
        try:
            offset, epoch = await self._publish(keys=self._keys(topic), args=arguments)
        except (aioredis.RedisError, OSError) as exc:
            raise HistoryUnavailable(f"Redis at {self.url}: {exc}") from exc
        return Position(int(offset), _text(epoch))

    async def recover(
        self, topic: str, since: Position | None, *, size: int, ttl: float
    ) -> Recovery:
        offset, epoch = (-1, "") if since is None else since
        arguments: list[str | int] = [new_epoch(), self._ms(self.idle_ttl), offset, epoch]
        arguments.append(self._ms(ttl))
        try:
            last, current, recovered, kept = await self._recover(
                keys=self._keys(topic), args=arguments
            )
        except (aioredis.RedisError, OSError) as exc:
            raise HistoryUnavailable(f"Redis at {self.url}: {exc}") from exc
        position = Position(int(last), _text(current))
        try:
            messages = [self._decode(data) for data in kept]
        except (msgspec.DecodeError, msgspec.ValidationError, TypeError) as exc:
            logger.warning("the history of %r holds a message that does not decode: %s", topic, exc)
            return Recovery(position, False, [])
        return Recovery(position, bool(recovered), messages)

    # Service: closed with the pubsub

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self._client.aclose()

    # Helpers

    def _keys(self, topic: str) -> list[str]:
        prefix = f"{self.adapter.namespace}:h:{topic}"
        return [f"{prefix}:m", f"{prefix}:s"]

    @staticmethod
    def _ms(seconds: float) -> int:
        return max(1, round(seconds * 1000))

    def _encode(
        self, topic: str, event: str, payload: Any, sender: str | None
    ) -> tuple[bytes, bytes]:
        if self._pubsub is None:
            raise UsageError("RedisHistory is not bound: build a History with it first")
        placeholder = Publication(topic, event, payload, 0, "", sender)
        envelope = self._pubsub.codec.encode("", topic, placeholder)
        tail = self._encoder.encode(sender)
        head = envelope[: -len(tail)]
        if not head.endswith(_PLACEHOLDERS):  # the codec's layout changed: fail loudly
            raise RuntimeError("unexpected encoding of a Publication envelope")
        return head[: -len(_PLACEHOLDERS)], tail

    def _decode(self, data: bytes) -> Publication:
        if self._pubsub is None:
            raise UsageError("RedisHistory is not bound: build a History with it first")
        _origin, _topic, message = self._pubsub.codec.decode(data)
        if not isinstance(message, Publication):
            raise TypeError(f"a kept {type(message).__name__}, not a Publication")
        return message


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
