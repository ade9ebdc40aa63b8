"""Test your channels in-process, the way Phoenix.ChannelTest does on ExUnit.

No network and no server: ``connect`` runs your socket's ``connect`` and
``id``, and what the channels send is recorded as phoenix.js would read it
(encoded with the V2 serializer and decoded again, so a payload that could
not reach a real client fails here too). With pytest and anyio (or
pytest-asyncio)::

    from phoenix_py.testing import connect

    async def test_shout_reaches_everyone():
        socket = await connect(UserSocket, {"user": "ann"})
        response, room = await socket.subscribe_and_join("room:lobby", {})
        assert response == {"user": "ann"}

        ref = await room.push("new_msg", {"body": "hi"})
        await room.assert_reply(ref, "ok")
        await socket.assert_broadcast("new_msg", {"user": "ann", "body": "hi"})
        await room.assert_push("new_msg", {"user": "ann", "body": "hi"})
        await room.refute_push("something_else")
        await socket.close()

Every ``assert_*`` waits up to ``timeout`` (0.1 s by default, as ExUnit's
``assert_receive``) and returns the payload it matched; a failure lists what
did arrive. ``refute_*`` waits the same time for nothing to match. An
exception raised in a channel callback is raised again in the test by the
next assertion, with the channel's traceback.

``connect`` raises ``ConnectionRefused`` when the socket refuses;
``join``/``subscribe_and_join`` raise ``JoinRefused`` on an error reply.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from ._core.message import Broadcast, Message
from ._core.serializer import V2_JSON, Frame, client_decode, client_encode
from .asgi import Endpoint
from .errors import PhoenixError, UsageError
from .socket import Socket
from .types import ConnectInfo

__all__ = ["ANY", "JoinRefused", "TestChannel", "TestSocket", "connect"]

DEFAULT_TIMEOUT = 0.1


class _Any:
    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ANY"


#: Matches any payload.
ANY: Any = _Any()


class JoinRefused(PhoenixError):
    """The join was answered with an error reply (``status``, ``response``)."""

    def __init__(self, topic: str, status: str, response: Any) -> None:
        super().__init__(f"join of {topic!r} refused: {status} {response!r}")
        self.status = status
        self.response = response


class _Recorder:
    """The test side of the connection: frames the client would get, closes."""

    name = "test"

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.closed_with: tuple[int, str] | None = None

    def write(self, frame: Frame) -> None:
        if self.closed_with is None:
            self.messages.append(client_decode(frame))

    def close(self, code: int, reason: str) -> None:
        if self.closed_with is None:
            self.closed_with = (code, reason)


class _BroadcastRecorder:
    def __init__(self) -> None:
        self.broadcasts: list[Broadcast] = []

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        if isinstance(message, Broadcast):
            self.broadcasts.append(message)


async def connect(
    socket_cls: type[Socket],
    params: dict[str, Any] | None = None,
    *,
    connect_info: ConnectInfo | None = None,
    auth_token: str | None = None,
    endpoint: Endpoint | None = None,
    state: Any = None,
    context: Any = None,
) -> TestSocket:
    """Connect ``socket_cls`` with ``params`` (strings, as a query string gives).

    ``endpoint`` defaults to a fresh one (in-memory pubsub) holding ``state``
    (what ``Endpoint(state=...)`` gives sockets and channels); pass your app's
    endpoint instead to share its pubsub, presence and state with the test.
    ``context`` is what ``socket_app(context=...)`` would give the socket.
    Raises ``ConnectionRefused`` (with its ``status``) when the socket refuses.
    """
    if endpoint is None:
        endpoint = Endpoint(state=state)
    elif state is not None:
        raise UsageError("connect(state=...) makes an endpoint: give endpoint=... its own state")
    params = dict(params or {})
    info = connect_info or ConnectInfo(
        transport="test",
        headers={},
        peer=("127.0.0.1", 0),
        scheme="ws",
        host="localhost",
        path="/socket/websocket",
        query_string="",
        auth_token=auth_token,
    )
    socket = await endpoint.connect(socket_cls, params, info, context=context)
    return TestSocket(endpoint, socket)


class TestSocket:
    """A connected socket; see the module docs."""

    __test__ = False  # not a pytest test class

    def __init__(self, endpoint: Endpoint, socket: Socket) -> None:
        self.endpoint = endpoint
        self.socket = socket
        self._recorder = _Recorder()
        self._broadcasts = _BroadcastRecorder()
        self._refs = itertools.count(1)
        self._crashes: list[BaseException] = []
        self._consumed: set[int] = set()  # indexes of messages an assertion took
        self.server = endpoint.open(socket, V2_JSON, self._recorder, max_frame_size=10_000_000)
        self.server.on_crash = lambda topic, exc: self._crashes.append(exc)

    @property
    def assigns(self) -> dict[str, Any]:
        return self.socket.assigns

    def next_ref(self) -> str:
        return str(next(self._refs))

    async def send(self, message: Message) -> None:
        """Send a raw client message, as phoenix.js would (V2)."""
        frame = client_encode(message)
        self.server.feed(frame.data if frame.binary else frame.text, binary=frame.binary)
        await self.server.settled()

    async def join(
        self, topic: str, payload: Any = None, *, timeout: float = 1.0
    ) -> tuple[Any, TestChannel]:
        """Join ``topic``: (the join response, the channel); ``JoinRefused`` on error.

        ``timeout`` bounds the join itself (1 s: joins may read a database)."""
        ref = self.next_ref()
        await self.send(Message(topic, "phx_join", {} if payload is None else payload, ref, ref))
        reply = await self.wait_for(
            lambda m: m.event == "phx_reply" and m.ref == ref and m.topic == topic,
            f"a reply to the join of {topic!r}",
            timeout,
        )
        status, response = reply.payload["status"], reply.payload["response"]
        if status != "ok":
            raise JoinRefused(topic, status, response)
        return response, TestChannel(self, topic, ref)

    async def subscribe_and_join(
        self, topic: str, payload: Any = None, *, timeout: float = 1.0
    ) -> tuple[Any, TestChannel]:
        """``join``, after subscribing the test to ``topic`` for ``assert_broadcast``."""
        self.endpoint.pubsub.subscribe(topic, self._broadcasts)
        return await self.join(topic, payload, timeout=timeout)

    async def assert_push(
        self,
        event: str,
        payload: Any = ANY,
        *,
        topic: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Any:
        """A push (or broadcast) ``event`` reached the client; returns its payload."""
        message = await self.wait_for(
            _push_matcher(event, payload, topic), f"a push {event!r} {payload!r}", timeout
        )
        return message.payload

    async def refute_push(
        self,
        event: str,
        payload: Any = ANY,
        *,
        topic: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        await self.refute(_push_matcher(event, payload, topic), f"a push {event!r}", timeout)

    async def assert_broadcast(
        self,
        event: str,
        payload: Any = ANY,
        *,
        topic: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Any:
        """``event`` was broadcast on a topic joined with ``subscribe_and_join``."""
        found = await self._poll(
            lambda: next(
                (
                    b
                    for b in self._broadcasts.broadcasts
                    if b.event == event and b.payload == payload and topic in (None, b.topic)
                ),
                None,
            ),
            timeout,
        )
        if found is None:
            raise AssertionError(
                f"expected a broadcast {event!r} {payload!r} within {timeout} s; "
                f"broadcasts seen: {self._broadcasts.broadcasts!r}"
            )
        self._broadcasts.broadcasts.remove(found)
        return found.payload

    async def assert_closed(self, code: int | None = None, timeout: float = DEFAULT_TIMEOUT) -> int:
        """The server closed the connection (with ``code``, when given); returns the code."""
        closed: tuple[int, str] | None = await self._poll(
            lambda: self._recorder.closed_with, timeout
        )
        if closed is None or (code is not None and closed[0] != code):
            raise AssertionError(f"expected a close {code or ''} within {timeout} s; got {closed}")
        return closed[0]

    async def close(self) -> None:
        """The client goes away: every channel terminates (reason ``"closed"``)."""
        self.server.connection_lost()
        await asyncio.sleep(0)

    def received(self) -> list[Message]:
        """Every message the client got so far, in order."""
        return list(self._recorder.messages)

    # Waiting

    async def _poll(
        self, probe: Callable[[], Any], timeout: float, *, raise_crashes: bool = True
    ) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if raise_crashes:
                self.raise_crash()
            found = probe()
            if found is not None or asyncio.get_running_loop().time() >= deadline:
                return found
            await asyncio.sleep(0.002)

    def _find(self, match: Callable[[Message], bool]) -> Message | None:
        for index, message in enumerate(self._recorder.messages):
            if index not in self._consumed and match(message):
                self._consumed.add(index)
                return message
        return None

    async def wait_for(
        self,
        match: Callable[[Message], bool],
        what: str,
        timeout: float,
        *,
        raise_crashes: bool = True,
    ) -> Message:
        """The first message not yet taken by an assertion that ``match`` accepts,
        within ``timeout`` seconds; an ``AssertionError`` naming ``what`` if none."""
        found: Message | None = await self._poll(
            lambda: self._find(match), timeout, raise_crashes=raise_crashes
        )
        if found is None:
            raise AssertionError(
                f"expected {what} within {timeout} s; the client got: {self.received()!r}"
            )
        return found

    async def refute(self, match: Callable[[Message], bool], what: str, timeout: float) -> None:
        """No message that ``match`` accepts arrives within ``timeout`` seconds."""
        await asyncio.sleep(timeout)
        self.raise_crash()
        offending = [
            m for i, m in enumerate(self._recorder.messages) if i not in self._consumed and match(m)
        ]
        if offending:
            raise AssertionError(f"expected no {what}; the client got {offending!r}")

    def raise_crash(self) -> None:
        """Raise the first channel exception recorded and not raised yet, if any."""
        if self._crashes:
            raise self._crashes.pop(0)

    def forget_crashes(self) -> None:
        """Drop the channel exceptions recorded so far (a crash the test expected)."""
        self._crashes.clear()


def _push_matcher(event: str, payload: Any, topic: str | None) -> Callable[[Message], bool]:
    def match(message: Message) -> bool:
        return (
            message.event == event
            and message.payload == payload
            and (topic is None or message.topic == topic)
        )

    return match


class TestChannel:
    """A joined channel; assertions are scoped to its topic."""

    __test__ = False

    def __init__(self, socket: TestSocket, topic: str, join_ref: str) -> None:
        self.socket = socket
        self.topic = topic
        self.join_ref = join_ref

    async def push(self, event: str, payload: Any = None) -> str:
        """Send ``event`` from the client; returns its ref for ``assert_reply``."""
        ref = self.socket.next_ref()
        message = Message(self.topic, event, {} if payload is None else payload, ref, self.join_ref)
        await self.socket.send(message)
        return ref

    async def leave(self) -> str:
        return await self.push("phx_leave", {})

    async def assert_reply(
        self,
        ref: str,
        status: str = "ok",
        payload: Any = ANY,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Any:
        """The reply to ``ref`` has ``status`` (and ``payload``); returns its response."""
        message = await self.socket.wait_for(
            lambda m: (
                m.event == "phx_reply"
                and m.ref == ref
                and m.topic == self.topic
                and m.payload["status"] == status
                and m.payload["response"] == payload
            ),
            f"a {status!r} reply to ref {ref!r} with {payload!r}",
            timeout,
        )
        return message.payload["response"]

    async def refute_reply(self, ref: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        await self.socket.refute(
            lambda m: m.event == "phx_reply" and m.ref == ref and m.topic == self.topic,
            f"reply to ref {ref!r}",
            timeout,
        )

    async def assert_push(
        self, event: str, payload: Any = ANY, *, timeout: float = DEFAULT_TIMEOUT
    ) -> Any:
        return await self.socket.assert_push(event, payload, topic=self.topic, timeout=timeout)

    async def refute_push(
        self, event: str, payload: Any = ANY, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        await self.socket.refute_push(event, payload, topic=self.topic, timeout=timeout)

    async def assert_broadcast(
        self, event: str, payload: Any = ANY, *, timeout: float = DEFAULT_TIMEOUT
    ) -> Any:
        return await self.socket.assert_broadcast(event, payload, topic=self.topic, timeout=timeout)

    async def assert_close(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """The server closed this channel (``phx_close``)."""
        await self.socket.wait_for(
            lambda m: m.event == "phx_close" and m.topic == self.topic, "a phx_close", timeout
        )

    async def assert_error(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """The channel crashed (``phx_error``); the crash itself is not re-raised."""
        await self.socket.wait_for(
            lambda m: m.event == "phx_error" and m.topic == self.topic,
            "a phx_error",
            timeout,
            raise_crashes=False,
        )
        self.socket.forget_crashes()
