"""gunicorn serving the benchmark project: started once, waited for, stopped in bounded time."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from benchmarks.engine_support import procs, services
from benchmarks.engine_support.processes import (
    ROOT,
    clean_environment,
    stop_process,
    wait_until,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    """``gunicorn --workers N --worker-class sync`` on 127.0.0.1, in its own process group.

    ``cwd`` comes first on the workers' sys.path (``python -m``): a directory
    holding another revision's ``webhooks_app`` serves that one.
    """

    def __init__(
        self, env: dict[str, str], log_path: Path, workers: int = 2, cwd: Path = ROOT
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.workers = workers
        self.cwd = cwd
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", "--workers", str(self.workers),
            "--worker-class", "sync", "--bind", f"127.0.0.1:{self.port}",
            "--error-logfile", str(self.log_path), "--log-level", "warning",
            "benchmarks.receiver_support.wsgi:application",
        ]  # fmt: skip

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60) -> Gunicorn:
        """Start it; return once it listens and all its workers exist."""
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.cwd,
            env=clean_environment(self.env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            return (
                services.listening("127.0.0.1", self.port)
                and len(procs.children(self.pid)) >= self.workers
            )

        wait_until(ready, timeout=timeout, what=f"gunicorn on port {self.port}", interval=0.1)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=15)
