"""Fixtures that run the contract app and drive it with the official phoenix.js client.

- ``js_deps`` (session): makes sure ``npm ci`` has been run in ``tests/integration/js``.
- ``contract_server``: a running ``python -m examples.contract`` on a free loopback port.
  One process serves the whole session (every scenario uses its own unique topics and users);
  it is restarted if a test left it dead, and that test fails with the server's output.
- ``run_js`` (fixture): the :func:`run_js` helper, with the npm dependencies guaranteed.
- ``start_js`` (fixture): the :func:`start_js` helper, for scenarios that stop at checkpoints
  so that the test can act (kill a node, restart Redis) in the middle of a scenario.
- ``cluster_factory``: starts clusters of N contract app instances sharing a fresh real
  redis-server (``tests/redis_server.py``); a failing test shows every instance's output.
- ``alternating_cluster``: two instances on one redis-server behind an ``AlternatingProxy``
  (``servers.py``), started once; to ``run_js`` it looks like one server whose requests
  alternate between the instances (LongPoll without sticky sessions).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ..redis_server import RedisServer
from .servers import AlternatingProxy, ThreadedServer

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
    """One ``python -m examples.contract`` process on a loopback port, output in a log file.

    ``extra_args`` are appended to the command line (``--redis URL`` makes it a cluster node).
    """

    def __init__(self, extra_args: Sequence[str] = (), label: str = "contract server") -> None:
        self.extra_args = list(extra_args)
        self.label = label
        self.host = HOST
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop())
            prefix="contract-server-", suffix=".log", delete=False
        )
        self.log_path = Path(self._log.name)
        self.test_log_offset = 0
        self._start_offset = 0
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
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Starts the process without waiting for it to listen (see :meth:`wait_ready`)."""
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
                *self.extra_args,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._start_offset = offset

    def wait_ready(self) -> None:
        """Waits until the launched process accepts TCP connections; fails the test if not."""
        assert self.proc is not None, "launch() first"
        offset = self._start_offset
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"the {self.label} exited with {self.proc.returncode} before accepting "
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
                    f"the {self.label} did not accept TCP connections on {self.host}:"
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

    def send_signal(self, sig: int) -> float:
        """Sends ``sig`` to the process; returns the wall-clock time (ms) just before."""
        assert self.proc is not None and self.proc.poll() is None, (
            f"the {self.label} is not running"
        )
        sent_at_ms = time.time() * 1000
        self.proc.send_signal(sig)
        return sent_at_ms

    def kill(self) -> float:
        """SIGKILL: the process dies at once, saying goodbye to nobody."""
        sent_at_ms = self.send_signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(timeout=5)
        return sent_at_ms

    def wait_exit(self, timeout: float) -> int:
        """Waits for the process to exit by itself; fails the test if it does not."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the {self.label} did not exit within {timeout} s")

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


def watched(server: ContractServer, name: str) -> Iterator[ContractServer]:
    """Yield ``server`` running (restarted if an earlier test killed it); fail the
    test that leaves it dead, with its output."""
    if not server.alive():
        server.start()
    server.test_log_offset = server.log_size()
    yield server
    if not server.alive():
        code = server.proc.returncode if server.proc is not None else None
        pytest.fail(
            f"the {name} died during this test (exit {code}); its output:\n"
            f"{server.log_since(server.test_log_offset)}"
        )


@pytest.fixture
def contract_server(_contract_server_session: ContractServer) -> Iterator[ContractServer]:
    """The running contract server; fails the test that leaves it dead."""
    yield from watched(_contract_server_session, "contract server")


# ------------------------------------------------------------------------------------------------
# clusters: N contract app instances sharing one real redis-server


CLUSTER_DOWN_PERIOD_S = 3.0


class ContractCluster:
    """A fresh redis-server plus ``size`` contract app instances started with ``--redis``.

    The instances use ``--presence-down-period`` ``down_period`` (so a silent node's presences
    leave after that many seconds, and the nodes heartbeat every ``down_period / 4``).
    """

    def __init__(self, size: int, down_period: float = CLUSTER_DOWN_PERIOD_S) -> None:
        try:
            self.redis = RedisServer()
        except RuntimeError as exc:  # redis-server missing: a failure, never a skip
            pytest.fail(str(exc))
        self.down_period = down_period
        args = ["--redis", self.redis.url, "--presence-down-period", str(down_period)]
        self.nodes = [ContractServer(args, label=f"cluster node {i}") for i in range(size)]

    def start(self) -> None:
        self.redis.start()
        for node in self.nodes:  # in parallel: each takes a few hundred ms to boot
            node.launch()
        for node in self.nodes:
            node.wait_ready()

    def mark_test_start(self) -> None:
        for node in self.nodes:
            node.test_log_offset = node.log_size()

    def report_sections(self, prefix: str = "") -> list[tuple[str, str]]:
        sections = []
        for i, node in enumerate(self.nodes):
            state = "running" if node.alive() else f"exited {_returncode(node)}"
            output = node.log_since(node.test_log_offset)
            title = f"{prefix}cluster node {i} (port {node.port}, {state}) output"
            sections.append((title, output or "(nothing)"))
        return sections

    def close(self) -> None:
        for node in self.nodes:
            node.close()
        self.redis.stop()


def _returncode(server: ContractServer) -> int | None:
    return server.proc.returncode if server.proc is not None else None


class ClusterFactory:
    """Starts clusters for one test and stops them all after it."""

    def __init__(self) -> None:
        self.clusters: list[ContractCluster] = []

    def __call__(self, size: int, down_period: float = CLUSTER_DOWN_PERIOD_S) -> ContractCluster:
        cluster = ContractCluster(size, down_period)
        self.clusters.append(cluster)
        cluster.start()
        cluster.mark_test_start()
        return cluster

    def report_sections(self) -> list[tuple[str, str]]:
        sections = []
        for n, cluster in enumerate(self.clusters):
            sections += cluster.report_sections(f"cluster #{n}: " if len(self.clusters) > 1 else "")
        return sections

    def close(self) -> None:
        for cluster in self.clusters:
            cluster.close()


@pytest.fixture
def cluster_factory() -> Iterator[ClusterFactory]:
    """``cluster_factory(n)`` starts a fresh redis-server and ``n`` instances on it.

    Everything is stopped after the test; the instances' output is attached to a failure.
    """
    factory = ClusterFactory()
    try:
        yield factory
    finally:
        factory.close()


class AlternatingCluster:
    """Two contract instances on one Redis behind an ``AlternatingProxy``.

    ``ws_url`` and ``http_url`` are the proxy's, so ``run_js`` can drive it like one
    ``ContractServer``; ``proxy.served`` logs which instance answered each request.
    """

    def __init__(self) -> None:
        self.cluster = ContractCluster(2)
        self.proxy = AlternatingProxy([])
        self.proxy_server = ThreadedServer(self.proxy)

    @property
    def nodes(self) -> list[ContractServer]:
        return self.cluster.nodes

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.proxy_server.port}/socket"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_server.port}"

    def start(self) -> None:
        self.cluster.start()
        self.proxy.backends = [node.http_url for node in self.nodes]
        self.proxy_server.start()

    def report_sections(self) -> list[tuple[str, str]]:
        return self.cluster.report_sections("alternating ")

    def close(self) -> None:
        self.proxy_server.stop()
        self.cluster.close()


@pytest.fixture(scope="session")
def _alternating_cluster_session() -> Iterator[AlternatingCluster]:
    cluster = AlternatingCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def alternating_cluster(
    _alternating_cluster_session: AlternatingCluster,
) -> Iterator[AlternatingCluster]:
    """Two instances behind a proxy that alternates requests; fails the test that kills one."""
    cluster = _alternating_cluster_session
    for node in cluster.nodes:
        if not node.alive():
            pytest.fail(f"{node.label} died in an earlier test:\n{node.log_since()}")
    cluster.cluster.mark_test_start()
    yield cluster
    dead = [node.label for node in cluster.nodes if not node.alive()]
    if dead:
        pytest.fail(f"died during this test: {dead}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attaches the servers' output during a failed test to its report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and report.when in ("call", "teardown"):
        funcargs = getattr(item, "funcargs", {})
        server = funcargs.get("contract_server")
        if isinstance(server, ContractServer):
            output = server.log_since(server.test_log_offset)
            report.sections.append(("contract server output", output or "(nothing)"))
        seen: set[int] = set()
        for value in funcargs.values():
            reports = isinstance(value, ContractCluster | ClusterFactory | AlternatingCluster)
            if reports and id(value) not in seen:
                seen.add(id(value))
                report.sections.extend(value.report_sections())


# ------------------------------------------------------------------------------------------------
# the Node scenario runner


def _node_args(
    server: ContractServer, scenario: str, client: str, vsn: str, extra: dict[str, object]
) -> list[str]:
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
    return args


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
    args = _node_args(server, scenario, client, vsn, extra)
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


class JsSession:
    """A running scenario that stops at checkpoints (see ``checkpoint`` in run.mjs).

    At each checkpoint the scenario prints ``{"checkpoint": NAME, ...}`` on stdout and waits
    for one JSON line on stdin; :meth:`checkpoint` waits for it, :meth:`resume` answers it.
    """

    def __init__(self, args: list[str], label: str, timeout: float) -> None:
        self.label = label
        self.timeout = timeout
        self.proc = subprocess.Popen(
            args,
            cwd=JS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def _failure(self, what: str) -> AssertionError:
        for reader in self._readers:
            reader.join(timeout=2)
        return AssertionError(
            f"{self.label}: {what} (exit {self.proc.poll()})\n"
            f"--- node stderr ---\n{''.join(self.stderr_lines).strip()}\n"
            f"--- node stdout ---\n{''.join(self.stdout_lines).strip()}"
        )

    def checkpoint(self, name: str, timeout: float = 15.0) -> dict[str, Any]:
        """Waits until the scenario reaches checkpoint ``name``; returns what it printed."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                raise self._failure(f"checkpoint {name!r} not reached within {timeout} s") from None
            if line is None:
                self.proc.wait(timeout=5)
                raise self._failure(f"node ended before checkpoint {name!r}")
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict) and data.get("checkpoint") == name:
                return data

    def resume(self, **data: object) -> None:
        """Lets the scenario go on past its current checkpoint, handing it ``data``."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(data) + "\n")
        self.proc.stdin.flush()

    def result(self) -> dict[str, Any]:
        """Waits for the scenario to end and returns its final JSON observations."""
        try:
            code = self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise self._failure(f"node did not finish within {self.timeout} s") from None
        for reader in self._readers:
            reader.join(timeout=5)
        if code != 0:
            raise self._failure("node failed")
        try:
            result: dict[str, Any] = json.loads(self.stdout_lines[-1])
        except (IndexError, json.JSONDecodeError):
            raise self._failure("node printed no final JSON") from None
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


StartJs = Callable[..., JsSession]


@pytest.fixture(name="start_js")
def start_js_fixture(js_deps: Path) -> Iterator[StartJs]:
    """``start_js(server, scenario, **options)``: a :class:`JsSession`, killed after the test."""
    sessions: list[JsSession] = []

    def start_js(
        server: ContractServer,
        scenario: str,
        client: str = "phoenix",
        vsn: str = "2.0.0",
        timeout: float = JS_TIMEOUT_S,
        **extra: object,
    ) -> JsSession:
        args = _node_args(server, scenario, client, vsn, extra)
        session = JsSession(args, f"scenario {scenario!r} (client {client}, vsn {vsn})", timeout)
        sessions.append(session)
        return session

    yield start_js
    for session in sessions:
        session.close()
