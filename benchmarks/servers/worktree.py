"""A server from another checkout of this repository (e.g. a git worktree of an
earlier commit), so that old and new code are measured side by side in one run.

    python -m benchmarks.servers.worktree [--src-only] TREE MODULE [ARGUMENTS...] --port 4000

runs ``python -m MODULE ARGUMENTS... --port 4000`` in ``TREE`` with
``PYTHONPATH=TREE/src:TREE``, so that both ``phoenix_py`` and the tree's own
``benchmarks``/``examples`` are the tree's. With ``--src-only`` only
``phoenix_py`` is the tree's: ``MODULE`` is this checkout's (today's benchmark
server, with its options such as ``--ws-ping-interval``, on the old library).
It replaces itself with that process (``exec``): the pid the suite measures
and the CPU pinning stay the same. The suite starts it as any built-in
server, fresh for every N, with ``--variant``::

    python -m benchmarks fanout \\
        --variant "old_direct=worktree:/tmp/old benchmarks.servers.phoenix_py_server --mode direct"
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    arguments = sys.argv[1:]
    src_only = bool(arguments) and arguments[0] == "--src-only"
    if src_only:
        arguments.pop(0)
    if len(arguments) < 2:
        raise SystemExit(f"usage: {sys.argv[0]} [--src-only] TREE MODULE [ARGUMENTS...]")
    tree = Path(arguments[0]).resolve()
    module, *rest = arguments[1:]
    if not (tree / "src" / "phoenix_py").is_dir():
        raise SystemExit(f"{tree}: no src/phoenix_py here")
    if src_only:
        # This checkout (the current directory) first for ``-m MODULE``, then the tree's library.
        path = [str(tree / "src")]
    else:
        path = [str(tree / "src"), str(tree)]
        os.chdir(tree)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    os.execve(sys.executable, [sys.executable, "-m", module, *rest], environment)


if __name__ == "__main__":
    main()
