"""The docs show code that runs: every code block is code from ``examples/`` (STYLE.md).

* Every fenced block tagged ``python``/``py`` in ``docs/*.md`` and ``README.md``
  appears verbatim in a ``.py`` file under ``examples/``, and every block
  tagged ``js``/``javascript``/``mjs`` in a ``.js``/``.mjs`` file there
  (``node_modules`` excepted). Verbatim means: the block's lines, dedented,
  are a contiguous run of the file's lines, dedented the same way; trailing
  spaces and the blank lines around the block do not count. Those files are
  run in CI: ``tests/docs/`` imports and exercises ``examples/docs/``, and
  ``tests/integration/test_docs_pages.py`` serves them and runs the page
  scripts of ``examples/docs/js/`` with Node and the pinned phoenix.js.
* Other blocks (shell, console, text, JSON, indented blocks) and the prose are
  not compared, but every command they give that names a module must name one
  that exists: ``python -m X`` (X runs as a module), ``uvicorn X:Y`` and
  ``--ws X:Y`` (X imports and has Y), and ``python path/to/file.py``; and
  every path of the repository a page names in backticks (``examples/...``,
  ``tests/...``, ``src/...``, ``scripts/...``, ``benchmarks/...``) exists.

A failure names the page and the line of the block, and the example file
whose lines come closest, with the first line that differs.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
EXAMPLES = ROOT / "examples"

#: A block's tag -> the suffixes of the example files it may come from.
LANGUAGES: dict[str, tuple[str, ...]] = {
    "python": (".py",),
    "py": (".py",),
    "js": (".js", ".mjs"),
    "javascript": (".js", ".mjs"),
    "mjs": (".js", ".mjs"),
}

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<tag>[\w+-]*)")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    tag: str
    lines: tuple[str, ...]  # dedented, without the blank lines around it

    @property
    def where(self) -> str:
        return f"{shown(self.page)}:{self.line}"


def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def normalized(lines: list[str]) -> tuple[str, ...]:
    """``lines`` dedented together, trailing spaces dropped, blank lines at both ends cut."""
    text = textwrap.dedent("\n".join(line.rstrip() for line in lines))
    out = text.split("\n")
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return tuple(out)


def fenced_blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page (fences may be indented, in lists)."""
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").split("\n")
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            stripped = lines[end].strip()
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                break
            body.append(lines[end][indent:] if lines[end][:indent].isspace() else lines[end])
            end += 1
        blocks.append(Block(page, index + 1, opening["tag"].lower(), normalized(body)))
        index = end + 1
    return blocks


def example_files(suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(
        path
        for path in EXAMPLES.rglob("*")
        if path.suffix in suffixes and path.is_file() and "node_modules" not in path.parts
    )


def find(block: Block, files: list[Path]) -> tuple[bool, str]:
    """(found, where): where the block is, or the closest near miss for the message."""
    first = block.lines[0].strip()
    best: tuple[int, str] = (-1, "no example file has a line equal to the block's first line")
    for path in files:
        file_lines = path.read_text(encoding="utf-8").split("\n")
        for start, line in enumerate(file_lines):
            if line.strip() != first:
                continue
            window = normalized(file_lines[start : start + len(block.lines)])
            if window == block.lines:
                return True, f"{shown(path)}:{start + 1}"
            same = next(
                (i for i, (a, b) in enumerate(zip(window, block.lines, strict=False)) if a != b),
                min(len(window), len(block.lines)),
            )
            if same > best[0]:
                theirs = window[same] if same < len(window) else "(end of file)"
                best = (
                    same,
                    f"closest: {shown(path)}:{start + 1}, which differs at the block's "
                    f"line {same + 1}:\n  block: {block.lines[same]!r}\n  file:  {theirs!r}",
                )
    return False, best[1]


CODE_BLOCKS = [block for page in PAGES for block in fenced_blocks(page) if block.tag in LANGUAGES]


@pytest.mark.parametrize("block", CODE_BLOCKS, ids=lambda block: block.where)
def test_every_code_block_is_code_from_examples(block: Block) -> None:
    assert block.lines, f"{block.where}: an empty {block.tag} block"
    found, where = find(block, example_files(LANGUAGES[block.tag]))
    assert found, (
        f"{block.where}: this {block.tag} block is not in any file under examples/ "
        f"(it starts {block.lines[0]!r}); move the code into an example that CI runs and "
        f"show it from there.\n{where}"
    )


# Commands that name a module -------------------------------------------------------------------

PYTHON_M = re.compile(r"\bpython3?\s+-m\s+([A-Za-z_][\w.]*)")
UVICORN_APP = re.compile(r"\buvicorn\s+([A-Za-z_][\w.]*):([A-Za-z_]\w*)")
WS_CLASS = re.compile(r"--ws[\s=]+([A-Za-z_][\w.]*):([A-Za-z_]\w*)")
PYTHON_FILE = re.compile(r"\bpython3?\s+((?:[\w.-]+/)*[\w.-]+\.py)\b")


def commands(page: Path) -> list[tuple[int, str, str]]:
    """(line, kind, target) for every command of the page that names a module or a file."""
    found: list[tuple[int, str, str]] = []
    for number, line in enumerate(page.read_text(encoding="utf-8").split("\n"), 1):
        found += [(number, "python -m", m[1]) for m in PYTHON_M.finditer(line)]
        found += [(number, "uvicorn", f"{m[1]}:{m[2]}") for m in UVICORN_APP.finditer(line)]
        found += [(number, "--ws", f"{m[1]}:{m[2]}") for m in WS_CLASS.finditer(line)]
        found += [(number, "python", m[1]) for m in PYTHON_FILE.finditer(line)]
    return found


COMMANDS = [(page, *command) for page in PAGES for command in commands(page)]


def runs_as_module(name: str) -> bool:
    """``python -m name`` would find something to run."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    if spec.submodule_search_locations is None:
        return True
    try:
        return importlib.util.find_spec(f"{name}.__main__") is not None
    except ImportError:
        return False


@pytest.mark.parametrize(
    ("page", "line", "kind", "target"),
    COMMANDS,
    ids=[f"{page.relative_to(ROOT)}:{line}:{target}" for page, line, _, target in COMMANDS],
)
def test_every_command_names_a_module_that_exists(
    page: Path, line: int, kind: str, target: str
) -> None:
    where = f"{page.relative_to(ROOT)}:{line}"
    if kind == "python -m":
        assert runs_as_module(target), f"{where}: `python -m {target}`: no such module"
    elif kind == "python":
        assert (ROOT / target).is_file(), f"{where}: `python {target}`: no such file"
    else:
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            pytest.fail(f"{where}: `{kind} {target}`: {module_name} does not import ({exc})")
        assert hasattr(module, attribute), f"{where}: `{kind} {target}`: no {attribute}"


# Files the pages name -------------------------------------------------------------------------

REPO_PATH = re.compile(r"`((?:examples|tests|src|scripts|benchmarks)/[\w./-]*\w)`")


def named_paths(page: Path) -> list[tuple[int, str]]:
    """(line, path) for every repository path the page names in backticks."""
    return [
        (number, m[1])
        for number, line in enumerate(page.read_text(encoding="utf-8").split("\n"), 1)
        for m in REPO_PATH.finditer(line)
    ]


PATHS = [(page, line, path) for page in PAGES for line, path in named_paths(page)]


@pytest.mark.parametrize(
    ("page", "line", "path"),
    PATHS,
    ids=[f"{shown(page)}:{line}:{path}" for page, line, path in PATHS],
)
def test_every_file_a_page_names_exists(page: Path, line: int, path: str) -> None:
    assert (ROOT / path).exists(), f"{shown(page)}:{line}: `{path}` does not exist"


# The checker itself ----------------------------------------------------------------------------


def test_the_pages_have_code_blocks() -> None:
    assert len(CODE_BLOCKS) > 20 and len(COMMANDS) > 10


def test_a_block_is_found_as_a_dedented_excerpt(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n- a list item:\n\n  ```python\n  def handle(self):\n      return 1  \n"
        "  ```\n\n```python\nreturn 2\n```\n",
        encoding="utf-8",
    )
    example = tmp_path / "example.py"
    example.write_text("class A:\n    def handle(self):\n        return 1\n", encoding="utf-8")
    inside, elsewhere = fenced_blocks(page)
    assert inside.lines == ("def handle(self):", "    return 1")
    assert find(inside, [example])[0]
    found, message = find(elsewhere, [example])
    assert not found and "first line" in message


def test_a_near_miss_names_the_line_that_differs(tmp_path: Path) -> None:
    example = tmp_path / "example.py"
    example.write_text("x = 1\ny = 2\n", encoding="utf-8")
    block = Block(tmp_path / "page.md", 1, "python", ("x = 1", "y = 3"))
    found, message = find(block, [example])
    assert not found and "line 2" in message and "'y = 2'" in message


def test_commands_are_found_in_prose_and_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Run `python -m examples.contract --port 1` or\n\n"
        "    uvicorn examples.hello.app:app --ws phoenix_py.uvicorn:WebSocketProtocol\n",
        encoding="utf-8",
    )
    assert commands(page) == [
        (1, "python -m", "examples.contract"),
        (3, "uvicorn", "examples.hello.app:app"),
        (3, "--ws", "phoenix_py.uvicorn:WebSocketProtocol"),
    ]
    assert runs_as_module("examples.contract") and not runs_as_module("examples.hello")


# The README's set-up -------------------------------------------------------------------------


def test_readme_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/test" in readme and "bash scripts/run" in readme
    assert "scripts/test" in (ROOT / ".ci/run").read_text(encoding="utf-8")
