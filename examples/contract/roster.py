"""Who is in a room, sorted, kept once per instance for every view of the room.

A room of thousands cannot afford a copy of its member list in each view
(5,000 views of 5,000 names each), nor each view working out every presence diff
alone. A ``Roster`` follows the room's Presence (it subscribes to the room's
topic before any view, so it has every presence diff before they do) and
keeps the sorted names and a short log of what changed, by version. A view
keeps only the version its page shows, and catches up in one step: the
names that left are deleted, those that came are inserted in order, each at
its place in the list as it is now (the page applies deletes first, then the
inserts in order, so that is where they belong). A view too far behind the
log gets the whole list again.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from dataclasses import dataclass
from typing import Any

from phoenix_py import Broadcast, PubSub
from phoenix_py.presence import Presence

#: Versions a view may be behind before it is sent the whole list again.
LOG_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What a page showing ``since`` needs to show the roster as it is now."""

    leaves: tuple[str, ...]
    joins: tuple[tuple[str, int], ...]  # (name, at), in the order to insert them
    reset: bool  # the log no longer reaches back: send the whole list


class Roster:
    """See the module docs. One per room topic and instance (``Rosters``)."""

    def __init__(self, presence: Presence, topic: str) -> None:
        self.presence = presence
        self.topic = topic
        self.names = sorted(presence.keys(topic))
        self.version = 0
        self._log: deque[tuple[int, tuple[str, ...], tuple[str, ...]]] = deque(maxlen=LOG_SIZE)
        # the views released together showed the same version: one answer for all
        self._answers: dict[int, CatchUp] = {}
        self.views = 0

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        if isinstance(message, Broadcast) and message.event == "presence_diff":
            self._apply(message.payload)

    def _apply(self, diff: dict[str, Any]) -> None:
        left = [
            name
            for name in diff["leaves"]
            if self._has(name) and self.presence.get_by_key(self.topic, name) == []
        ]
        for name in left:
            del self.names[bisect.bisect_left(self.names, name)]
        came = [name for name in diff["joins"] if not self._has(name)]
        for name in came:
            bisect.insort(self.names, name)
        if left or came:
            self.version += 1
            self._log.append((self.version, tuple(came), tuple(left)))
            self._answers.clear()

    def _has(self, name: str) -> bool:
        at = bisect.bisect_left(self.names, name)
        return at < len(self.names) and self.names[at] == name

    def since(self, version: int) -> CatchUp:
        """What changed after ``version`` (which the page shows), netted out."""
        answer = self._answers.get(version)
        if answer is None:
            answer = self._answers[version] = self._since(version)
        return answer

    def _since(self, version: int) -> CatchUp:
        if version == self.version:
            return CatchUp((), (), reset=False)
        first = self._log[0][0] if self._log else self.version + 1
        if not first <= version + 1 <= self.version:
            return CatchUp((), (), reset=True)
        came_first: dict[str, bool] = {}  # a name's first change since: it came, or it left
        for _, joins, leaves in itertools.islice(self._log, version + 1 - first, None):
            for name in leaves:
                came_first.setdefault(name, False)
            for name in joins:
                came_first.setdefault(name, True)
        # came and left again, or left and came back: nothing changed for the page
        joined = sorted(name for name, came in came_first.items() if came and self._has(name))
        gone = tuple(
            sorted(name for name, came in came_first.items() if not came and not self._has(name))
        )
        places = tuple((name, bisect.bisect_left(self.names, name)) for name in joined)
        return CatchUp(gone, places, reset=False)


class Rosters:
    """The rosters of the rooms that have views on this instance."""

    def __init__(self, presence: Presence, pubsub: PubSub) -> None:
        self.presence = presence
        self.pubsub = pubsub
        self._rosters: dict[str, Roster] = {}

    def join(self, topic: str) -> Roster:
        """The room's roster, for a view about to subscribe to ``topic``."""
        roster = self._rosters.get(topic)
        if roster is None:
            roster = self._rosters[topic] = Roster(self.presence, topic)
            self.pubsub.subscribe(topic, roster)
        roster.views += 1
        return roster

    def leave(self, roster: Roster) -> None:
        roster.views -= 1
        if roster.views == 0 and self._rosters.get(roster.topic) is roster:
            del self._rosters[roster.topic]
            self.pubsub.unsubscribe(roster.topic, roster)
