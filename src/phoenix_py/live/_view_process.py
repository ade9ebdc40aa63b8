"""What a connected view does beside its channel: subscriptions, timers, tasks.

``ViewProcess`` is the ``ViewRuntime`` of a view over the socket (the dead
render has its own). The channel owns it, and everything it starts ends with
the channel (``close``):

* pubsub subscriptions, whose messages gather in a batch that the app's
  ``RenderTicker`` releases into the channel's mailbox (``_ticker``);
* ``send_after`` timers;
* ``start_async``/``assign_async`` tasks, whose outcome comes back through
  the mailbox, between the view's other callbacks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .._core.message import Broadcast
from ..pubsub.base import PubSub
from ._ticker import RenderTicker


class ProcessHost(Protocol):
    """What the process needs from the app (``app.Live``)."""

    pubsub: PubSub
    ticker: RenderTicker


class ViewChannel(Protocol):
    """The view's channel: the app's state, its mailbox (and, for Presence, its lifetime)."""

    @property
    def state(self) -> Any: ...

    def send_info(self, message: Any) -> None: ...

    def on_exit(self, callback: Callable[[], None]) -> None: ...


@dataclass(frozen=True, slots=True)
class AsyncDone:
    """A task's outcome, for the view's ``done`` callback."""

    done: Callable[[Any, BaseException | None], Awaitable[None]]
    result: Any
    error: BaseException | None


class PubSubBatch:
    """Pubsub messages that arrived since the view's last batch was released."""

    __slots__ = ("messages",)

    def __init__(self, message: Any) -> None:
        self.messages = [message]


class _Forward:
    """The process as a pubsub subscriber (one per topic, so each can be unsubscribed)."""

    __slots__ = ("process",)

    def __init__(self, process: ViewProcess) -> None:
        self.process = process

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        self.process.queue_pubsub(message)


class ViewProcess:
    """See the module docs."""

    def __init__(
        self, channel: ViewChannel, host: ProcessHost, connect_params: dict[str, Any]
    ) -> None:
        self._channel = channel
        self._host = host
        self._connect_params = connect_params
        self._subscriptions: dict[str, _Forward] = {}
        self._batch: PubSubBatch | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for timer in self._timers:
            timer.cancel()
        for topic in list(self._subscriptions):
            self.unsubscribe(topic)

    # Pubsub messages, in batches

    def queue_pubsub(self, message: Any) -> None:
        batch = self._batch
        if batch is None:
            self._batch = PubSubBatch(message)
            self._host.ticker.add(self)
        else:
            batch.messages.append(message)

    def release_batch(self) -> None:
        batch, self._batch = self._batch, None
        if batch is not None:
            self._channel.send_info(batch)

    # ViewRuntime

    @property
    def connected(self) -> bool:
        return True

    @property
    def state(self) -> Any:
        return self._channel.state

    @property
    def connect_params(self) -> dict[str, Any]:
        return self._connect_params

    def subscribe(self, topic: str) -> None:
        if topic not in self._subscriptions:
            forward = self._subscriptions[topic] = _Forward(self)
            self._host.pubsub.subscribe(topic, forward)

    def unsubscribe(self, topic: str) -> None:
        forward = self._subscriptions.pop(topic, None)
        if forward is not None:
            self._host.pubsub.unsubscribe(topic, forward)

    async def broadcast_to(self, topic: str, event: str, payload: Any) -> None:
        await self._host.pubsub.broadcast(topic, Broadcast(topic, event, payload))

    def track(self, presence: Any, topic: str, key: str, meta: dict[str, Any]) -> None:
        presence.track(self._channel, key, meta, topic=topic)

    def send_info(self, message: Any) -> None:
        self._channel.send_info(message)

    def send_after(self, message: Any, seconds: float) -> asyncio.TimerHandle:
        def fire() -> None:
            self._timers.discard(timer)
            self._channel.send_info(message)

        timer = asyncio.get_running_loop().call_later(seconds, fire)
        self._timers.add(timer)
        return timer

    def spawn(
        self, work: Awaitable[Any], done: Callable[[Any, BaseException | None], Awaitable[None]]
    ) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)

        def finished(task: asyncio.Task[Any]) -> None:
            self._tasks.discard(task)
            if task.cancelled():
                return
            failure = task.exception()
            self._channel.send_info(AsyncDone(done, None if failure else task.result(), failure))

        task.add_done_callback(finished)
