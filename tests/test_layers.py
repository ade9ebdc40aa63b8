"""Imports point inward (STYLE.md §2): ``_core`` is stdlib + msgspec, no I/O.

Every module under ``src/phoenix_py/_core`` is parsed with ``ast``; any import
of an I/O library, or of a phoenix_py module outside ``_core`` other than
``phoenix_py.errors``, fails the test. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import phoenix_py._core

PACKAGE = "phoenix_py"
CORE = f"{PACKAGE}._core"
CORE_DIR = Path(phoenix_py._core.__file__).resolve().parent
FORBIDDEN = frozenset({"asyncio", "starlette", "uvicorn", "redis", "websockets", "anyio", "trio"})
ALLOWED_OUTSIDE_CORE = frozenset({f"{PACKAGE}.errors"})


def _module_name(path: Path) -> str:
    relative = path.relative_to(CORE_DIR).with_suffix("")
    parts = [part for part in relative.parts if part != "__init__"]
    return ".".join([CORE, *parts])


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """Absolute names of every module ``source`` imports.

    ``from x import y`` gives ``x`` and ``x.y`` (``y`` may be a module); a bare
    ``from phoenix_py import y`` (or ``from .. import y``) gives only ``phoenix_py.y``,
    so that ``from .. import errors`` is allowed and ``from .. import channel`` is not.
    """
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
            if base != PACKAGE or any(alias.name == "*" for alias in node.names):
                names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _allowed_inside_package(name: str) -> bool:
    return any(name == ok or name.startswith(f"{ok}.") for ok in (CORE, *ALLOWED_OUTSIDE_CORE))


def violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """The imports of ``source`` (module ``module``) that break the layering."""
    bad: list[str] = []
    for name in imported_modules(source, module, is_package=is_package):
        top = name.partition(".")[0]
        if top in FORBIDDEN or (top == PACKAGE and not _allowed_inside_package(name)):
            bad.append(name)
    return bad


CORE_FILES = sorted(CORE_DIR.rglob("*.py"))


def test_core_has_modules() -> None:
    names = {path.name for path in CORE_FILES}
    assert {"message.py", "serializer.py", "socket_state.py", "topics.py"} <= names


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda path: path.name)
def test_core_imports_point_inward(path: Path) -> None:
    module = _module_name(path)
    bad = violations(path.read_text(), module, is_package=_is_package(path))
    assert bad == [], f"{module} imports {bad}; _core may use the stdlib, msgspec and errors only"


class TestTheChecker:
    """The checker itself catches what it should, so a green run means something."""

    MODULE = f"{CORE}.example"

    @pytest.mark.parametrize(
        "source",
        [
            "import asyncio",
            "import asyncio.queues",
            "from asyncio import Queue",
            "import starlette.websockets",
            "from uvicorn import run",
            "import redis.asyncio as redis",
            "from websockets.asyncio.server import serve",
            "def f():\n    import asyncio\n",
            "from ..channel import Channel",
            "from .. import socket",
            "from ..pubsub.base import PubSub",
            "import phoenix_py.asgi",
            "from phoenix_py import Channel",
            "import phoenix_py",
            "from phoenix_py import *",
        ],
    )
    def test_flags(self, source: str) -> None:
        assert violations(source, self.MODULE) != []

    @pytest.mark.parametrize(
        "source",
        [
            "import re\nimport msgspec",
            "from ..errors import ProtocolError",
            "from .. import errors",
            "from phoenix_py.errors import UsageError",
            "from .message import Message",
            "from . import topics",
            "import phoenix_py._core.message",
            "from __future__ import annotations",
        ],
    )
    def test_allows(self, source: str) -> None:
        assert violations(source, self.MODULE) == []

    def test_relative_import_from_a_package_init(self) -> None:
        # In _core/__init__.py, "from . import x" is phoenix_py._core.x
        assert violations("from . import serializer", CORE, is_package=True) == []
        assert violations("from .. import channel", CORE, is_package=True) != []
