"""A full render as HTML: the dead render's page, what the client builds from the same tree.

``to_html`` walks a rendered tree the way the client's ``rendered.js``
(``toOutputBuffer``) does for a tree without root markers: statics
interleaved with dynamics, keyed comprehensions entry by entry against their
statics, components (integers) from the top-level ``"c"`` map.
"""

from __future__ import annotations

from typing import Any


def to_html(rendered: dict[str, Any]) -> str:
    """The HTML of a full render (``Renderer.render``'s first result)."""
    parts: list[str] = []
    _write(rendered, parts, rendered.get("c", {}))
    return "".join(parts)


def _write(rendered: dict[str, Any], parts: list[str], components: dict[str, Any]) -> None:
    statics: list[str] = rendered["s"]
    keyed = rendered.get("k")
    if keyed is not None:
        for position in range(keyed["kc"]):
            _interleave(statics, keyed[str(position)], parts, components)
        return
    _interleave(statics, rendered, parts, components)


def _interleave(
    statics: list[str], dynamics: dict[str, Any], parts: list[str], components: dict[str, Any]
) -> None:
    for index, static in enumerate(statics[:-1]):
        parts.append(static)
        value = dynamics[str(index)]
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, int):
            _write(components[str(value)], parts, components)
        else:
            _write(value, parts, components)
    parts.append(statics[-1])
