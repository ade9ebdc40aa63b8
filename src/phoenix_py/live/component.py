"""Stateful live components: parts of a view with their own state and events.

::

    class Counter(LiveComponent):
        template = '<div id="comp-{{ id }}"><span>{{ value }}</span>'
                   '<button phx-click="inc" phx-target="{{ myself }}">+</button></div>'

        def mount(self):
            self.assign(value=0)

        async def handle_event(self, event, value):
            self.assign(value=self.assigns["value"] + 1)

    class Page(LiveView):
        components = {"Counter": Counter}
        template = '{{ live_component(Counter, id="c1") }}{{ live_component(Counter, id="c2") }}'

A component is identified by its class and ``id`` within its view; the first
render mounts it (``mount``), then every render of the parent slot that calls
it passes the call's assigns to ``update`` (by default: assign them). Its
template needs one root element (the client marks it ``data-phx-component``),
and renders ``{{ myself }}`` as its cid: ``phx-target="{{ myself }}"`` sends an
event to the component's ``handle_event`` instead of the view's. It keeps its
state until the client says its element left the page (``cids_destroyed``);
rendered again after that, it is a new component. Component diffs travel in
the diff's ``"c"`` map, keyed by cid (LIVEVIEW_PROTOCOL.md §3).

``mount`` and ``update`` run during the render, so they are plain functions;
do slow work in the view (``assign_async``) and hand the result in.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from ..errors import UsageError
from ._assigns import Assigns
from ._render import ComponentCall
from ._templates import Templated

__all__ = ["LiveComponent", "live_component"]


class ComponentOwner(Protocol):
    """What a component reaches of its view."""

    def push_event(self, event: str, payload: Any) -> None:
        """Send ``event`` to the client (``phx:<event>``, hooks' ``handleEvent``)."""
        ...


def live_component(component: type[LiveComponent], /, id: Any, **assigns: Any) -> ComponentCall:
    """In a template: render ``component`` with ``id`` (and hand it ``assigns``)."""
    if not (isinstance(component, type) and issubclass(component, LiveComponent)):
        raise UsageError(f"live_component({component!r}, ...): give a LiveComponent class")
    return ComponentCall(component, id, assigns)


class LiveComponent(Assigns, Templated):
    """Base class of stateful components; see the module docs."""

    components: ClassVar[dict[str, type[LiveComponent]]] = {}

    def __init__(self, owner: ComponentOwner, cid: int, id: Any) -> None:
        super().__init__()
        self.owner = owner
        self.cid = cid
        self.id = id
        self.assign(id=id, myself=cid)

    def mount(self) -> None:
        return None

    def update(self, assigns: dict[str, Any]) -> None:
        self.assign(**assigns)

    async def handle_event(self, event: str, value: dict[str, Any]) -> Any:
        raise UsageError(f"{type(self).__name__} does not handle the event {event!r}")

    def push_event(self, event: str, payload: Any) -> None:
        self.owner.push_event(event, payload)
