"""The processes a measurement needs: the receiver (one per run) and a Celery worker (one per
contender run), each started fresh, waited for, and stopped within a bounded time."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.engine_support import procs

if TYPE_CHECKING:
    from celery import Celery

ROOT = Path(__file__).resolve().parents[2]
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy")


class Timeout(RuntimeError):
    """A bounded wait ran out; the message says what was seen."""


def wait_until(
    check: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.01
) -> Any:
    """Poll ``check`` until it returns something truthy; raise Timeout with ``what``'s story.

    ``what`` may be a callable, evaluated only on timeout, to describe the state seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            story = what() if callable(what) else what
            raise Timeout(f"timed out after {timeout:.0f} s waiting for {story}")
        time.sleep(interval)


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    """Our environment without proxies (the peer's requests.Session would use them)."""
    env = {name: value for name, value in os.environ.items() if name.lower() not in PROXY_VARIABLES}
    path = [os.environ["BENCH_ENGINE_PATH"]] if os.environ.get("BENCH_ENGINE_PATH") else []
    env.update(
        {"NO_PROXY": "*", "no_proxy": "*", "PYTHONPATH": os.pathsep.join([*path, str(ROOT)])}
    )
    env.update(extra)
    return env


def working_directory() -> Path:
    """Where subprocesses run: ``python -m`` puts it first on sys.path, so with an exported
    engine (``--engine-rev``) it must be that export, not the repository."""
    return Path(os.environ.get("BENCH_ENGINE_PATH") or ROOT)


def stop_process(process: subprocess.Popen, *, grace: float) -> None:
    """SIGTERM its process group, then SIGKILL it after ``grace`` seconds."""
    if process.poll() is not None:
        return
    group = os.getpgid(process.pid)
    os.killpg(group, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        process.wait(timeout=10)
    # Pool children left behind by a killed main process share its group.
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Receiver:
    """The asyncio receiver process, and a keep-alive client for its control channel."""

    def __init__(self, log_dir: Path) -> None:
        self.log = open(log_dir / "receiver.log", "wb")  # closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.engine_support.receiver"],
            cwd=ROOT,
            env=clean_environment({}),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().strip()
        if not line.startswith("PORT "):
            raise RuntimeError(f"The receiver did not start: {line!r}; see {self.log.name}")
        self.port = int(line.split()[1])
        self.pid = self.process.pid
        self.control = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _call(self, method: str, path: str) -> Any:
        for retry in (False, True):
            try:
                self.control.request(method, path)
                return json.loads(self.control.getresponse().read())
            except (http.client.HTTPException, ConnectionError):
                if retry:
                    raise
                self.control.close()

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_stats")

    def arrivals(self, since: int = 0) -> list[tuple[str, str, float, int]]:
        return [tuple(item) for item in self._call("GET", f"/_arrivals?since={since}")]

    def reset(self) -> None:
        self._call("POST", "/_reset")

    def stop(self) -> None:
        try:
            self._call("POST", "/_quit")
            self.process.wait(timeout=5)
        except (OSError, http.client.HTTPException, subprocess.TimeoutExpired):
            pass
        stop_process(self.process, grace=5)
        self.log.close()


class Worker:
    """``celery worker --pool=prefork`` in its own process group, started fresh per run."""

    def __init__(
        self, app: Celery, env: dict[str, str], log_path: Path, concurrency: int = 2
    ) -> None:
        self.app = app
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.hostname = f"bench-{secrets.token_hex(4)}@127.0.0.1"
        self.process: subprocess.Popen | None = None
        self.children: list[int] = []

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "benchmarks.engine_support.celery_app",
            "worker", "--pool=prefork", f"--concurrency={self.concurrency}",
            "--loglevel=WARNING", "--without-heartbeat", "--without-gossip",
            "--without-mingle", "-n", self.hostname,
        ]  # fmt: skip

    def start(self, timeout: float = 60) -> Worker:
        """Start it and return once it answers a ping and its pool processes exist."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=working_directory(),
                env=clean_environment(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(
            self._answers_ping, timeout=timeout, what=self._describe("a ping answer"), interval=0
        )
        self.children = wait_until(
            self._pool,
            timeout=timeout,
            what=self._describe(f"{self.concurrency} pool processes"),
            interval=0.05,
        )
        return self

    def _answers_ping(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(self._describe("a ping answer")() + " (the worker exited)")
        replies = self.app.control.ping(destination=[self.hostname], timeout=0.25)
        return any(self.hostname in reply for reply in replies)

    def _pool(self) -> list[int] | None:
        kids = procs.children(self.pid)
        return kids if len(kids) >= self.concurrency else None

    def _describe(self, goal: str) -> Callable[[], str]:
        def story() -> str:
            tail = (
                self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            )
            return f"the worker's {goal}; its log ends with:\n{tail}"

        return story

    def memory(self) -> dict[str, dict[str, int]]:
        """VmHWM and VmRSS (KiB) of the main process and each pool process alive now."""
        result = {"main": procs.memory_kib(self.pid)}
        for index, child in enumerate(procs.children(self.pid)):
            result[f"child {index + 1}"] = procs.memory_kib(child)
        return result

    def stop(self, grace: float = 15) -> None:
        if self.process is not None:
            stop_process(self.process, grace=grace)
