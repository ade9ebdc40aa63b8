"""When the pubsub messages of live views reach them: at once while the server keeps
up, spaced out under a burst so that a view renders many messages at once.

A pubsub message for a live view waits in that view's batch until the ticker
releases the batch into the view's mailbox. A release happens at once unless
the views released last time have spent more than half the time since on
their batches; then it waits until that work is half the time since the last
release. A quiet room is not delayed at all (one message a second to 1,000
views is about 30 ms of work a second), while views behind a burst (5,000
joins into one room, each a presence diff for every view already there)
render each release's messages in one diff instead of one diff per message,
and the joins in between keep the other half of the loop.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

#: However busy the views are, a message waits no longer than this for its release.
MAX_WAIT_SECONDS = 1.0
#: Views released per event-loop pass: the loop reads (joins, events) between slices,
#: and a few hundred views' tasks at a time leave the cyclic collector little to promote.
SLICE = 256


class Batched(Protocol):
    def release_batch(self) -> None:
        """Hand the messages gathered so far to the mailbox, as one item."""
        ...


class RenderTicker:
    """Releases the batches of the views that have one; see the module docs."""

    __slots__ = ("_busy", "_handle", "_pending", "_released_at", "_round")

    def __init__(self) -> None:
        self._pending: list[Batched] = []
        self._round: list[Batched] = []  # released a slice per loop pass
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._busy = 0.0  # seconds the views spent on batches since the last release
        self._released_at = 0.0

    def add(self, view: Batched) -> None:
        """``view`` has just opened a batch: release it at the next tick."""
        self._pending.append(view)
        if self._handle is None:
            self._schedule(asyncio.get_running_loop())

    def spent(self, seconds: float) -> None:
        """A view took ``seconds`` over a released batch."""
        self._busy += seconds

    def _due(self) -> float:
        """The loop time of the next release: render work is at most half the time."""
        return self._released_at + min(2 * self._busy, MAX_WAIT_SECONDS)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        wait = self._due() - loop.time()
        if wait > 0:
            self._handle = loop.call_later(wait, self._tick, loop)
        else:
            self._handle = loop.call_soon(self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop.time() < self._due():  # the views of the last release went on working
            self._schedule(loop)
            return
        self._round, self._pending = self._pending, []
        self._released_at, self._busy = loop.time(), 0.0
        self._release_slice(loop)

    def _release_slice(self, loop: asyncio.AbstractEventLoop) -> None:
        views = self._round
        for view in views[:SLICE]:
            view.release_batch()
        del views[:SLICE]
        if views:  # after the tasks of this slice, which were scheduled first
            self._handle = loop.call_soon(self._release_slice, loop)
        elif self._pending:
            self._schedule(loop)
        else:
            self._handle = None
