"""Live templates compiled once: Jinja2 syntax into statics and change-tracked dynamic slots.

The source is parsed by Jinja2 (``Environment.parse``); its tree becomes a
``Template``: the literal text between dynamic parts (``statics``, which the
client keeps) and one step per ``{{ ... }}``, ``{% if %}`` or ``{% for %}``
(the dynamics), plus ``{% set %}`` bindings, each knowing which assigns it
reads. What Phoenix LiveView's engine gets from HEEx, phoenix_py gets from this:

* ``{{ expr }}``: a string dynamic, HTML-escaped with markupsafe (``|safe``
  and ``Markup`` values are not escaped again; ``None`` renders as nothing).
* ``{% if %}``/``{% elif %}``/``{% else %}``: each arm is a sub-template with
  statics of its own; a false ``if`` without ``else`` renders nothing.
* ``{% for x in xs %}``: a keyed comprehension whose entries share the body's
  statics. Entries are keyed by their index, or by an attribute of each item
  with the ``keyed`` filter: ``{% for row in rows|keyed("id") %}`` (``keyed``
  alone: by the item itself), so that a moved row is sent as a move.
  ``{% for dom_id, item in streams.NAME %}`` iterates a stream
  (``phx-update="stream"``). ``loop.index`` and the other
  ``loop`` fields work; ``{% else %}`` on a loop does not.
* ``{% set name = expr %}``: a local name for what follows in the same block.

Everything else (macros, includes, inheritance, ``with``, filter blocks) is
refused with a ``TemplateSyntaxError`` naming the template and line.

Invariants: a ``Template`` object is its own fingerprint (the renderer sends a
subtree's statics again exactly when the ``Template`` changes); ``deps`` of a
step holds every assign any expression inside it reads, local names resolved
to the assigns they stand for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import nodes

from ._expr import Compiled, Compiler

LOOP = "loop"
STREAMS = "streams"


@dataclass(eq=False, slots=True)
class Template:
    """Compiled statics and steps of one template or sub-template (an arm, a loop body)."""

    name: str
    lineno: int
    statics: tuple[str, ...]
    steps: tuple[Step, ...]
    deps: frozenset[str]


@dataclass(frozen=True, slots=True)
class Output:
    """``{{ expr }}``: dynamic ``index`` is the escaped string."""

    index: int
    expr: Compiled
    lineno: int

    @property
    def deps(self) -> frozenset[str]:
        return self.expr.deps


@dataclass(frozen=True, slots=True)
class Branches:
    """``{% if %}``: dynamic ``index`` is the first arm whose test holds (``None``: else)."""

    index: int
    arms: tuple[tuple[Compiled | None, Template], ...]
    deps: frozenset[str]
    lineno: int


@dataclass(frozen=True, slots=True)
class Loop:
    """``{% for %}``: dynamic ``index`` is a keyed comprehension of ``body``."""

    index: int
    targets: tuple[str, ...]  # one name, or the names a tuple unpacks into
    iterable: Compiled
    key: tuple[str, ...] | None  # the keyed(...) attribute path (): the item; None: index
    stream: str | None  # the stream's name for "for x in streams.NAME"
    uses_loop: bool
    body: Template
    deps: frozenset[str]
    lineno: int
    #: A stream whose body reads nothing but its own dom_id and item: the entry of
    #: an immutable item is the same for every view, so ``_render`` keeps it here.
    entry_cache: dict[tuple[str, Any], Any] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Bind:
    """``{% set name = expr %}``: no output; ``name`` is local from here on."""

    targets: tuple[str, ...]
    expr: Compiled
    lineno: int

    @property
    def deps(self) -> frozenset[str]:
        return self.expr.deps


Step = Output | Branches | Loop | Bind


def compile_template(
    environment: jinja2.Environment,
    source: str,
    name: str,
    filename: str | None = None,
    globals: dict[str, Any] | None = None,
) -> Template:
    """Parse ``source`` (Jinja2 syntax) and compile it; errors name ``name`` and the line.
    ``globals``: names the template reads that are not assigns (see ``_expr.Compiler``)."""
    tree = environment.parse(source, name, filename)
    return _Builder(Compiler(environment, name, globals), name).template(tree.body, {}, 1)


@dataclass
class _Draft:
    statics: list[str] = field(default_factory=lambda: [""])
    steps: list[Step] = field(default_factory=list)

    @property
    def next_index(self) -> int:
        return len(self.statics) - 1

    def text(self, data: str) -> None:
        self.statics[-1] += data

    def dynamic(self, step: Step) -> None:
        self.steps.append(step)
        self.statics.append("")


class _Builder:
    def __init__(self, compiler: Compiler, name: str) -> None:
        self.compiler = compiler
        self.name = name

    def template(
        self, body: Sequence[nodes.Node], local_deps: dict[str, frozenset[str]], lineno: int
    ) -> Template:
        draft = _Draft()
        scope = dict(local_deps)  # set-bindings stay inside this block
        for node in body:
            self.statement(node, draft, scope)
        deps = frozenset().union(*(step.deps for step in draft.steps))
        return Template(self.name, lineno, tuple(draft.statics), tuple(draft.steps), deps)

    def statement(self, node: nodes.Node, draft: _Draft, scope: dict[str, frozenset[str]]) -> None:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    draft.text(child.data)
                else:
                    expr = self.compiler.compile(child, scope)
                    draft.dynamic(Output(draft.next_index, expr, child.lineno))
        elif isinstance(node, nodes.If):
            draft.dynamic(self.branches(node, draft.next_index, scope))
        elif isinstance(node, nodes.For):
            draft.dynamic(self.loop(node, draft.next_index, scope))
        elif isinstance(node, nodes.Assign):
            targets = self.targets(node.target)
            expr = self.compiler.compile(node.node, scope)
            draft.steps.append(Bind(targets, expr, node.lineno))
            for target in targets:
                scope[target] = expr.deps
        else:
            kind = type(node).__name__
            raise self.compiler.error(
                node, f"{{% {kind.lower()} %}} is not supported in live templates"
            )

    def branches(self, node: nodes.If, index: int, scope: dict[str, frozenset[str]]) -> Branches:
        arms: list[tuple[Compiled | None, Template]] = []
        for arm in [node, *node.elif_]:
            test = self.compiler.compile(arm.test, scope)
            arms.append((test, self.template(arm.body, scope, arm.lineno)))
        if node.else_:
            arms.append((None, self.template(node.else_, scope, node.else_[0].lineno)))
        deps = frozenset().union(
            *((test.deps if test is not None else frozenset()) | body.deps for test, body in arms)
        )
        return Branches(index, tuple(arms), deps, node.lineno)

    def loop(self, node: nodes.For, index: int, scope: dict[str, frozenset[str]]) -> Loop:
        if node.else_ or node.test is not None or node.recursive:
            raise self.compiler.error(
                node, "live templates support plain for loops: no else, if-filter or recursive"
            )
        targets = self.targets(node.target)
        iterable_node: nodes.Node = node.iter
        key = None
        if isinstance(iterable_node, nodes.Filter) and iterable_node.name == "keyed":
            key = self.key_path(iterable_node)
            if iterable_node.node is None:
                raise self.compiler.error(node, 'keyed filters a list: rows|keyed("id")')
            iterable_node = iterable_node.node
        stream = None
        if (
            isinstance(iterable_node, nodes.Getattr)
            and isinstance(iterable_node.node, nodes.Name)
            and iterable_node.node.name == STREAMS
        ):
            stream = iterable_node.attr
            if len(targets) != 2:
                raise self.compiler.error(
                    node, "iterate a stream as: for dom_id, item in streams.NAME"
                )
        iterable = self.compiler.compile(iterable_node, scope)
        body_scope = {**scope, **{target: iterable.deps for target in targets}}
        body_scope[LOOP] = iterable.deps
        body = self.template(node.body, body_scope, node.lineno)
        uses_loop = LOOP not in scope and _reads(node.body, LOOP)
        shares_entries = stream is not None and not uses_loop and body.deps <= iterable.deps
        return Loop(
            index,
            targets,
            iterable,
            key,
            stream,
            uses_loop,
            body,
            iterable.deps | body.deps,
            node.lineno,
            {} if shares_entries else None,
        )

    def key_path(self, node: nodes.Filter) -> tuple[str, ...]:
        if not node.args and not node.kwargs:
            return ()  # keyed by the item itself (strings, numbers)
        if len(node.args) != 1 or not isinstance(node.args[0], nodes.Const):
            raise self.compiler.error(node, 'keyed takes one attribute name: rows|keyed("id")')
        path = node.args[0].value
        if not isinstance(path, str) or not path:
            raise self.compiler.error(node, 'keyed takes one attribute name: rows|keyed("id")')
        return tuple(path.split("."))

    def targets(self, node: nodes.Node) -> tuple[str, ...]:
        if isinstance(node, nodes.Name):
            return (node.name,)
        if isinstance(node, nodes.Tuple) and all(isinstance(n, nodes.Name) for n in node.items):
            return tuple(n.name for n in node.items if isinstance(n, nodes.Name))
        raise self.compiler.error(node, "assign to a name or a tuple of names")


def _reads(body: Sequence[nodes.Node], name: str) -> bool:
    return any(
        found.name == name
        for node in body
        for found in node.find_all(nodes.Name)
        if found.ctx == "load"
    )
