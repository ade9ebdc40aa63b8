"""One view's live components: cids, state, and what each render sends in ``"c"``.

Invariants: a (class, id) pair has one cid while it lives; a cid is never
reused; a component is rendered whole (with ``"s"`` and ``"r": 1``) the first
time, then only what changed; what was rendered since the last ``take`` is in
``pending``, keyed by cid as the diff's ``"c"`` map.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from ._render import ComponentCall, Renderer
from .component import ComponentOwner, LiveComponent


class _Entry:
    __slots__ = ("component", "renderer")

    def __init__(self, component: LiveComponent, renderer: Renderer) -> None:
        self.component = component
        self.renderer = renderer


class Components:
    """The components of one view (its ``ComponentHost``).

    Args:
        owner: the view (components push events through it).
        renderer: a fresh renderer of a component class's template.
    """

    def __init__(
        self, owner: ComponentOwner, renderer: Callable[[type[LiveComponent]], Renderer]
    ) -> None:
        self._owner = owner
        self._renderer = renderer
        self._cids: dict[tuple[type[LiveComponent], Any], int] = {}
        self._entries: dict[int, _Entry] = {}
        self._next_cid = 1
        self._rendered: set[int] = set()  # in this render pass
        self._touched: set[int] = set()  # changed by their own events: rendered at take()
        self.pending: dict[str, Any] = {}

    def render_call(self, call: ComponentCall) -> int:
        key = (call.component, call.id)
        cid = self._cids.get(key)
        if cid is None:
            cid = self._next_cid
            self._next_cid += 1
            self._cids[key] = cid
            component = call.component(self._owner, cid, call.id)
            self._entries[cid] = _Entry(component, self._renderer(call.component))
            component.mount()
        elif cid in self._rendered:
            raise UsageError(
                f"{call.component.__name__} with id {call.id!r} is rendered twice: "
                "give each live_component its own id"
            )
        self._entries[cid].component.update(call.assigns)
        self.render(cid)
        return cid

    def touch(self, cid: int) -> None:
        """Component ``cid`` handled an event: render it with this pass (once)."""
        self._touched.add(cid)

    def render(self, cid: int) -> None:
        """Put what changed in component ``cid`` into ``pending``."""
        entry = self._entries[cid]
        component = entry.component
        first = not entry.renderer.rendered
        diff = entry.renderer.render(
            component.assigns, None if first else component.changed, None, self
        )
        component.changed = set()
        self._rendered.add(cid)
        if first:
            diff["r"] = 1  # one root tag: the client marks it data-phx-component
        if diff:
            self.pending[str(cid)] = diff

    def get(self, cid: int) -> LiveComponent | None:
        entry = self._entries.get(cid)
        return None if entry is None else entry.component

    def take(self) -> dict[str, Any]:
        """What the components rendered since the last call (the diff's ``"c"``)."""
        for cid in sorted(self._touched - self._rendered):
            if cid in self._entries:
                self.render(cid)
        pending, self.pending = self.pending, {}
        self._rendered.clear()
        self._touched.clear()
        return pending

    def destroy(self, cids: list[Any]) -> list[int]:
        """Forget the components whose elements left the page; the cids forgotten."""
        gone = [cid for cid in cids if isinstance(cid, int) and cid in self._entries]
        for cid in gone:
            entry = self._entries.pop(cid)
            del self._cids[(type(entry.component), entry.component.id)]
        return gone
