"""py-spy on the worker (main and pool processes) during one measured run.

It records collapsed stacks (``--format raw``: one ``frame;frame;... count``
line per stack; speedscope.app and flamegraph tools read it) and writes a text
summary of where the samples fell, next to it. ``--nonblocking`` keeps py-spy
from pausing the worker to sample it, which would slow what is measured;
``extra`` passes more py-spy options (``--gil``: only the thread holding the GIL).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from benchmarks.engine_support.processes import ROOT


def py_spy() -> str:
    """The repository's venv's py-spy, else the one next to this Python (a worktree's
    benchmark run with another checkout's venv), else the one on PATH."""
    for candidate in (ROOT / ".venv" / "bin" / "py-spy", Path(sys.executable).parent / "py-spy"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("py-spy") or "py-spy"


class Profiler:
    def __init__(self, pid: int, output: Path, rate: int = 100, extra: Sequence[str] = ()) -> None:
        self.output = output
        self.log = output.with_suffix(".log")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    py_spy(), "record", "--pid", str(pid), "--subprocesses", "--format", "raw",
                    "--rate", str(rate), "--nonblocking", "--output", str(output), *extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        time.sleep(1.0)  # let it attach to every process before the clock starts
        if self.process.poll() is not None:
            raise RuntimeError(f"py-spy exited at once; see {self.log}")

    def stop(self, timeout: float = 60) -> Path:
        """Stop sampling (SIGINT makes py-spy write its file) and write the summary."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        summary = self.output.with_suffix(".summary.txt")
        summary.write_text(summarise(self.output) if self.output.exists() else "no samples\n")
        return summary


def summarise(raw: Path, top: int = 25) -> str:
    """The frames with the most samples: on top of the stack (self) and anywhere (total)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    processes: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # With --subprocesses a child's stack starts with its parent's "process N:cmdline"
        # frame, then its own: the last such frame names the process that was sampled.
        frames = stack.split(";")
        labels = [frame for frame in frames if frame.startswith("process ")]
        frames = [frame for frame in frames if not frame.startswith("process ")]
        samples += count
        if labels:
            pid = labels[-1].split(":", 1)[0]
            processes[pid + (" (main)" if len(labels) == 1 else " (pool)")] += count
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count

    def block(title: str, counter: Counter[str], limit: int = top) -> list[str]:
        rows = [f"{title}:"]
        for frame, count in counter.most_common(limit):
            rows.append(f"  {count / samples:6.1%}  {count:7d}  {frame}")
        return [*rows, ""]

    if not samples:
        return "no samples\n"
    lines = [f"{samples} samples from {raw.name}", ""]
    lines += block("by process", processes)
    lines += block("self (top of stack)", own)
    lines += block("total (anywhere in the stack)", total, top + 20)
    return "\n".join(lines)
