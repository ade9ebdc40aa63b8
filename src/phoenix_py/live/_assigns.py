"""Assigns with change tracking, shared by live views and live components.

``assign`` marks a name changed unless it is given an equal immutable value (a
str, number, bool, None, bytes, frozenset, or a tuple of those): the template
slots that read a changed name are evaluated again at the next render, and
only what differs is sent. A list or dict counts as changed whenever it is
assigned (equality would not tell whether it was mutated in place), so mutate
a copy and assign it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_IMMUTABLE = (str, int, float, bool, type(None), bytes, frozenset)


class Assigns:
    """The ``assigns`` dict and the names changed since the last render."""

    def __init__(self) -> None:
        self.assigns: dict[str, Any] = {}
        self.changed: set[str] = set()

    def assign(self, **values: Any) -> None:
        """Set assigns; each one that changed is re-rendered (see the module docs)."""
        assigns = self.assigns
        for name, value in values.items():
            if name in assigns and _unchanged(assigns[name], value):
                continue
            assigns[name] = value
            self.changed.add(name)

    def update_assign(self, name: str, function: Callable[[Any], Any]) -> None:
        """``assign(name=function(assigns[name]))`` (Phoenix's ``update``)."""
        self.assign(**{name: function(self.assigns[name])})


def _unchanged(old: Any, new: Any) -> bool:
    if type(old) is not type(new):
        return False
    if isinstance(new, _IMMUTABLE):
        return bool(old == new)
    if isinstance(new, tuple) and all(isinstance(item, _IMMUTABLE) for item in new):
        return bool(old == new)
    return False
