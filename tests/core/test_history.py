"""The history core without I/O: the join's ``since`` and a topic's log, against a model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from phoenix_py._core.history import (
    Admission,
    Cursor,
    InvalidSince,
    Position,
    Recovery,
    TopicLog,
    join_reply_fields,
    parse_since,
)
from phoenix_py._core.message import Publication

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(st.integers(min_value=0), st.text())
def test_a_well_formed_since_is_read(offset: int, epoch: str) -> None:
    assert parse_since({"since": {"offset": offset, "epoch": epoch}, "other": 1}) == (
        Position(offset, epoch)
    )


@given(json_values)
def test_a_payload_without_since_asks_for_nothing(payload: Any) -> None:
    if isinstance(payload, dict):
        payload.pop("since", None)
    assert parse_since(payload) is None


@given(json_values, json_values)
def test_anything_else_in_since_is_refused(offset: Any, epoch: Any) -> None:
    well_formed = type(offset) is int and offset >= 0 and isinstance(epoch, str)
    payload = {"since": {"offset": offset, "epoch": epoch}}
    if well_formed:
        assert parse_since(payload) == Position(offset, epoch)
    else:
        with pytest.raises(InvalidSince):
            parse_since(payload)


@pytest.mark.parametrize(
    "since",
    [
        None,
        [],
        "1:abc",
        3,
        {},
        {"offset": -1, "epoch": "e"},
        {"offset": 1.5, "epoch": "e"},
        {"offset": 3.0, "epoch": "e"},
        {"offset": True, "epoch": "e"},
        {"offset": "3", "epoch": "e"},
        {"offset": 3},
        {"offset": 3, "epoch": 7},
        {"offset": 3, "epoch": None},
    ],
)
def test_malformed_sinces(since: Any) -> None:
    with pytest.raises(InvalidSince):
        parse_since({"since": since})


def test_the_join_reply_says_recovered_only_when_asked() -> None:
    recovery = Recovery(Position(7, "e"), False, [])
    assert join_reply_fields(recovery, None) == {"offset": 7, "epoch": "e"}
    assert join_reply_fields(recovery, Position(3, "e")) == {
        "recovered": False,
        "offset": 7,
        "epoch": "e",
    }


class TopicLogAgainstModel(RuleBasedStateMachine):
    """Appends, clock steps and recoveries; the model keeps every message with its time."""

    SIZE, TTL = 5, 10.0

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.log = TopicLog(self.SIZE, self.TTL, self.now)
        self.sent: list[tuple[float, int]] = []  # (time, offset), every message ever appended

    @rule(sender=st.none() | st.just("s"))
    def append(self, sender: str | None) -> None:
        publication = self.log.append("t", "e", {"n": len(self.sent)}, sender, self.now)
        assert publication.offset == len(self.sent) + 1
        assert publication.ref == f"{publication.offset}:{self.log.epoch}"
        self.sent.append((self.now, publication.offset))

    @rule(seconds=st.floats(min_value=0, max_value=6))
    def wait(self, seconds: float) -> None:
        self.now += seconds

    @rule(data=st.data())
    def recover(self, data: st.DataObject) -> None:
        last = len(self.sent)
        offset = data.draw(st.integers(min_value=0, max_value=last + 2))
        epoch = data.draw(st.sampled_from([self.log.epoch, "another"]))
        recovery = self.log.recover(Position(offset, epoch), self.now)
        assert recovery.position == Position(last, self.log.epoch)
        missed = self.sent[offset:]
        holds_all = len(missed) <= self.SIZE and all(
            time >= self.now - self.TTL for time, _ in missed
        )
        expected = epoch == self.log.epoch and offset <= last and holds_all
        assert recovery.recovered is expected
        if expected:
            assert [p.offset for p in recovery.messages] == [o for _, o in missed]
        else:
            assert recovery.messages == []

    @precondition(lambda self: self.sent)
    @rule()
    def recover_from_the_last_message(self) -> None:
        # Nothing missed: recovered, however old the last message is.
        recovery = self.log.recover(Position(len(self.sent), self.log.epoch), self.now)
        assert recovery.recovered and recovery.messages == []

    @invariant()
    def entries_are_consecutive_and_end_at_the_last(self) -> None:
        offsets = [entry.publication.offset for entry in self.log.entries]
        assert len(offsets) <= self.SIZE
        assert offsets == list(range(self.log.last - len(offsets) + 1, self.log.last + 1))


test_topic_log = TopicLogAgainstModel.TestCase


def test_no_since_gets_the_position_only() -> None:
    log = TopicLog(10, 60, 0.0)
    log.append("t", "e", {}, None, 0.0)
    assert log.recover(None, 1.0) == Recovery(Position(1, log.epoch), False, [])


def kept(offset: int, epoch: str = "e", sender: str | None = None) -> Publication:
    return Publication("t", "m", {"n": offset}, offset, epoch, sender)


@given(st.lists(st.booleans(), max_size=60), st.lists(st.booleans(), max_size=60))
def test_a_cursor_admits_each_offset_once_in_order_and_names_every_gap(
    arrives: list[bool], twice: list[bool]
) -> None:
    """Live arrivals with losses (``arrives``) and repeats (``twice``); each gap is
    filled from where ``gap_since`` says: the subscriber is sent 1..last, once each."""
    cursor = Cursor()
    cursor.move_to(Position(0, "e"))
    sent: list[int] = []
    repeats = twice + [False] * (len(arrives) - len(twice))
    for offset, (arrived, repeated) in enumerate(zip(arrives, repeats, strict=False), start=1):
        if not arrived:
            continue
        verdict = cursor.admit(kept(offset))
        if verdict is Admission.GAP:
            since = cursor.gap_since(kept(offset))
            assert since == Position(sent[-1] if sent else 0, "e")
            assert (cursor.offset, cursor.epoch) == since  # a gap does not move it
            for missed in range(since.offset + 1, offset + 1):  # what the recovery reads
                assert cursor.admit(kept(missed)) is Admission.NEW
                sent.append(missed)
        else:
            assert verdict is Admission.NEW
            sent.append(offset)
        if repeated:
            assert cursor.admit(kept(offset)) is Admission.SEEN
    assert sent == list(range(1, len(sent) + 1))


def test_a_new_epoch_starts_at_one_or_is_a_gap_from_its_start() -> None:
    cursor = Cursor()
    cursor.move_to(Position(7, "old"))
    assert cursor.admit(kept(3, "new")) is Admission.GAP
    assert cursor.gap_since(kept(3, "new")) == Position(0, "new")
    assert cursor.admit(kept(1, "new")) is Admission.NEW
    assert (cursor.offset, cursor.epoch) == (1, "new")
    assert cursor.admit(kept(8, "old")) is Admission.GAP  # a stale epoch is never new


def test_a_cursor_passes_its_own_broadcast_from_without_sending_it() -> None:
    cursor = Cursor()
    cursor.move_to(Position(0, "e"))
    cursor.sender = "node/1"
    assert cursor.admit(kept(1, sender="node/1")) is Admission.SEEN
    assert cursor.admit(kept(2, sender="node/2")) is Admission.NEW  # no gap after it
