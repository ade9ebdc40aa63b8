"""Channels with a history, in-process: the ref slot, the join's ``since``, and no gap
and no duplicate whichever way a message reaches a rejoining channel."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

import pytest

from phoenix_py import Channel, ChannelReply, PubSub, Socket, ok
from phoenix_py._core.history import Position, Recovery, TopicLog
from phoenix_py._core.serializer import V1_JSON, V2_JSON, Frame, Serializer
from phoenix_py._socket_server import SocketServer
from phoenix_py.errors import HistoryUnavailable, UsageError
from phoenix_py.history import History, MemoryHistory
from phoenix_py.pubsub.redis import RedisAdapter

joins: list[Any] = []


class Feed(Channel):
    """A channel whose history is the socket's state (as an app hands it over)."""

    intercepts = ("masked",)
    state: History

    @property
    def history(self) -> History:
        return self.state

    async def join(self, topic: str, payload: Any) -> dict[str, Any]:
        joins.append(payload)
        return {"hello": True}

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "shout":
            position = await self.broadcast("shout", payload)
            return ok({"offset": position.offset if position else None})
        if event == "others":
            await self.broadcast_from("shout", payload)
            return ok()
        if event == "masked":
            await self.broadcast("masked", payload)
            return ok()
        raise ValueError(event)

    async def handle_out(self, event: str, payload: Any) -> None:
        self.push(event, {**payload, "masked": True})


class FeedSocket(Socket):
    channels = (("feed:*", Feed),)


class Client:
    """One connection, recording frames as a client decodes them."""

    name = "test"

    def __init__(self, history: History, serializer: Serializer = V2_JSON) -> None:
        self.frames: list[Any] = []
        socket = FeedSocket()
        socket.state = history
        self.server = SocketServer(socket, serializer, self, history.pubsub, max_frame_size=100_000)

    def write(self, frame: Frame) -> None:
        self.frames.append(frame.data if frame.binary else json.loads(frame.data))

    def close(self, code: int, reason: str) -> None:
        pass

    async def send(self, *frame: Any) -> None:
        join_ref, ref, topic, event, payload = frame
        if self.server.serializer is V1_JSON:
            data = {"join_ref": join_ref, "ref": ref, "topic": topic, "event": event}
            self.server.feed(json.dumps({**data, "payload": payload}), binary=False)
        else:
            self.server.feed(json.dumps(list(frame)), binary=False)
        await self.server.settled()
        await settle()

    async def join(self, topic: str, payload: Any) -> Any:
        await self.send("1", "1", topic, "phx_join", payload)
        last = self.frames[-1]
        return last["payload"] if isinstance(last, dict) else last[4]

    def shouts(self) -> list[tuple[Any, Any]]:
        """(ref, payload) of every ``shout`` broadcast received, in order."""
        return [(f[1], f[4]) for f in self.frames if isinstance(f, list) and f[3] == "shout"]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_kept_broadcasts_carry_offset_and_epoch_in_the_ref_slot() -> None:
    async def go() -> None:
        history = History(PubSub())
        v2, v1 = Client(history), Client(history, V1_JSON)
        reply = await v2.join("feed:1", {})
        epoch = reply["response"]["epoch"]
        assert reply == {"status": "ok", "response": {"hello": True, "offset": 0, "epoch": epoch}}
        await v1.join("feed:1", {})
        await v2.send("1", "2", "feed:1", "shout", {"n": 1})
        assert v2.frames[-2:] == [
            [None, f"1:{epoch}", "feed:1", "shout", {"n": 1}],
            ["1", "2", "feed:1", "phx_reply", {"status": "ok", "response": {"offset": 1}}],
        ]
        assert v1.frames[-1] == {"topic": "feed:1", "event": "shout", "payload": {"n": 1},
                                 "ref": f"1:{epoch}"}  # fmt: skip
        # A binary broadcast has no ref slot: it arrives, without its offset.
        await history.broadcast("feed:1", "blob", b"\x00\x01")
        await settle()
        assert isinstance(v2.frames[-1], bytes) and v2.frames[-1].endswith(b"\x00\x01")

    run(go())


def test_a_rejoin_gets_what_it_missed_after_its_reply_then_the_live_stream() -> None:
    async def go() -> None:
        history = History(PubSub())
        sender, away = Client(history), Client(history)
        await sender.join("feed:1", {})
        epoch = (await away.join("feed:1", {}))["response"]["epoch"]
        await sender.send("1", "2", "feed:1", "shout", {"n": 1})
        away.server.connection_lost()
        for n in range(2, 7):
            await sender.send("1", str(n + 1), "feed:1", "shout", {"n": n})
        back = Client(history)
        await back.send("1", "1", "feed:1", "phx_join", {"since": {"offset": 1, "epoch": epoch}})
        reply = back.frames[0]
        assert reply[3] == "phx_reply" and reply[4]["response"] == {
            "hello": True,
            "recovered": True,
            "offset": 6,
            "epoch": epoch,
        }
        await sender.send("1", "9", "feed:1", "shout", {"n": 7})
        assert back.shouts() == [(f"{n}:{epoch}", {"n": n}) for n in range(2, 8)]

    run(go())


class LaggingStore:
    """Numbers at once and delivers later, in offset order: what a Redis subscriber
    sees when its subscription connection is slower than the script's reply."""

    def __init__(self) -> None:
        self.logs: dict[str, TopicLog] = {}
        self.in_flight: deque[Any] = deque()
        self.during_recover: list[Any] = []  # callables run while a join reads
        self.pubsub: PubSub | None = None

    def bind(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub

    async def publish(
        self, topic: str, event: str, payload: Any, *, sender: str | None, size: int, ttl: float
    ) -> Position:
        log = self.logs.setdefault(topic, TopicLog(size, ttl, 0.0))
        publication = log.append(topic, event, payload, sender, 0.0)
        self.in_flight.append(publication)
        return Position(publication.offset, publication.epoch)

    def release(self) -> None:
        assert self.pubsub is not None
        while self.in_flight:
            publication = self.in_flight.popleft()
            self.pubsub.local_broadcast(publication.topic, publication)

    async def recover(
        self, topic: str, since: Position | None, *, size: int, ttl: float
    ) -> Recovery:
        log = self.logs.setdefault(topic, TopicLog(size, ttl, 0.0))
        recovery = log.recover(since, 0.0)
        for action in self.during_recover:
            await action()
        return recovery


@pytest.mark.parametrize("released_before_the_reply", [False, True])
@pytest.mark.parametrize("published_during_the_read", [False, True])
def test_messages_racing_a_recovery_are_neither_lost_nor_doubled(
    released_before_the_reply: bool, published_during_the_read: bool
) -> None:
    async def go() -> None:
        store = LaggingStore()
        history = History(PubSub(), store=store)
        epoch = store.logs.setdefault("feed:1", TopicLog(1000, 300, 0.0)).epoch
        for n in range(1, 4):
            await history.broadcast("feed:1", "shout", {"n": n})
        store.release()
        for n in range(4, 6):  # numbered and kept, still on their way to subscribers
            await history.broadcast("feed:1", "shout", {"n": n})

        async def while_reading() -> None:
            if published_during_the_read:
                await history.broadcast("feed:1", "shout", {"n": 6})
            if released_before_the_reply:
                store.release()

        store.during_recover.append(while_reading)
        back = Client(history)
        await back.join("feed:1", {"since": {"offset": 2, "epoch": epoch}})
        store.during_recover.clear()
        store.release()
        await history.broadcast("feed:1", "shout", {"n": 7})
        store.release()
        await settle()
        # Offsets 3.. in order, once each: recovered, then live (n=7 is offset 6
        # when nothing was published during the read).
        payloads = [3, 4, 5, 6, 7] if published_during_the_read else [3, 4, 5, 7]
        assert back.shouts() == [
            (f"{offset}:{epoch}", {"n": n}) for offset, n in enumerate(payloads, start=3)
        ]

    run(go())


@pytest.mark.parametrize(
    "since",
    [
        -1,
        1.5,
        "3",
        None,
        True,
        {"offset": 2},
        {"offset": 2, "epoch": 3},
        {"offset": -2, "epoch": "e"},
    ],
)
def test_a_malformed_since_is_refused_before_the_channel_runs(since: Any) -> None:
    async def go() -> None:
        joins.clear()
        client = Client(History(PubSub()))
        reply = await client.join("feed:1", {"since": since})
        assert reply == {"status": "error", "response": {"reason": "invalid since"}}
        assert joins == []
        # the socket lives on: the same topic joins with a good payload
        assert (await client.join("feed:1", {}))["status"] == "ok"

    run(go())


def test_since_beyond_the_last_offset_or_of_another_epoch_is_not_recovered() -> None:
    async def go() -> None:
        history = History(PubSub())
        client = Client(history)
        epoch = (await client.join("feed:1", {}))["response"]["epoch"]
        await client.send("1", "2", "feed:1", "shout", {"n": 1})
        for since in ({"offset": 5, "epoch": epoch}, {"offset": 0, "epoch": "other"}):
            other = Client(history)
            reply = await other.join("feed:1", {"since": since})
            assert reply["response"] == {
                "hello": True,
                "recovered": False,
                "offset": 1,
                "epoch": epoch,
            }
            assert other.shouts() == []

    run(go())


def test_broadcast_from_skips_its_sender_only() -> None:
    async def go() -> None:
        history = History(PubSub())
        sender, other = Client(history), Client(history)
        await sender.join("feed:1", {})
        await other.join("feed:1", {})
        await sender.send("1", "2", "feed:1", "others", {"n": 1})
        assert sender.shouts() == []
        assert [payload for _, payload in other.shouts()] == [{"n": 1}]

    run(go())


def test_an_intercepted_kept_event_reaches_handle_out() -> None:
    async def go() -> None:
        history = History(PubSub())
        client = Client(history)
        await client.join("feed:1", {})
        await client.send("1", "2", "feed:1", "masked", {"n": 1})
        pushes = [f for f in client.frames if f[3] == "masked"]
        assert pushes == [["1", None, "feed:1", "masked", {"n": 1, "masked": True}]]

    run(go())


class BrokenStore(LaggingStore):
    async def publish(self, topic: str, event: str, payload: Any, **options: Any) -> Position:
        raise HistoryUnavailable("Redis is down")

    async def recover(self, topic: str, since: Position | None, **options: Any) -> Recovery:
        raise HistoryUnavailable("Redis is down")


def test_an_unreachable_store_refuses_the_join_with_a_reason() -> None:
    async def go() -> None:
        history = History(PubSub(), store=BrokenStore())
        client = Client(history)
        reply = await client.join("feed:1", {})
        assert reply == {"status": "error", "response": {"reason": "history unavailable"}}
        assert history.pubsub.subscriber_count("feed:1") == 0

    run(go())


class UnwritableStore(LaggingStore):
    async def publish(self, topic: str, event: str, payload: Any, **options: Any) -> Position:
        raise HistoryUnavailable("Redis is down")


def test_a_broadcast_the_store_cannot_keep_crashes_that_channel_only() -> None:
    async def go() -> None:
        working = History(PubSub())
        client = Client(working)
        await client.join("feed:1", {})
        client.server.socket.state = History(working.pubsub, store=UnwritableStore())
        await client.send("2", "2", "feed:2", "phx_join", {})
        await client.send("2", "3", "feed:2", "shout", {"n": 1})
        assert client.frames[-1] == ["2", "2", "feed:2", "phx_error", {"reason": "channel_crash"}]
        await client.send("1", "4", "feed:1", "shout", {"n": 2})  # the first channel lives on
        assert client.frames[-1][4] == {"status": "ok", "response": {"offset": 1}}

    run(go())


def test_a_memory_history_refuses_a_cluster_pubsub() -> None:
    with pytest.raises(UsageError, match="RedisHistory"):
        History(PubSub(RedisAdapter("redis://127.0.0.1:1/0")), store=MemoryHistory())


def test_a_history_of_another_pubsub_crashes_the_join() -> None:
    async def go() -> None:
        client = Client(History(PubSub()))
        client.server.socket.state = History(PubSub())
        reply = await client.join("feed:1", {})
        assert reply == {"status": "error", "response": {"reason": "join crashed"}}

    run(go())


def test_a_kept_broadcast_is_encoded_once_for_all_its_subscribers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoded: list[Any] = []
    fastlane = V2_JSON.fastlane

    def counting(broadcast: Any) -> Frame:
        encoded.append(broadcast)
        return fastlane(broadcast)

    async def go() -> None:
        history = History(PubSub())
        clients = [Client(history) for _ in range(50)]
        for client in clients:
            await client.join("feed:1", {})
        monkeypatch.setattr(V2_JSON, "fastlane", counting)
        await history.broadcast("feed:1", "shout", {"n": 1})
        await settle()
        assert len(encoded) == 1
        assert all(len(client.shouts()) == 1 for client in clients)

    run(go())
