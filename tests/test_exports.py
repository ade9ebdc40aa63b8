"""The public API is ``phoenix_py.__all__`` (STYLE.md §2)."""

from __future__ import annotations

import phoenix_py


def test_every_exported_name_exists() -> None:
    missing = [name for name in phoenix_py.__all__ if not hasattr(phoenix_py, name)]
    assert missing == []


def test_all_is_sorted() -> None:
    assert list(phoenix_py.__all__) == sorted(phoenix_py.__all__)


def test_all_has_no_duplicates() -> None:
    assert len(phoenix_py.__all__) == len(set(phoenix_py.__all__))


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from phoenix_py import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(phoenix_py.__all__)
