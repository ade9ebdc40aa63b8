"""The package's layers as code (STYLE.md §2): imports point one way, and ``_core`` is pure.

Every module of ``src/phoenix_py`` is parsed with ``ast`` and must sit in one
layer of ``LAYERS`` (lowest first). A module may import modules of lower
layers only: never one of its own layer, never one above. Imports inside
functions and under ``TYPE_CHECKING`` count too, so a passing run means the
import graph has no cycle at all. ``_core`` imports nothing of the package
but ``errors`` and no I/O library.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import ClassVar

import pytest

import phoenix_py

PACKAGE = "phoenix_py"
ROOT = Path(phoenix_py.__file__).resolve().parent

#: Lowest first. A module imports from the layers before its own only.
LAYERS: list[list[str]] = [
    ["errors"],
    [
        "_core.message",
        "_core.topics",
        "_core.params",
        "_core.rate_limit",
        "_core.longpoll_wire",
        "_core.session_token",
        "_core.presence_state",
    ],
    ["_core.serializer", "_core.history"],
    ["_core.socket_state"],
    ["_core"],
    [
        "types",
        "auth",
        "telemetry",
        "pubsub.codec",
        "live._expr",
        "live._html",
        "live._tokens",
        "live._client",
        "live._ticker",
    ],
    ["live._assigns", "live._templates", "live.uploads"],
    ["pubsub.adapter", "_ws_asgi", "live._compile"],
    ["pubsub.memory", "pubsub.redis", "_ws_connection", "live._render"],
    ["pubsub.base", "live.component"],
    ["pubsub", "live.view", "live._components", "live._view_process"],
    ["live._routes", "live._client_payloads", "history", "pubsub.redis_history"],
    ["channel", "_history_follower"],
    ["socket", "presence.tracker", "live._channel", "live._upload_channel"],
    ["presence"],
    ["_channel_server"],
    ["_socket_server"],
    ["transports.base"],
    ["transports._outbox", "transports._longpoll_session"],
    ["transports._asgi_websocket", "transports._direct_websocket", "transports._longpoll_routing"],
    ["transports.websocket", "transports.longpoll", "transports"],
    ["asgi"],
    ["uvicorn", "testing", "metrics", "live.app", "live._testing_elements"],
    ["live._testing_page"],
    ["", "live", "live.testing"],  # phoenix_py itself (__init__.py), phoenix_py.live
    # phoenix_py.dashboard: built on all of the above, imported by none of it.
    ["dashboard._window"],
    ["dashboard.collector", "dashboard._guard"],
    ["dashboard.nodes"],
    ["dashboard.view"],
    ["dashboard.mount"],
    ["dashboard"],
]

CORE_FORBIDDEN = frozenset({"asyncio", "starlette", "uvicorn", "redis", "websockets", "anyio"})
CORE_MAY_IMPORT = frozenset({"errors"})
#: Outside _core, the other modules without I/O: the live template compiler and renderer.
PURE = (
    "live._assigns",
    "live._client",
    "live._compile",
    "live._components",
    "live._expr",
    "live._html",
    "live._render",
    "live._templates",
    "live._tokens",
)


def module_name(path: Path) -> str:
    """``_core.serializer`` for ``src/phoenix_py/_core/serializer.py``; ``""`` for the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(source: str, module: str, *, is_package: bool) -> list[str]:
    """Absolute names of everything ``source`` imports (``from x import y`` gives ``x.y``,
    which is module ``x`` when ``y`` is a name defined in it)."""
    package = module if is_package else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            # "from x import y" imports x.y when y is a module, else a name of x.
            names.extend(base if a.name == "*" else f"{base}.{a.name}" for a in node.names)
    return names


def internal_imports(source: str, module: str, *, is_package: bool, known: set[str]) -> set[str]:
    """The package's own modules that ``source`` imports (relative to ``phoenix_py``)."""
    found: set[str] = set()
    full = f"{PACKAGE}.{module}".rstrip(".")
    for name in imported_names(source, full, is_package=is_package):
        if name != PACKAGE and not name.startswith(f"{PACKAGE}."):
            continue
        relative = name.removeprefix(PACKAGE).removeprefix(".")
        while relative not in known:  # "x.Name": the module is "x"
            relative = relative.rpartition(".")[0]
        if relative != module and not (is_package and relative == ""):
            found.add(relative)
    return found


FILES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}
LAYER_OF = {name: index for index, layer in enumerate(LAYERS) for name in layer}


def test_every_module_has_a_layer() -> None:
    assert sorted(set(FILES) - set(LAYER_OF)) == [], "place the new module in LAYERS"
    assert sorted(set(LAYER_OF) - set(FILES)) == [], "LAYERS names a module that is gone"


@pytest.mark.parametrize("module", sorted(FILES), ids=lambda name: name or PACKAGE)
def test_imports_point_down(module: str) -> None:
    path = FILES[module]
    imports = internal_imports(
        path.read_text(), module, is_package=path.name == "__init__.py", known=set(FILES)
    )
    own = LAYER_OF[module]
    upward = sorted(name for name in imports if LAYER_OF[name] >= own)
    assert upward == [], (
        f"{module or PACKAGE} (layer {own}) imports {upward}, which are not below it: "
        "depend on a Protocol in a lower module instead"
    )


@pytest.mark.parametrize("module", sorted(n for n in FILES if n.startswith("_core") or n in PURE))
def test_core_is_pure(module: str) -> None:
    path = FILES[module]
    names = imported_names(
        path.read_text(), f"{PACKAGE}.{module}", is_package=path.name == "__init__.py"
    )
    io = sorted({name.partition(".")[0] for name in names} & CORE_FORBIDDEN)
    assert io == [], f"{module} imports I/O libraries {io}"
    if module in PURE:
        return
    outside = internal_imports(
        path.read_text(), module, is_package=path.name == "__init__.py", known=set(FILES)
    )
    outside = {name for name in outside if not name.startswith("_core")} - CORE_MAY_IMPORT
    assert outside == set(), f"{module} imports {sorted(outside)}; _core may use errors only"


class TestTheChecker:
    """The checker finds what it should, so a green run means something."""

    KNOWN: ClassVar[set[str]] = {
        "",
        "errors",
        "channel",
        "socket",
        "_core",
        "_core.message",
        "pubsub",
        "pubsub.base",
    }

    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("from .channel import Channel", {"channel"}),
            ("from . import socket", {"socket"}),
            ("import phoenix_py.pubsub.base", {"pubsub.base"}),
            ("from phoenix_py import Channel", {""}),
            (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .socket import S",
                {"socket"},
            ),
            ("def f():\n    from ._core.message import Message\n", {"_core.message"}),
            ("import asyncio\nimport msgspec", set()),
        ],
    )
    def test_finds_internal_imports(self, source: str, expected: set[str]) -> None:
        found = internal_imports(source, "errors", is_package=False, known=self.KNOWN)
        assert found == expected

    def test_relative_import_from_a_package_init(self) -> None:
        found = internal_imports(
            "from .base import PubSub\nfrom ..channel import Channel",
            "pubsub",
            is_package=True,
            known=self.KNOWN,
        )
        assert found == {"pubsub.base", "channel"}
