"""The Redis adapter: several phoenix_py instances, one application.

Install the ``redis`` extra, then::

    pubsub = PubSub(RedisAdapter("redis://127.0.0.1:6379/0"))
    endpoint = Endpoint(pubsub)

Routing. Each instance subscribes to one Redis channel per topic it has local
subscribers for (``<namespace>:t:<topic>``, subscribed with the first local
subscriber and dropped with the last, as broadcaster does) and to its own node
channel (``<namespace>:n:<node_name>``) for ``direct_broadcast``. So a publish
reaches only the instances that have subscribers for its topic, and Redis does
the routing. An instance ignores what it published itself (it has already
dispatched it locally).

Delivery. Publishes leave through one connection, in order, pipelined by a
single task: broadcasts from one instance reach every other instance in the
order they were made. While Redis is healthy, a publisher that outruns it
waits (``broadcast`` blocks once ``max_pending`` messages are queued), so
nothing is dropped. Delivery is at most once: a message published while
Redis is unreachable is dropped (and logged once per outage), and one
published while an instance is reconnecting does not reach that instance.
Local subscribers keep receiving local broadcasts throughout.

Outages. The listener reconnects by itself with exponential backoff (0.1 s up
to ``max_backoff``), resubscribes to every topic it needs, logs each loss and
recovery once, and never raises into the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

if TYPE_CHECKING:
    from .base import PubSub

__all__ = ["RedisAdapter"]

logger = logging.getLogger("phoenix_py.pubsub.redis")

_PUBLISH_BATCH = 512


class RedisAdapter:
    """Carries broadcasts between instances over Redis pub/sub.

    Args:
        url: a Redis URL, ``redis://host:port/db``.
        node_name: this instance's name, unique in the cluster (default:
            host, pid and a random suffix).
        namespace: prefix of every Redis channel; instances of one app share it.
        max_pending: publishes queued for Redis; beyond it ``broadcast`` waits
            while Redis is healthy, and the oldest are dropped while it is not.
        max_backoff: the longest wait between reconnection attempts, seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        node_name: str | None = None,
        namespace: str = "phx",
        max_pending: int = 10_000,
        max_backoff: float = 5.0,
    ) -> None:
        self.url = url
        self.node_name = node_name or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.namespace = namespace
        self.max_backoff = max_backoff
        self.connected = asyncio.Event()
        self._max_pending = max_pending
        self._pubsub: PubSub | None = None
        self._channels: set[str] = set()
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._outbox_ready = asyncio.Event()
        self._outbox_room = asyncio.Event()
        self._publishing_ok = True
        self._dropping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: Any = None  # redis PubSub while connected
        self._client: aioredis.Redis | None = None
        self._publisher: aioredis.Redis | None = None

    def topic_channel(self, topic: str) -> str:
        return f"{self.namespace}:t:{topic}"

    @property
    def node_channel(self) -> str:
        return f"{self.namespace}:n:{self.node_name}"

    # Adapter contract

    async def start(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub
        self._client = aioredis.Redis.from_url(
            self.url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2.0
        )
        # Publishing has its own connection, with a timeout: a Redis that stops
        # answering counts as down instead of stalling every broadcast.
        self._publisher = aioredis.Redis.from_url(
            self.url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2.0, socket_timeout=5.0
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._publish())]
        # Wait briefly, so that a healthy cluster is joined before serving; a dead
        # Redis does not hold the application back.
        try:
            await asyncio.wait_for(self.connected.wait(), 2.0)
        except TimeoutError:
            logger.warning("Redis at %s not reachable yet; serving local sockets only", self.url)

    async def stop(self) -> None:
        # Let queued publishes (such as a presence goodbye) leave first.
        for _ in range(20):
            if not self._outbox or not self.connected.is_set():
                break
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for client in (self._client, self._publisher):
            if client is not None:
                await client.aclose()

    async def broadcast(self, topic: str, message: Any) -> None:
        await self._queue(self.topic_channel(topic), topic, message)

    async def direct_broadcast(self, node_name: str, topic: str, message: Any) -> None:
        await self._queue(f"{self.namespace}:n:{node_name}", topic, message)

    def watch(self, topic: str) -> None:
        channel = self.topic_channel(topic)
        self._channels.add(channel)
        self._send_command("subscribe", channel)

    def unwatch(self, topic: str) -> None:
        channel = self.topic_channel(topic)
        self._channels.discard(channel)
        self._send_command("unsubscribe", channel)

    # Publishing

    async def _queue(self, channel: str, topic: str, message: Any) -> None:
        assert self._pubsub is not None, "start the PubSub before broadcasting"
        data = self._pubsub.codec.encode(self.node_name, topic, message)
        while len(self._outbox) >= self._max_pending:
            if not self._publishing_ok:
                self._outbox.popleft()
                if not self._dropping:
                    logger.warning(
                        "Redis is down and %d publishes are queued; dropping the "
                        "oldest until it is back",
                        self._max_pending,
                    )
                    self._dropping = True
                break
            self._outbox_room.clear()
            await self._outbox_room.wait()  # backpressure: Redis is slower than we are
        self._outbox.append((channel, data))
        self._outbox_ready.set()

    async def _publish(self) -> None:
        assert self._publisher is not None
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while self._outbox:
                batch = [
                    self._outbox.popleft() for _ in range(min(len(self._outbox), _PUBLISH_BATCH))
                ]
                try:
                    async with self._publisher.pipeline(transaction=False) as pipe:
                        for channel, data in batch:
                            pipe.publish(channel, data)
                        await pipe.execute()
                    if not self._publishing_ok:
                        logger.info("Redis publishing works again")
                    self._publishing_ok, self._dropping = True, False
                except (aioredis.RedisError, OSError) as exc:
                    if self._publishing_ok:
                        logger.warning(
                            "Redis publish failed (%s); dropping messages until it is back", exc
                        )
                    self._publishing_ok = False
                    self._outbox_room.set()
                    await asyncio.sleep(0.1)
                self._outbox_room.set()

    # Receiving

    def _send_command(self, command: str, channel: str) -> None:
        listener = self._listener
        if listener is None:
            return  # the next (re)connection subscribes to every channel in _channels
        task = asyncio.get_running_loop().create_task(getattr(listener, command)(channel))
        task.add_done_callback(_log_failure)

    async def _listen(self) -> None:
        assert self._client is not None
        backoff = 0.1
        lost = False
        while True:
            listener: Any = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await listener.subscribe(self.node_channel, *self._channels)
                self._listener = listener
                self.connected.set()
                if lost:
                    logger.info(
                        "Redis connection back; resubscribed to %d topics", len(self._channels)
                    )
                lost, backoff = False, 0.1
                while True:
                    message = await listener.get_message(timeout=None)
                    if message is not None and message.get("type") == "message":
                        self._receive(message["data"])
            except asyncio.CancelledError:
                raise
            except (aioredis.RedisError, OSError) as exc:
                if not lost:
                    logger.warning("Redis connection lost (%s); reconnecting", exc)
                lost = True
            finally:
                self._listener = None
                self.connected.clear()
                with contextlib.suppress(Exception):  # the connection may be gone already
                    await listener.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def _receive(self, data: bytes) -> None:
        assert self._pubsub is not None
        try:
            origin, topic, message = self._pubsub.codec.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            logger.warning("ignoring a Redis message that does not decode: %s", exc)
            return
        if origin != self.node_name:
            try:
                self._pubsub.local_broadcast(topic, message)
            except Exception:  # a bug downstream must not end the listener
                logger.exception("local delivery of a Redis message on %r failed", topic)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.debug(
            "Redis (un)subscribe failed: %r; the reconnection will redo it", task.exception()
        )
