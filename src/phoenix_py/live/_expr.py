"""Jinja2 expressions compiled to Python functions, with the names each one reads.

A live template's ``{{ ... }}`` and block tests are Jinja2 expressions, parsed
by Jinja2 itself (``jinja2.nodes``). This turns one expression node into a
Python function ``f(A, L)`` over the view's assigns ``A`` and the template's
local variables ``L`` (loop targets, ``set``/``with`` names), and reports which
assigns it reads, so that the renderer skips it when none of them changed.

Semantics follow Jinja2's where a template can tell: ``a.b`` tries the
attribute, then the item (``a[b]`` the other way round), and a missing one is
a ``jinja2.Undefined`` (empty, false; reading further into it is an error);
filters and tests are the environment's, called through
``Environment.call_filter``/``call_test``; ``~`` concatenates strings. Unlike
Jinja2's default, a name that is no assign (nor local) is an error naming the
template and line, except under ``default``/``d`` and ``is defined``/``is
undefined``, which see a ``jinja2.Undefined`` as in Jinja2.

Invariants: the generated source only calls the helpers in ``RUNTIME`` and reads
``A`` (assigns), ``L`` (locals) and ``G`` (the template's globals); every
sub-expression is parenthesised, so Python's precedence never differs from
Jinja2's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes

Evaluate = Callable[[Any, dict[str, Any]], Any]

_BINARY = {
    nodes.Add: "+",
    nodes.Sub: "-",
    nodes.Mul: "*",
    nodes.Div: "/",
    nodes.FloorDiv: "//",
    nodes.Mod: "%",
    nodes.Pow: "**",
}
_COMPARE = {
    "eq": "==",
    "ne": "!=",
    "gt": ">",
    "gteq": ">=",
    "lt": "<",
    "lteq": "<=",
    "in": "in",
    "notin": "not in",
}
_SOFT_FILTERS = frozenset({"default", "d"})
_SOFT_TESTS = frozenset({"defined", "undefined"})


class Missing(LookupError):
    """A name, attribute or item an expression reads does not exist."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """One expression: its function and the assigns it reads."""

    evaluate: Evaluate
    deps: frozenset[str]
    source: str


class Compiler:
    """Compiles expression nodes of one template.

    Args:
        environment: the Jinja2 environment whose filters and tests apply.
        name: the template's name, for error messages.
        globals: names every expression of this template sees besides assigns and
            locals (``live_component``, the view's component classes); they never change.
    """

    def __init__(
        self, environment: jinja2.Environment, name: str, globals: dict[str, Any] | None = None
    ) -> None:
        self.environment = environment
        self.name = name
        self.globals = dict(globals or {})
        self._runtime = {**_runtime(environment), "G": self.globals}

    def compile(self, node: nodes.Node, local_deps: dict[str, frozenset[str]]) -> Compiled:
        """``local_deps`` maps each local name in scope to the assigns it stands for
        (a loop target's are its iterable's; ``frozenset()`` when it reads none)."""
        generator = _Generator(local_deps, self)
        source = generator.expr(node, soft=False)
        code = compile(f"lambda A, L: {source}", f"<{self.name}:{node.lineno}>", "eval")
        function: Evaluate = eval(code, dict(self._runtime))  # our generated code only
        return Compiled(function, frozenset(generator.deps), source)

    def error(self, node: nodes.Node, message: str) -> jinja2.TemplateSyntaxError:
        return jinja2.TemplateSyntaxError(message, node.lineno, self.name, self.name)


class _Generator:
    """Python source for one expression; collects the assigns it reads."""

    def __init__(self, local_deps: dict[str, frozenset[str]], compiler: Compiler) -> None:
        self.local_deps = local_deps
        self.compiler = compiler
        self.deps: set[str] = set()

    def expr(self, node: nodes.Node, *, soft: bool) -> str:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise self.compiler.error(
                node, f"{type(node).__name__} expressions are not supported in live templates"
            )
        source: str = method(node, soft)
        return source

    def all(self, items: Iterable[nodes.Node]) -> str:
        return ", ".join(self.expr(item, soft=False) for item in items)

    # Names and lookups

    def visit_Name(self, node: nodes.Name, soft: bool) -> str:
        name = node.name
        if name in self.local_deps:
            self.deps |= self.local_deps[name]
            return f"L[{name!r}]"
        if name in self.compiler.globals:
            return f"G[{name!r}]"
        self.deps.add(name)
        return f"_assign(A, {name!r}, {soft})"

    def visit_Getattr(self, node: nodes.Getattr, soft: bool) -> str:
        return f"_attr({self.expr(node.node, soft=soft)}, {node.attr!r}, {soft})"

    def visit_Getitem(self, node: nodes.Getitem, soft: bool) -> str:
        if isinstance(node.arg, nodes.Slice):
            return f"({self.expr(node.node, soft=soft)})[{self.slice(node.arg)}]"
        return (
            f"_item({self.expr(node.node, soft=soft)}, {self.expr(node.arg, soft=False)}, {soft})"
        )

    def slice(self, node: nodes.Slice) -> str:
        parts = [node.start, node.stop, node.step]
        return ":".join("" if part is None else self.expr(part, soft=False) for part in parts)

    # Literals

    def visit_Const(self, node: nodes.Const, soft: bool) -> str:
        return repr(node.value)

    def visit_TemplateData(self, node: nodes.TemplateData, soft: bool) -> str:
        return repr(node.data)

    def visit_List(self, node: nodes.List, soft: bool) -> str:
        return f"[{self.all(node.items)}]"

    def visit_Tuple(self, node: nodes.Tuple, soft: bool) -> str:
        return f"({self.all(node.items)},)" if node.items else "()"

    def visit_Dict(self, node: nodes.Dict, soft: bool) -> str:
        pairs = ", ".join(
            f"{self.expr(pair.key, soft=False)}: {self.expr(pair.value, soft=False)}"
            for pair in node.items
        )
        return f"{{{pairs}}}"

    # Operators

    def visit_BinExpr(self, node: nodes.BinExpr, soft: bool) -> str:
        left, right = self.expr(node.left, soft=False), self.expr(node.right, soft=False)
        return f"(({left}) {_BINARY[type(node)]} ({right}))"

    visit_Add = visit_Sub = visit_Mul = visit_Div = visit_BinExpr
    visit_FloorDiv = visit_Mod = visit_Pow = visit_BinExpr

    def visit_Concat(self, node: nodes.Concat, soft: bool) -> str:
        return f"_concat([{self.all(node.nodes)}])"

    def visit_And(self, node: nodes.And, soft: bool) -> str:
        return f"(({self.expr(node.left, soft=False)}) and ({self.expr(node.right, soft=False)}))"

    def visit_Or(self, node: nodes.Or, soft: bool) -> str:
        return f"(({self.expr(node.left, soft=False)}) or ({self.expr(node.right, soft=False)}))"

    def visit_Not(self, node: nodes.Not, soft: bool) -> str:
        return f"(not ({self.expr(node.node, soft=False)}))"

    def visit_Neg(self, node: nodes.Neg, soft: bool) -> str:
        return f"(-({self.expr(node.node, soft=False)}))"

    def visit_Pos(self, node: nodes.Pos, soft: bool) -> str:
        return f"(+({self.expr(node.node, soft=False)}))"

    def visit_Compare(self, node: nodes.Compare, soft: bool) -> str:
        parts = [f"({self.expr(node.expr, soft=False)})"]
        for operand in node.ops:
            parts.append(f"{_COMPARE[operand.op]} ({self.expr(operand.expr, soft=False)})")
        return f"({' '.join(parts)})"

    def visit_CondExpr(self, node: nodes.CondExpr, soft: bool) -> str:
        otherwise = "None" if node.expr2 is None else self.expr(node.expr2, soft=False)
        return (
            f"(({self.expr(node.expr1, soft=False)}) if ({self.expr(node.test, soft=False)}) "
            f"else ({otherwise}))"
        )

    # Calls, filters, tests

    def visit_Call(self, node: nodes.Call, soft: bool) -> str:
        return f"({self.expr(node.node, soft=False)})({self.arguments(node)})"

    def arguments(self, node: nodes.Call | nodes.Filter | nodes.Test) -> str:
        parts = [self.expr(arg, soft=False) for arg in node.args]
        parts += [f"{kw.key}={self.expr(kw.value, soft=False)}" for kw in node.kwargs]
        if node.dyn_args is not None:
            parts.append(f"*{self.expr(node.dyn_args, soft=False)}")
        if node.dyn_kwargs is not None:
            parts.append(f"**{self.expr(node.dyn_kwargs, soft=False)}")
        return ", ".join(parts)

    def visit_Filter(self, node: nodes.Filter, soft: bool) -> str:
        if node.name not in self.compiler.environment.filters:
            raise self.compiler.error(node, f"no filter named {node.name!r}")
        if node.node is None:
            raise self.compiler.error(node, "filter blocks are not supported in live templates")
        value = self.expr(node.node, soft=node.name in _SOFT_FILTERS)
        return (
            f"_filter({node.name!r}, {value}, ({self.list_of(node.args)}), {{{self.kwargs(node)}}})"
        )

    def visit_Test(self, node: nodes.Test, soft: bool) -> str:
        if node.name not in self.compiler.environment.tests:
            raise self.compiler.error(node, f"no test named {node.name!r}")
        value = self.expr(node.node, soft=node.name in _SOFT_TESTS)
        return (
            f"_test({node.name!r}, {value}, ({self.list_of(node.args)}), {{{self.kwargs(node)}}})"
        )

    def list_of(self, items: list[nodes.Expr]) -> str:
        return "".join(f"{self.expr(item, soft=False)}, " for item in items)

    def kwargs(self, node: nodes.Filter | nodes.Test) -> str:
        return ", ".join(f"{kw.key!r}: {self.expr(kw.value, soft=False)}" for kw in node.kwargs)

    def visit_MarkSafe(self, node: nodes.MarkSafe, soft: bool) -> str:
        return f"_markup({self.expr(node.expr, soft=False)})"


def _runtime(environment: jinja2.Environment) -> dict[str, Any]:
    """The helpers generated code calls, bound to ``environment``."""
    from markupsafe import Markup

    eval_context = nodes.EvalContext(environment)

    def _assign(assigns: Any, name: str, soft: bool) -> Any:
        try:
            return assigns[name]
        except KeyError:
            if soft:
                return jinja2.Undefined(name=name)
            raise Missing(f"{name!r} is not an assign of this view") from None

    def _attr(value: Any, name: str, soft: bool) -> Any:
        if type(value) is dict and name in value:  # the common case, without an exception
            return value[name]
        try:
            return getattr(value, name)
        except AttributeError:
            pass
        try:
            return value[name]
        except (TypeError, LookupError):
            return jinja2.Undefined(obj=value, name=name)

    def _item(value: Any, key: Any, soft: bool) -> Any:
        try:
            return value[key]
        except (TypeError, LookupError):
            pass
        if isinstance(key, str):
            try:
                return getattr(value, key)
            except AttributeError:
                pass
        return jinja2.Undefined(obj=value, name=key)

    def _filter(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return environment.call_filter(name, value, args, kwargs, eval_ctx=eval_context)

    def _test(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return environment.call_test(name, value, args, kwargs, eval_ctx=eval_context)

    def _concat(values: list[Any]) -> str:
        return "".join(str(value) for value in values)

    return {
        "_assign": _assign,
        "_attr": _attr,
        "_item": _item,
        "_filter": _filter,
        "_test": _test,
        "_concat": _concat,
        "_markup": Markup,
        "__builtins__": {},
    }


RUNTIME = frozenset({"_assign", "_attr", "_item", "_filter", "_test", "_concat", "_markup"})
