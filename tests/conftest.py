"""Shared pytest configuration.

* Async tests run on asyncio through anyio's plugin.
* ``slow``: tests that start servers (uvicorn, redis-server, PostgreSQL), Node or
  a browser. Everything under ``integration/`` and ``benchmarks/`` is slow;
  other modules say so with ``pytestmark``. ``pytest -m "not slow"`` is the
  inner loop (the pure and in-process tests); CI runs everything.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SLOW_DIRS = ("integration", "benchmarks")
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).resolve().relative_to(HERE).parts
        if parts and parts[0] in SLOW_DIRS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"
