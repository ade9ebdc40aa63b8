"""The contract room's shared roster: whatever the joins and leaves, and however far
behind a page is, its catch-up (deletes first, then inserts in order, as the
client applies a diff) leaves the page with the roster's sorted names."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from examples.contract import roster as roster_module
from examples.contract.roster import Roster
from phoenix_py import Broadcast

TOPIC = "lv_room:r"
NAMES = [f"u{number}" for number in range(8)]


class FakePresence:
    """What the roster reads: the keys present, and one key's metas."""

    def __init__(self) -> None:
        self.present: dict[str, int] = {}  # name -> tabs

    def keys(self, topic: str) -> list[str]:
        return list(self.present)

    def get_by_key(self, topic: str, key: str) -> Any:
        return {"metas": [{}] * self.present[key]} if key in self.present else []

    def join(self, name: str) -> dict[str, Any]:
        self.present[name] = self.present.get(name, 0) + 1
        return {"joins": {name: {"metas": [{}]}}, "leaves": {}}

    def leave(self, name: str) -> dict[str, Any]:
        self.present[name] -= 1
        if not self.present[name]:
            del self.present[name]
        return {"joins": {}, "leaves": {name: {"metas": [{}]}}}


def apply(page: list[str], roster: Roster, shown: int) -> list[str]:
    change = roster.since(shown)
    if change.reset:
        return list(roster.names)
    page = [name for name in page if name not in change.leaves]
    for name, at in change.joins:
        page.insert(at, name)
    return page


steps = st.lists(st.tuples(st.sampled_from(NAMES), st.booleans(), st.booleans()), max_size=60)


@settings(max_examples=300, deadline=None)
@given(steps=steps, log_size=st.sampled_from([3, 10_000]))
def test_every_page_catches_up_to_the_sorted_roster(
    steps: list[tuple[str, bool, bool]], log_size: int
) -> None:
    presence = FakePresence()
    original = roster_module.LOG_SIZE
    roster_module.LOG_SIZE = log_size
    try:
        roster = Roster(presence, TOPIC)  # type: ignore[arg-type]
    finally:
        roster_module.LOG_SIZE = original
    pages: list[tuple[list[str], int]] = []  # (what a page shows, its version)
    for name, joining, page_catches_up in steps:
        if joining or name not in presence.present:
            diff = presence.join(name)
        else:
            diff = presence.leave(name)
        roster.deliver(Broadcast(TOPIC, "presence_diff", diff), {})
        assert roster.names == sorted(presence.present)
        if joining:  # a new page, showing the roster as it is
            pages.append((list(roster.names), roster.version))
        if page_catches_up and pages:
            page, shown = pages.pop(0)
            pages.append((apply(page, roster, shown), roster.version))
    for page, shown in pages:
        assert apply(page, roster, shown) == roster.names
