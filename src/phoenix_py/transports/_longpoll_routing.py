"""The LongPoll sessions of this node, and requests for sessions on other nodes.

No sticky sessions (PHOENIX_PROTOCOL.md §4.2): a poll or a POST may reach any
instance. Its session token names the node that holds the session; when that
is another node, the request travels there through the pubsub
(``direct_broadcast`` to that node, on topic ``phx_longpoll``), the owner runs
it on the session, and the answer comes back the same way to the node that
asked, which answers the client as if the session were local.

The exchange, for one request:

1. the asking node sends ``PollRequest`` or ``PublishRequest`` with a fresh
   ``request_id`` and its own node name;
2. the owner answers ``SessionMissing``, or ``RequestAccepted`` and then, once
   the session has handled it, ``PollAnswer`` or ``PublishAnswer``.

No first answer within ``pubsub_timeout`` (2 s, as Phoenix) means the owner is
gone: the session counts as missing (a GET creates a new one, a POST gets
410). An accepted request whose answer never comes ends as a poll without
messages (204) or a timed-out POST (408).

Invariants:

* Messages between nodes are tagged, frozen, array-like msgspec structs,
  registered with the pubsub's codec; unknown or late answers are ignored.
* ``deliver`` never raises and never awaits; requests for local sessions run
  in tasks held until they finish.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine, Sequence
from typing import Any

import msgspec

from .._core.longpoll_wire import ClientFrame
from .._core.session_token import SessionRef
from ..pubsub.base import PubSub
from ._longpoll_session import GONE, REQUEST_TIMEOUT, LongPollSession

logger = logging.getLogger("phoenix_py.transport")

TOPIC = "phx_longpoll"


class PollRequest(msgspec.Struct, frozen=True, tag="phx_lp.poll", array_like=True):
    request_id: str
    reply_to: str
    session_id: str


class PublishRequest(msgspec.Struct, frozen=True, tag="phx_lp.publish", array_like=True):
    request_id: str
    reply_to: str
    session_id: str
    frames: list[tuple[bytes, bool]]


class RequestAccepted(msgspec.Struct, frozen=True, tag="phx_lp.accepted", array_like=True):
    request_id: str


class SessionMissing(msgspec.Struct, frozen=True, tag="phx_lp.missing", array_like=True):
    request_id: str


class PollAnswer(msgspec.Struct, frozen=True, tag="phx_lp.polled", array_like=True):
    request_id: str
    messages: list[str]


class PublishAnswer(msgspec.Struct, frozen=True, tag="phx_lp.published", array_like=True):
    request_id: str
    status: int


_Answer = RequestAccepted | SessionMissing | PollAnswer | PublishAnswer
_NO_ANSWER = object()  # accepted, then silence


class LongPollSessions:
    """This node's LongPoll sessions, reachable from every node of the pubsub.

    Args:
        pubsub: the endpoint's pubsub; its adapter reaches the other nodes.
    """

    def __init__(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub
        self._local: dict[str, LongPollSession] = {}
        self._pending: dict[str, asyncio.Queue[_Answer]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        pubsub.codec.register(
            PollRequest, PublishRequest, RequestAccepted, SessionMissing, PollAnswer, PublishAnswer
        )
        pubsub.subscribe(TOPIC, self)

    @property
    def node(self) -> str:
        return self._pubsub.node_name

    def __len__(self) -> int:
        return len(self._local)

    def add(self, session: LongPollSession) -> SessionRef:
        self._local[session.session_id] = session
        return SessionRef(self.node, session.session_id)

    def discard(self, session: LongPollSession) -> None:
        if self._local.get(session.session_id) is session:
            del self._local[session.session_id]

    # Requests, wherever their session is

    async def poll(
        self, ref: SessionRef, *, window: float, pubsub_timeout: float
    ) -> list[str] | None:
        """The session's messages (``[]``: none within the window), or ``None``
        when the session does not exist (any more)."""
        if ref.node == self.node:
            session = self._local.get(ref.session_id)
            return None if session is None else await session.poll()
        request = PollRequest(_request_id(), self.node, ref.session_id)
        answer = await self._forward(ref.node, request, pubsub_timeout, window + pubsub_timeout)
        if answer is None:
            return None
        return answer.messages if isinstance(answer, PollAnswer) else []

    async def publish(
        self,
        ref: SessionRef,
        frames: Sequence[ClientFrame],
        *,
        window: float,
        pubsub_timeout: float,
    ) -> int:
        """Hand ``frames`` to the session; returns the POST's JSON status (§4.4)."""
        if ref.node == self.node:
            session = self._local.get(ref.session_id)
            return GONE if session is None else await session.publish(frames)
        request = PublishRequest(_request_id(), self.node, ref.session_id, list(frames))
        answer_within = window * max(len(frames), 1) + pubsub_timeout
        answer = await self._forward(ref.node, request, pubsub_timeout, answer_within)
        if answer is None:
            return GONE
        return answer.status if isinstance(answer, PublishAnswer) else REQUEST_TIMEOUT

    async def _forward(
        self,
        node: str,
        request: PollRequest | PublishRequest,
        pubsub_timeout: float,
        answer_within: float,
    ) -> Any:
        """The owner's final answer; ``None`` if the session is missing or the
        owner silent; ``_NO_ANSWER`` if it accepted, then never answered."""
        answers: asyncio.Queue[_Answer] = asyncio.Queue()
        self._pending[request.request_id] = answers
        try:
            await self._pubsub.direct_broadcast(node, TOPIC, request)
            try:
                async with asyncio.timeout(pubsub_timeout):
                    first = await answers.get()
            except TimeoutError:
                logger.info("LongPoll node %s did not answer within %.1f s", node, pubsub_timeout)
                return None
            if isinstance(first, SessionMissing):
                return None
            if not isinstance(first, RequestAccepted):
                return first
            try:
                async with asyncio.timeout(answer_within):
                    return await answers.get()
            except TimeoutError:
                return _NO_ANSWER
        finally:
            del self._pending[request.request_id]

    # Messages from the pubsub

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        if isinstance(message, PollRequest | PublishRequest):
            self._spawn(self._serve(message))
        elif isinstance(message, _Answer):
            answers = self._pending.get(message.request_id)
            if answers is not None:
                answers.put_nowait(message)

    async def _serve(self, request: PollRequest | PublishRequest) -> None:
        session = self._local.get(request.session_id)
        reply_to, request_id = request.reply_to, request.request_id
        if session is None:
            await self._answer(reply_to, SessionMissing(request_id))
            return
        await self._answer(reply_to, RequestAccepted(request_id))
        if isinstance(request, PollRequest):
            await self._answer(reply_to, PollAnswer(request_id, await session.poll()))
        else:
            status = await session.publish(request.frames)
            await self._answer(reply_to, PublishAnswer(request_id, status))

    async def _answer(self, node: str, answer: _Answer) -> None:
        await self._pubsub.direct_broadcast(node, TOPIC, answer)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._served)

    def _served(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("serving a forwarded LongPoll request failed", exc_info=task.exception())


def _request_id() -> str:
    return secrets.token_urlsafe(12)
