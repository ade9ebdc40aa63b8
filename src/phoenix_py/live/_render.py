"""Rendering a compiled template to LiveView's rendered/diff format, keeping what the client has.

``Renderer.render(assigns, changed)`` returns the whole tree the first time
(``{"s": statics, "0": ..., ...}``, what the join reply's ``rendered`` holds) and
afterwards only what changed since the previous call, in the format the
phoenix_live_view 1.2 client merges (``rendered.js``, LIVEVIEW_PROTOCOL.md §3):

* a dynamic whose assigns are not in ``changed`` is not evaluated at all; one
  that is evaluated is sent only if its string differs from the last one sent;
* a sub-template (an ``if`` arm) whose ``Template`` is the one the client has
  sends only its changed dynamics; another arm is sent whole, with ``"s"``;
* a loop is a keyed comprehension: new entries whole, kept entries only their
  changed dynamics, moved entries as their old index (``[old, diff]`` when
  they also changed) with ``"km": true``, ``"kc"`` the new count; nothing at
  all when no entry changed and the count is the same;
* a stream loop sends its pending inserts only, with ``"stream": [ref,
  inserts, deletes(, true on reset)]``, and keeps no entry;
* a ``{{ live_component(...) }}`` slot is the component's cid (an integer);
  the component itself is rendered by the ``ComponentHost`` into the diff's
  ``"c"`` map.

Invariants: the state mirrors exactly what the client holds after merging
every diff returned so far (``tests/live`` checks it with the client's own
``rendered.js``); a diff never carries statics the client already has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from markupsafe import escape

from ._compile import Bind, Branches, Loop, Output, Step, Template
from ._expr import Missing

Diff = dict[str, Any]


class TemplateRuntimeError(Exception):
    """An expression failed while rendering; the message names the template and line."""


@dataclass(slots=True)
class StreamOps:
    """What a stream has to send in the next render: the client keeps the items."""

    ref: str
    inserts: list[tuple[str, int, int | None, bool, Any]]  # dom_id, at, limit, update_only, item
    deletes: list[str]
    reset: bool = False

    def pending(self) -> bool:
        return bool(self.inserts or self.deletes or self.reset)

    def clear(self) -> None:
        self.inserts, self.deletes, self.reset = [], [], False


@dataclass(frozen=True, slots=True, eq=False)
class ComponentCall:
    """What ``live_component(Component, id=..., **assigns)`` evaluates to in a template."""

    component: type
    id: Any
    assigns: dict[str, Any] = field(default_factory=dict)


class ComponentHost(Protocol):
    """Renders the components a template calls (``_components.Components``)."""

    def render_call(self, call: ComponentCall) -> int:
        """Mount or update the component ``call`` names; its cid."""
        ...


class _Node:
    """What the client holds for one rendered template: per dynamic, its value."""

    __slots__ = ("template", "values")

    def __init__(self, template: Template) -> None:
        self.template = template
        self.values: list[Any] = [None] * (len(template.statics) - 1)


class _Comprehension:
    """What the client holds for a keyed comprehension: entries by key, in order."""

    __slots__ = ("body", "entries", "index")

    def __init__(self, body: Template) -> None:
        self.body = body
        self.index: dict[Any, int] = {}
        self.entries: list[list[Any]] = []  # per entry, per dynamic: its value


class Renderer:
    """One view's rendering state for one root template."""

    __slots__ = ("_root", "template")

    def __init__(self, template: Template) -> None:
        self.template = template
        self._root: _Node | None = None

    @property
    def rendered(self) -> bool:
        """Whether a full render went out (later calls give diffs)."""
        return self._root is not None

    def render(
        self,
        assigns: Mapping[str, Any],
        changed: frozenset[str] | set[str] | None = None,
        streams: Mapping[str, StreamOps] | None = None,
        components: ComponentHost | None = None,
    ) -> Diff:
        """The full render on the first call (or when ``changed`` is ``None``),
        then the diff of what changed since the previous call (``{}``: nothing)."""
        context = _Context(assigns, streams or {}, changed, components)
        root = None if changed is None else self._root
        diff, self._root = context.template(self.template, {}, root)
        return diff


class _Context:
    __slots__ = ("assigns", "changed", "component_calls", "components", "streams")

    def __init__(
        self,
        assigns: Mapping[str, Any],
        streams: Mapping[str, StreamOps],
        changed: frozenset[str] | set[str] | None,
        components: ComponentHost | None,
    ) -> None:
        self.assigns = assigns
        self.streams = streams
        self.changed = changed
        self.components = components
        self.component_calls = 0

    def template(
        self, template: Template, scope: dict[str, Any], node: _Node | None
    ) -> tuple[Diff, _Node]:
        if node is None or node.template is not template:
            node = _Node(template)
            diff: Diff = {"s": list(template.statics)}
            self.dynamics(template, scope, node.values, diff, full=True)
        else:
            diff = {}
            self.dynamics(template, scope, node.values, diff, full=False)
        return diff, node

    def dynamics(
        self,
        template: Template,
        scope: dict[str, Any],
        values: list[Any],
        diff: Diff,
        *,
        full: bool,
    ) -> None:
        changed = self.changed
        for step in template.steps:
            if isinstance(step, Bind):
                value = self.evaluate(template, step, scope)
                scope = {**scope, **self.bind(template, step, step.targets, value)}
                continue
            if not full and changed is not None and changed.isdisjoint(step.deps):
                continue
            index = step.index
            if type(step) is Output:
                value = self.evaluate(template, step, scope)
                shown = (
                    self.component(template, step, value)
                    if type(value) is ComponentCall
                    else _html(value)
                )
                if full or values[index] != shown:
                    diff[str(index)] = shown
                    values[index] = shown
            elif type(step) is Branches:
                self.branches(template, step, scope, values, diff, full)
            elif type(step) is Loop:
                self.loop(template, step, scope, values, diff, full)

    def evaluate(self, template: Template, step: Output | Bind, scope: dict[str, Any]) -> Any:
        try:
            return step.expr.evaluate(self.assigns, scope)
        except Exception as exc:
            raise _error(template, step, exc) from (None if isinstance(exc, Missing) else exc)

    def component(self, template: Template, step: Output, call: ComponentCall) -> int:
        self.component_calls += 1
        if self.components is None:
            raise _error(template, step, "live_component is only rendered inside a live view")
        return self.components.render_call(call)

    def bind(
        self, template: Template, step: Step, targets: tuple[str, ...], value: Any
    ) -> dict[str, Any]:
        try:
            return _bind(targets, value)
        except (TypeError, ValueError) as exc:
            raise _error(template, step, exc) from exc

    def branches(
        self,
        template: Template,
        step: Branches,
        scope: dict[str, Any],
        values: list[Any],
        diff: Diff,
        full: bool,
    ) -> None:
        chosen = None
        for test, body in step.arms:
            try:
                holds = test is None or test.evaluate(self.assigns, scope)
            except Exception as exc:
                raise _error(template, step, exc) from exc
            if holds:
                chosen = body
                break
        index, key = step.index, str(step.index)
        previous = values[index]
        if chosen is None:
            if full or previous != "":
                diff[key] = ""
                values[index] = ""
            return
        node = previous if isinstance(previous, _Node) and not full else None
        sub, values[index] = self.template(chosen, scope, node)
        if sub or node is None:
            diff[key] = sub

    def loop(
        self,
        template: Template,
        step: Loop,
        scope: dict[str, Any],
        values: list[Any],
        diff: Diff,
        full: bool,
    ) -> None:
        index, key = step.index, str(step.index)
        if step.stream is not None:
            self.stream(template, step, scope, values, diff, full)
            return
        try:
            items = list(step.iterable.evaluate(self.assigns, scope))
        except Exception as exc:
            raise _error(template, step, exc) from exc
        previous = values[index] if not full else None
        if not isinstance(previous, _Comprehension) or previous.body is not step.body:
            previous = None
        if previous is None and not items:
            if full or values[index] != "":
                diff[key] = ""
            values[index] = ""
            return
        state = _Comprehension(step.body)
        keyed: Diff = {}
        moved = False
        count = len(items)
        body = step.body
        for position, item in enumerate(items):
            try:
                entry_key = _key(step, item, position)
            except (LookupError, AttributeError, TypeError) as exc:
                raise _error(template, step, f"no key {'.'.join(step.key or ())}: {exc}") from exc
            if entry_key in state.index:
                raise _error(template, step, f"duplicate key {entry_key!r} in for loop")
            state.index[entry_key] = position
            entry_scope = {**scope, **self.bind(template, step, step.targets, item)}
            if step.uses_loop:
                entry_scope["loop"] = LoopInfo(position, count)
            old = None if previous is None else previous.index.get(entry_key)
            if old is None:
                entry: list[Any] = [None] * (len(body.statics) - 1)
                dynamics: Diff = {}
                self.dynamics(body, entry_scope, entry, dynamics, full=True)
                keyed[str(position)] = dynamics
            else:
                assert previous is not None  # old was found in it
                entry = previous.entries[old]
                dynamics = {}
                self.dynamics(body, entry_scope, entry, dynamics, full=False)
                if old != position:
                    moved = True
                    keyed[str(position)] = [old, dynamics] if dynamics else old
                elif dynamics:
                    keyed[str(position)] = dynamics
            state.entries.append(entry)
        values[index] = state
        if previous is not None and not keyed and count == len(previous.entries):
            return
        keyed["kc"] = count
        if moved:
            keyed["km"] = True
        if previous is None:
            diff[key] = {"s": list(step.body.statics), "k": keyed}
        else:
            diff[key] = {"k": keyed}

    def stream(
        self,
        template: Template,
        step: Loop,
        scope: dict[str, Any],
        values: list[Any],
        diff: Diff,
        full: bool,
    ) -> None:
        index, key = step.index, str(step.index)
        ops = self.streams.get(step.stream or "")
        if ops is None:
            message = f"no stream named {step.stream!r}: call stream() in mount"
            raise _error(template, step, message)
        first = full or values[index] is None
        if not first and not ops.pending():
            return
        keyed: Diff = {}
        inserts = _unique_inserts(ops.inserts)
        cache = step.entry_cache if not scope else None  # a top-level stream, no set-bindings
        for position, (dom_id, _at, _limit, _update_only, item) in enumerate(inserts):
            loop = LoopInfo(position, len(inserts)) if step.uses_loop else None
            if cache is not None and _immutable(item):
                dynamics = cache.get((dom_id, item))
                if dynamics is None:
                    dynamics, per_view = self.stream_entry(step, scope, dom_id, item, loop)
                    if not per_view:
                        _remember(cache, (dom_id, item), dynamics)
            else:
                dynamics, _ = self.stream_entry(step, scope, dom_id, item, loop)
            keyed[str(position)] = dynamics
        keyed["kc"] = len(inserts)
        stream: list[Any] = [
            ops.ref,
            [[dom_id, at, limit, update_only] for dom_id, at, limit, update_only, _ in inserts],
            list(ops.deletes),
        ]
        if ops.reset:
            stream.append(True)
        rendered: Diff = {"k": keyed, "stream": stream}
        if first:
            rendered["s"] = list(step.body.statics)
        diff[key] = rendered
        values[index] = True  # rendered once: the client has the statics

    def stream_entry(
        self, step: Loop, scope: dict[str, Any], dom_id: str, item: Any, loop: LoopInfo | None
    ) -> tuple[Diff, bool]:
        """One stream entry, and whether it is this view's alone (it shows a component,
        whose cid only this view has)."""
        entry_scope = {**scope, step.targets[0]: dom_id, step.targets[1]: item}
        if loop is not None:
            entry_scope["loop"] = loop
        dynamics: Diff = {}
        entry: list[Any] = [None] * (len(step.body.statics) - 1)
        calls = self.component_calls
        self.dynamics(step.body, entry_scope, entry, dynamics, full=True)
        return dynamics, self.component_calls != calls


class LoopInfo:
    """What ``loop`` holds in a live template's ``for`` body (Jinja2's names)."""

    __slots__ = ("index0", "length")

    def __init__(self, index0: int, length: int) -> None:
        self.index0, self.length = index0, length

    @property
    def index(self) -> int:
        return self.index0 + 1

    @property
    def revindex(self) -> int:
        return self.length - self.index0

    @property
    def revindex0(self) -> int:
        return self.length - self.index0 - 1

    @property
    def first(self) -> bool:
        return self.index0 == 0

    @property
    def last(self) -> bool:
        return self.index0 == self.length - 1


def _html(value: Any) -> str:
    """An expression's value as the client writes it: escaped (``Markup`` as it is)."""
    return "" if value is None else str(escape(value))


def _error(template: Template, step: Step, problem: BaseException | str) -> TemplateRuntimeError:
    return TemplateRuntimeError(f"{template.name}, line {step.lineno}: {problem}")


def _bind(targets: tuple[str, ...], value: Any) -> dict[str, Any]:
    if len(targets) == 1:
        return {targets[0]: value}
    values = tuple(value)
    if len(values) != len(targets):
        raise ValueError(f"cannot unpack {len(values)} values into {', '.join(targets)}")
    return dict(zip(targets, values, strict=True))


def _key(step: Loop, item: Any, position: int) -> Any:
    if step.key is None:
        return position
    value = item
    for name in step.key:
        value = value[name] if isinstance(value, Mapping) else getattr(value, name)
    return value


#: Shared stream entries kept per stream loop (the oldest go first).
ENTRY_CACHE_SIZE = 10_000
_ATOMS = (str, int, float, bool, bytes, type(None))


def _immutable(item: Any) -> bool:
    """Strings, numbers, and tuples of them (named tuples too): an entry's look
    depends on their value alone, whichever view renders it."""
    if isinstance(item, _ATOMS):
        return True
    return isinstance(item, tuple) and all(_immutable(part) for part in item)


def _remember(cache: dict[tuple[str, Any], Any], key: tuple[str, Any], entry: Diff) -> None:
    if len(cache) >= ENTRY_CACHE_SIZE:
        del cache[next(iter(cache))]
    cache[key] = entry


def _unique_inserts(
    inserts: list[tuple[str, int, int | None, bool, Any]],
) -> list[tuple[str, int, int | None, bool, Any]]:
    """The inserts in order, a dom id inserted twice only where it was last inserted."""
    last = {insert[0]: position for position, insert in enumerate(inserts)}
    return [insert for position, insert in enumerate(inserts) if last[insert[0]] == position]
