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

Subscriptions. ``watch`` queues a SUBSCRIBE and returns; one task sends the
queued (UN)SUBSCRIBE commands in order, several channels per command. Redis
answers each SUBSCRIBE with one confirmation per channel, in order, so the
adapter keeps one future per SUBSCRIBE sent, first in first out per channel,
and the listener resolves the oldest with each confirmation it reads.
``subscribed(topic)`` awaits the newest: once Redis has confirmed it, every
later publish on the topic reaches this instance (a channel's join reply waits
for it). After ``watch``, ``unwatch``, ``watch`` only the last SUBSCRIBE
counts. The confirmations of the SUBSCRIBE that follows a reconnection count
too. ``subscribed`` returns at once when the topic is not watched any more or
Redis is not connected, and after ``subscribe_timeout`` seconds at most (with
a warning); it never raises.

Outages. The listener reconnects by itself with exponential backoff (0.1 s up
to ``max_backoff``), resubscribes to every topic it needs, logs each loss and
recovery once, and never raises into the application. When the connection is
lost, every pending confirmation is released.

Invariants:

* ``_channels`` is the set of topic channels this instance needs; every
  (re)connection subscribes to all of them, then sends what ``_commands``
  holds (what ``watch``/``unwatch`` queued meanwhile), in order.
* ``_commands`` holds only commands for the current connection, and
  ``_confirmations`` only futures for SUBSCRIBEs on it: both are emptied when
  the connection goes, so neither outgrows the commands in flight.
* A future in ``_confirmations`` is resolved by the confirmation of its
  SUBSCRIBE or by the loss of the connection, never cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ..errors import UsageError
from ..telemetry import PUBSUB_ERROR, PUBSUB_PUBLISH

if TYPE_CHECKING:
    from .adapter import LocalPubSub
    from .codec import NodeCodec

__all__ = ["RedisAdapter"]

logger = logging.getLogger("phoenix_py.pubsub.redis")

_PUBLISH_BATCH = 512
_COMMAND_BATCH = 512  # channels per (UN)SUBSCRIBE command
_SUBSCRIBE, _UNSUBSCRIBE = "subscribe", "unsubscribe"


class _NotStarted:
    """Stands for the pubsub until ``start``: an adapter used before is a developer's mistake."""

    @property
    def codec(self) -> NodeCodec:
        raise _not_started()

    def local_broadcast(self, topic: str, message: Any) -> None:
        raise _not_started()


def _not_started() -> UsageError:
    return UsageError(
        "RedisAdapter is not started: start its PubSub first (the endpoint's lifespan "
        "does; otherwise await pubsub.start()) before broadcasting"
    )


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
        subscribe_timeout: the longest ``subscribed`` waits for Redis to
            confirm a subscription, seconds; past it, it logs a warning and
            returns (a join is never held longer).
    """

    def __init__(
        self,
        url: str,
        *,
        node_name: str | None = None,
        namespace: str = "phx",
        max_pending: int = 10_000,
        max_backoff: float = 5.0,
        subscribe_timeout: float = 3.0,
    ) -> None:
        self.url = url
        self.node_name = node_name or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.namespace = namespace
        self.max_backoff = max_backoff
        self.subscribe_timeout = subscribe_timeout
        self.connected = asyncio.Event()
        self._max_pending = max_pending
        self._pubsub: LocalPubSub = _NotStarted()
        self._channels: set[str] = set()
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._outbox_ready = asyncio.Event()
        self._outbox_room = asyncio.Event()
        self._publishing_ok = True
        self._dropping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._clients: list[aioredis.Redis] = []
        self._listener: Any = None  # redis PubSub of the current connection, while there is one
        self._commands: deque[tuple[str, str]] = deque()  # (verb, channel) for that connection
        self._commands_ready = asyncio.Event()
        self._confirmations: dict[str, deque[asyncio.Future[None]]] = {}

    def topic_channel(self, topic: str) -> str:
        return f"{self.namespace}:t:{topic}"

    @property
    def node_channel(self) -> str:
        return f"{self.namespace}:n:{self.node_name}"

    # Adapter contract

    async def start(self, pubsub: LocalPubSub) -> None:
        self._pubsub = pubsub
        client = aioredis.Redis.from_url(
            self.url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2.0
        )
        # Publishing has its own connection, with a timeout: a Redis that stops
        # answering counts as down instead of stalling every broadcast.
        publisher = aioredis.Redis.from_url(
            self.url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2.0, socket_timeout=5.0
        )
        self._clients = [client, publisher]
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(client)),
            loop.create_task(self._send_commands()),
            loop.create_task(self._publish(publisher)),
        ]
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
        for client in self._clients:
            await client.aclose()
        self._clients = []

    async def broadcast(self, topic: str, message: Any) -> None:
        await self._queue(self.topic_channel(topic), topic, message)

    async def direct_broadcast(self, node_name: str, topic: str, message: Any) -> None:
        await self._queue(f"{self.namespace}:n:{node_name}", topic, message)

    def watch(self, topic: str) -> None:
        channel = self.topic_channel(topic)
        self._channels.add(channel)
        if self._listener is not None:  # else the next connection subscribes to _channels
            self._command(_SUBSCRIBE, channel)

    def unwatch(self, topic: str) -> None:
        channel = self.topic_channel(topic)
        self._channels.discard(channel)
        if self._listener is not None:
            self._command(_UNSUBSCRIBE, channel)

    async def subscribed(self, topic: str) -> None:
        """Return once Redis has confirmed the newest SUBSCRIBE sent for ``topic``.

        Returns at once when the topic is not watched, when nothing is pending
        for it, or when Redis is not connected (local subscribers only, until
        the reconnection resubscribes). Waits ``subscribe_timeout`` at most,
        then logs a warning and returns.
        """
        channel = self.topic_channel(topic)
        waiting = self._confirmations.get(channel)
        if not waiting or channel not in self._channels or not self.connected.is_set():
            return
        try:
            async with asyncio.timeout(self.subscribe_timeout):
                # shielded: a cancelled waiter leaves the future to the others
                await asyncio.shield(waiting[-1])
        except TimeoutError:
            logger.warning(
                "Redis has not confirmed the subscription to %r within %s s; "
                "broadcasts from other instances on it may be missed until it does",
                topic,
                self.subscribe_timeout,
            )

    # Publishing

    async def _queue(self, channel: str, topic: str, message: Any) -> None:
        data = self._pubsub.codec.encode(self.node_name, topic, message)
        while len(self._outbox) >= self._max_pending:
            if not self._publishing_ok:
                self._outbox.popleft()
                _report_error("drop", 1, "Redis is down")
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

    async def _publish(self, publisher: aioredis.Redis) -> None:
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while self._outbox:
                batch = [
                    self._outbox.popleft() for _ in range(min(len(self._outbox), _PUBLISH_BATCH))
                ]
                began = time.perf_counter_ns()
                try:
                    async with publisher.pipeline(transaction=False) as pipe:
                        for channel, data in batch:
                            pipe.publish(channel, data)
                        await pipe.execute()
                    if PUBSUB_PUBLISH.handlers:
                        measurements = {"duration": time.perf_counter_ns() - began}
                        measurements |= {"messages": len(batch), "queued": len(self._outbox)}
                        PUBSUB_PUBLISH.emit(measurements, {"adapter": "redis"})
                    if not self._publishing_ok:
                        logger.info("Redis publishing works again")
                    self._publishing_ok, self._dropping = True, False
                except (aioredis.RedisError, OSError) as exc:
                    _report_error("publish", len(batch), exc)
                    if self._publishing_ok:
                        logger.warning(
                            "Redis publish failed (%s); dropping messages until it is back", exc
                        )
                    self._publishing_ok = False
                    self._outbox_room.set()
                    await asyncio.sleep(0.1)
                self._outbox_room.set()

    # Subscribing

    def _command(self, verb: str, channel: str) -> None:
        """Queue ``verb`` for the current connection; a SUBSCRIBE awaits its confirmation."""
        self._commands.append((verb, channel))
        if verb == _SUBSCRIBE:
            self._expect(channel)
        self._commands_ready.set()

    def _expect(self, channel: str) -> None:
        waiting = self._confirmations.get(channel)
        if waiting is None:
            waiting = self._confirmations[channel] = deque()
        waiting.append(asyncio.get_running_loop().create_future())

    def _confirm(self, channel: bytes | str) -> None:
        """Redis confirmed the oldest SUBSCRIBE in flight for ``channel``."""
        name = channel.decode() if isinstance(channel, bytes) else channel
        waiting = self._confirmations.get(name)
        if waiting:  # none for the node channel
            future = waiting.popleft()
            if not waiting:
                del self._confirmations[name]
            if not future.done():
                future.set_result(None)

    def _connection_gone(self) -> None:
        """Forget what was meant for the lost connection and release every waiter."""
        self._listener = None
        self.connected.clear()
        self._commands.clear()
        confirmations, self._confirmations = self._confirmations, {}
        for waiting in confirmations.values():
            for future in waiting:
                if not future.done():
                    future.set_result(None)

    async def _send_commands(self) -> None:
        """Send the queued (UN)SUBSCRIBEs in order, consecutive ones of a kind together."""
        while True:
            await self._commands_ready.wait()
            self._commands_ready.clear()
            listener = self._listener
            commands = self._commands
            while commands and self.connected.is_set() and listener is self._listener:
                verb, channel = commands.popleft()
                channels = [channel]
                while commands and commands[0][0] == verb and len(channels) < _COMMAND_BATCH:
                    channels.append(commands.popleft()[1])
                try:
                    await getattr(listener, verb)(*channels)
                except (aioredis.RedisError, OSError) as exc:
                    _report_error("subscribe", len(channels), exc)
                    # The connection is failing: the listener sees it too, releases
                    # the waiters and resubscribes to every channel on reconnecting.
                    logger.debug("Redis %s failed (%r); the reconnection will redo it", verb, exc)
                    break
                except Exception:  # a bug must not end the task: later joins need it
                    logger.exception("Redis %s of %d channels failed", verb, len(channels))
                    break

    # Receiving

    async def _listen(self, client: aioredis.Redis) -> None:
        backoff = 0.1
        lost = False
        while True:
            # Subscribe confirmations are read, not ignored: they resolve _confirmations.
            listener: Any = client.pubsub()
            channels = list(self._channels)
            self._listener = listener  # watch/unwatch now queue commands for this connection
            for channel in channels:
                self._expect(channel)  # the resubscription confirms, too
            try:
                await listener.subscribe(self.node_channel, *channels)
                self.connected.set()
                self._commands_ready.set()  # what was queued while connecting goes next
                if lost:
                    logger.info("Redis connection back; resubscribed to %d topics", len(channels))
                lost, backoff = False, 0.1
                while True:
                    message = await listener.get_message(timeout=None)
                    if message is None:
                        continue
                    kind = message.get("type")
                    if kind == "message":
                        self._receive(message["data"])
                    elif kind == "subscribe":
                        self._confirm(message["channel"])
            except asyncio.CancelledError:
                raise
            except (aioredis.RedisError, OSError) as exc:
                _report_error("connection", 1, exc)
                if not lost:
                    logger.warning("Redis connection lost (%s); reconnecting", exc)
                lost = True
            finally:
                self._connection_gone()
                with contextlib.suppress(Exception):  # the connection may be gone already
                    await listener.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def _receive(self, data: bytes) -> None:
        try:
            origin, topic, message = self._pubsub.codec.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            logger.warning("ignoring a Redis message that does not decode: %s", exc)
            _report_error("decode", 1, exc)
            return
        if origin != self.node_name:
            try:
                self._pubsub.local_broadcast(topic, message)
            except Exception:  # a bug downstream must not end the listener
                logger.exception("local delivery of a Redis message on %r failed", topic)


def _report_error(operation: str, count: int, error: BaseException | str) -> None:
    if PUBSUB_ERROR.handlers:
        PUBSUB_ERROR.emit(
            {"count": count}, {"adapter": "redis", "operation": operation, "error": error}
        )
