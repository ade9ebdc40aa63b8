"""The README's example is the code of examples/hello/app.py, not a retyped copy."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_is_examples_hello() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme, re.S)
    assert block is not None
    assert block.group(1).strip() in (ROOT / "examples/hello/app.py").read_text()


def test_readme_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test" in readme and "bash scripts/run" in readme
    assert "scripts/test" in (ROOT / ".ci/run").read_text()
