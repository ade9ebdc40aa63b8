"""The pinned phoenix_live_view client as an oracle: ``oracle.merge(diffs)`` returns the
HTML the client's own ``Rendered`` builds after the join render and after each diff."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ASSETS = HERE.parents[1] / "examples" / "contract" / "assets"


class Oracle:
    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None:
            pytest.fail("node is not on PATH: the diff oracle runs the LiveView client under Node")
        if not (ASSETS / "node_modules" / "phoenix_live_view").is_dir():
            pytest.fail(f"run `npm ci` in {ASSETS} (bash scripts/setup test does)")
        self.process = subprocess.Popen(
            [node, str(HERE / "rendered_oracle.cjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def merge(self, diffs: list[dict[str, Any]]) -> list[str]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"diffs": diffs}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        if "error" in answer:
            raise AssertionError(f"the client could not merge the diffs: {answer['error']}")
        html: list[str] = answer["html"]
        return html

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(5)


@pytest.fixture(scope="session")
def oracle() -> Iterator[Oracle]:
    instance = Oracle()
    try:
        yield instance
    finally:
        instance.close()
