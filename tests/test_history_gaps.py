"""A joined channel whose node missed live messages (its pubsub subscription dropped,
its store restarted): it recovers them from the history before going on, or stops
with an error so that the client rejoins; it never skips a message silently."""

from __future__ import annotations

from typing import Any

from phoenix_py import PubSub
from phoenix_py._core.history import Position, Recovery, TopicLog
from phoenix_py.history import History

from .test_history_channel import Client, LaggingStore, run, settle


class DroppingStore(LaggingStore):
    """A store whose deliveries can be lost on the way (as a dropped subscription
    loses them), and which counts its reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[Position | None] = []

    def drop(self) -> None:
        self.in_flight.clear()

    def restart(self, topic: str) -> str:
        """The store lost the topic: a new epoch, numbered from 1."""
        log = self.logs[topic] = TopicLog(1000, 300, 0.0)
        return log.epoch

    async def recover(
        self, topic: str, since: Position | None, *, size: int, ttl: float
    ) -> Recovery:
        self.reads.append(since)
        return await super().recover(topic, since, size=size, ttl=ttl)


async def joined(store: DroppingStore, **options: Any) -> tuple[History, Client, str]:
    history = History(PubSub(), store=store, **options)
    client = Client(history)
    epoch = (await client.join("feed:1", {}))["response"]["epoch"]
    return history, client, epoch


async def shout(history: History, store: DroppingStore, *numbers: int, lost: bool = False) -> None:
    for n in numbers:
        await history.broadcast("feed:1", "shout", {"n": n})
    if lost:
        store.drop()
    else:
        store.release()
    await settle()


def test_messages_the_node_missed_are_recovered_before_the_next_live_one() -> None:
    async def go() -> None:
        store = DroppingStore()
        history, client, epoch = await joined(store)
        await shout(history, store, 1, 2)
        await shout(history, store, 3, 4, 5, lost=True)
        assert [p["n"] for _, p in client.shouts()] == [1, 2]  # nothing tells it yet
        await shout(history, store, 6)
        assert client.shouts() == [(f"{n}:{epoch}", {"n": n}) for n in range(1, 7)]
        assert store.reads[1:] == [Position(2, epoch)]  # one read, from where it was
        await shout(history, store, 7)
        assert client.shouts()[-1] == (f"7:{epoch}", {"n": 7})

    run(go())


def test_live_messages_during_the_read_are_neither_lost_nor_doubled() -> None:
    async def go() -> None:
        store = DroppingStore()
        history, client, epoch = await joined(store)
        await shout(history, store, 1)
        await shout(history, store, 2, lost=True)

        async def while_reading() -> None:  # kept before the read, delivered during it
            await history.broadcast("feed:1", "shout", {"n": 4})
            store.release()

        store.during_recover.append(while_reading)
        await shout(history, store, 3)
        store.during_recover.clear()
        await shout(history, store, 5)
        assert client.shouts() == [(f"{n}:{epoch}", {"n": n}) for n in range(1, 6)]

    run(go())


def test_a_new_epoch_whose_first_messages_were_missed_is_recovered_from_its_start() -> None:
    async def go() -> None:
        store = DroppingStore()
        history, client, old = await joined(store)
        await shout(history, store, 1)
        new = store.restart("feed:1")
        await shout(history, store, 2, 3, lost=True)  # offsets 1 and 2 of the new epoch
        await shout(history, store, 4)
        assert client.shouts() == [
            (f"1:{old}", {"n": 1}),
            *[(f"{offset}:{new}", {"n": offset + 1}) for offset in (1, 2, 3)],
        ]
        assert store.reads[1:] == [Position(0, new)]

    run(go())


def test_a_new_epoch_from_its_first_message_needs_no_read() -> None:
    async def go() -> None:
        store = DroppingStore()
        history, client, old = await joined(store)
        await shout(history, store, 1)
        new = store.restart("feed:1")
        await shout(history, store, 2)
        assert client.shouts() == [(f"1:{old}", {"n": 1}), (f"1:{new}", {"n": 2})]
        assert len(store.reads) == 1  # the join's only

    run(go())


def test_a_gap_the_history_no_longer_holds_stops_the_channel_with_an_error() -> None:
    async def go() -> None:
        store = DroppingStore()
        history, client, epoch = await joined(store, size=2)
        await shout(history, store, 1)
        await shout(history, store, 2, 3, 4, lost=True)  # only 3 and 4 are kept
        await shout(history, store, 5)
        assert [p["n"] for _, p in client.shouts()] == [1]  # nothing after the gap
        assert client.frames[-1][3] == "phx_error" and client.frames[-1][2] == "feed:1"
        assert history.pubsub.subscriber_count("feed:1") == 0
        await shout(history, store, 6)
        assert [p["n"] for _, p in client.shouts()] == [1]
        # phoenix.js rejoins with since: not recovered, so the app reloads its state
        rejoin = await client.join("feed:1", {"since": {"offset": 1, "epoch": epoch}})
        assert rejoin["response"]["recovered"] is False
        assert rejoin["response"]["offset"] == 6

    run(go())


def test_a_channels_own_broadcast_from_moves_its_cursor_without_a_read() -> None:
    async def go() -> None:
        store = DroppingStore()
        history, sender, epoch = await joined(store)
        await sender.send("1", "2", "feed:1", "others", {"n": 1})
        store.release()
        await shout(history, store, 2)
        assert sender.shouts() == [(f"2:{epoch}", {"n": 2})]
        assert len(store.reads) == 1

    run(go())
