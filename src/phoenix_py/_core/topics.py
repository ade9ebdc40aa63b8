"""Topic routes: ``"room:*"`` matches by prefix, anything else exactly (§3.2).

Invariant: a ``*`` may only be the last character of a pattern, as in Phoenix,
where ``channel "room:*"`` is the only wildcard form.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from ..errors import UsageError

T = TypeVar("T")


class Router(Generic[T]):
    """Maps topic patterns to targets; the first declared match wins."""

    __slots__ = ("_routes",)

    def __init__(self, routes: Iterable[tuple[str, T]] = ()) -> None:
        # (text, is_prefix, target) in declaration order, as Phoenix's clauses are.
        self._routes: list[tuple[str, bool, T]] = []
        for pattern, target in routes:
            self.add(pattern, target)

    def add(self, pattern: str, target: T) -> None:
        star = pattern.find("*")
        if star == -1:
            self._routes.append((pattern, False, target))
        elif star == len(pattern) - 1:
            self._routes.append((pattern[:-1], True, target))
        else:
            raise UsageError(
                f"topic pattern {pattern!r}: '*' may only end a pattern, as in 'room:*'"
            )

    def match(self, topic: str) -> T | None:
        found = self.lookup(topic)
        return None if found is None else found[1]

    def lookup(self, topic: str) -> tuple[str, T] | None:
        """The declared pattern that ``topic`` matches (``"room:*"``) and its target."""
        for text, is_prefix, target in self._routes:
            if topic == text or (is_prefix and topic.startswith(text)):
                return (text + "*" if is_prefix else text), target
        return None
