"""Fixtures that run the contract app and drive it with the official phoenix.js client.

- ``js_deps`` (session): makes sure ``npm ci`` has been run in ``tests/integration/js``.
- ``contract_server``: a running ``python -m examples.contract`` on a free loopback port.
  One process serves the whole session (every scenario uses its own unique topics and users);
  it is restarted if a test left it dead, and that test fails with the server's output.
- ``run_js`` (fixture): the :func:`run_js` helper, with the npm dependencies guaranteed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
JS_DIR = HERE / "js"
RUNNER = JS_DIR / "run.mjs"

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 15.0
JS_TIMEOUT_S = 30.0
NPM_CI_TIMEOUT_S = 300.0

RunJs = Callable[..., dict[str, Any]]


# ------------------------------------------------------------------------------------------------
# npm dependencies


def _pinned_versions() -> dict[str, str]:
    """The exact versions package.json pins, with npm aliases resolved (npm:phoenix@1.7.23)."""
    manifest = json.loads((JS_DIR / "package.json").read_text(encoding="utf-8"))
    pins: dict[str, str] = {}
    for name, spec in manifest.get("dependencies", {}).items():
        pins[name] = spec.rsplit("@", 1)[1] if spec.startswith("npm:") else spec
    return pins


def _installed_version(name: str) -> str | None:
    manifest = JS_DIR / "node_modules" / name / "package.json"
    if not manifest.is_file():
        return None
    version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    return version if isinstance(version, str) else None


def _js_deps_missing() -> list[str]:
    return [
        f"{name} (want {want}, have {have})"
        for name, want in _pinned_versions().items()
        if (have := _installed_version(name)) != want
    ]


@pytest.fixture(scope="session")
def js_deps() -> Path:
    """Runs ``npm ci`` in tests/integration/js unless node_modules already holds the pins."""
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: the phoenix.js integration tests need Node.js 20+")
    missing = _js_deps_missing()
    if missing:
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(f"npm is not on PATH and node_modules is incomplete: {missing}")
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT_S,
            check=False,
        )
        if proc.returncode != 0:
            pytest.fail(
                f"`npm ci` failed in {JS_DIR} (exit {proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        missing = _js_deps_missing()
        if missing:
            pytest.fail(f"`npm ci` ran but node_modules still lacks: {missing}")
    return JS_DIR


# ------------------------------------------------------------------------------------------------
# the contract server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class ContractServer:
    """One ``python -m examples.contract`` process on a loopback port, output in a log file."""

    def __init__(self) -> None:
        self.host = HOST
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop())
            prefix="contract-server-", suffix=".log", delete=False
        )
        self.log_path = Path(self._log.name)
        self.test_log_offset = 0
        self.starts = 0

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/socket"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_size(self) -> int:
        self._log.flush()
        return self.log_path.stat().st_size

    def log_since(self, offset: int = 0, limit: int = 20_000) -> str:
        self._log.flush()
        data = self.log_path.read_bytes()[offset:]
        text = data.decode("utf-8", errors="replace")
        if len(text) > limit:
            text = f"[... {len(text) - limit} characters cut ...]\n{text[-limit:]}"
        return text

    def start(self) -> None:
        self.port = _free_port()
        self.starts += 1
        env = dict(os.environ)
        src = str(REPO_ROOT / "src")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        offset = self.log_size()
        self._log.write(f"--- start #{self.starts} on port {self.port} ---\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "examples.contract",
                "--host",
                self.host,
                "--port",
                str(self.port),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"the contract server exited with {self.proc.returncode} before accepting "
                    f"connections on {self.host}:{self.port}; its output:\n{self.log_since(offset)}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.25):
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                self.stop()
                pytest.fail(
                    f"the contract server did not accept TCP connections on {self.host}:"
                    f"{self.port} within {STARTUP_TIMEOUT_S:.0f} s; its output:\n"
                    f"{self.log_since(offset)}"
                )
            time.sleep(0.05)

    def stop(self) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        return proc.returncode

    def close(self) -> None:
        self.stop()
        self._log.close()
        self.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def _contract_server_session() -> Iterator[ContractServer]:
    server = ContractServer()
    try:
        server.start()
        yield server
        proc = server.proc
        crashed = proc is not None and proc.poll() is not None
        code = server.stop()
        # a server that exits by itself, or that does not stop cleanly on SIGTERM, is worth seeing
        if crashed or (code not in (0, -15, None)):
            sys.stderr.write(
                f"\ncontract server exited with {code}; its output:\n{server.log_since()}\n"
            )
    finally:
        server.close()


@pytest.fixture
def contract_server(_contract_server_session: ContractServer) -> Iterator[ContractServer]:
    """The running contract server; fails the test that leaves it dead."""
    server = _contract_server_session
    if not server.alive():
        server.start()
    server.test_log_offset = server.log_size()
    yield server
    if not server.alive():
        code = server.proc.returncode if server.proc is not None else None
        pytest.fail(
            f"the contract server died during this test (exit {code}); its output:\n"
            f"{server.log_since(server.test_log_offset)}"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attaches the contract server's output during a failed test to its report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and report.when in ("call", "teardown"):
        funcargs = getattr(item, "funcargs", {})
        server = funcargs.get("contract_server")
        if isinstance(server, ContractServer):
            output = server.log_since(server.test_log_offset)
            report.sections.append(("contract server output", output or "(nothing)"))


# ------------------------------------------------------------------------------------------------
# the Node scenario runner


def run_js(
    server: ContractServer,
    scenario: str,
    client: str = "phoenix",
    vsn: str = "2.0.0",
    timeout: float = JS_TIMEOUT_S,
    **extra: object,
) -> dict[str, Any]:
    """Runs one scenario of run.mjs against ``server`` and returns its JSON observations.

    Extra keyword arguments become ``--key value`` options (underscores turn into dashes;
    non-string values are JSON-encoded).
    """
    node = shutil.which("node")
    if node is None:
        raise AssertionError("node is not on PATH")
    args = [
        node,
        str(RUNNER),
        "--url",
        server.ws_url,
        "--http-url",
        server.http_url,
        "--client",
        client,
        "--vsn",
        vsn,
        "--scenario",
        scenario,
    ]
    for key, value in extra.items():
        args += [
            f"--{key.replace('_', '-')}",
            value if isinstance(value, str) else json.dumps(value),
        ]
    label = f"scenario {scenario!r} (client {client}, vsn {vsn})"
    try:
        proc = subprocess.run(
            args, cwd=JS_DIR, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{label}: node did not finish within {timeout} s") from exc
    if proc.returncode != 0:
        raise AssertionError(
            f"{label}: node exited with {proc.returncode}\n"
            f"--- node stderr ---\n{proc.stderr.strip()}\n"
            f"--- node stdout ---\n{proc.stdout.strip()}"
        )
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise AssertionError(f"{label}: node printed nothing; stderr:\n{proc.stderr}")
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise AssertionError(f"{label}: node printed no JSON: {proc.stdout!r}") from exc
    return result


@pytest.fixture(name="run_js")
def run_js_fixture(js_deps: Path) -> RunJs:
    """The :func:`run_js` helper, once the npm dependencies are installed."""
    return run_js
