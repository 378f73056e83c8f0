"""CPU time and memory of processes, read from /proc (Linux only).

CPU is counted per process *tree*: a process's own time, plus the time of its
children that it has already reaped (cutime/cstime), plus its live
descendants' trees. That total only grows, so a difference of two snapshots is
the CPU the tree used in between, even when short-lived children (PostgreSQL
backends, replaced pool processes) come and go.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Stat:
    """The fields of /proc/<pid>/stat that the harness uses, in seconds."""

    pid: int
    ppid: int
    own: float  # utime + stime
    reaped: float  # cutime + cstime: children already waited for


def read_stat(pid: int) -> Stat | None:
    """None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces and parentheses: split after the last ")".
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return Stat(pid, int(fields[1]), (utime + stime) / TICK, (cutime + cstime) / TICK)


@dataclass
class Snapshot:
    """Every live process, read once, with a parent -> children index."""

    stats: dict[int, Stat] = field(default_factory=dict)
    kids: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def take(cls) -> Snapshot:
        snapshot = cls()
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = read_stat(int(entry.name))
                if stat is not None:
                    snapshot.stats[stat.pid] = stat
                    snapshot.kids[stat.ppid].append(stat.pid)
        return snapshot

    def own(self, pid: int) -> float:
        stat = self.stats.get(pid)
        return stat.own if stat else 0.0

    def tree(self, pid: int) -> float:
        """CPU seconds of ``pid`` and everything it started (live or reaped)."""
        stat = self.stats.get(pid)
        if stat is None:
            return 0.0
        return stat.own + stat.reaped + sum(self.tree(kid) for kid in self.kids.get(pid, ()))


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, lowest pid first."""
    return sorted(Snapshot.take().kids.get(pid, []))


def memory_kib(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS of one process, in KiB; {} when it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return {}
    values = {}
    for line in lines:
        name, _, rest = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            values[name] = int(rest.split()[0])
    return values


# A role's value: cumulative CPU seconds, or such values per pid for a changing set of
# processes (then pids that appear count from zero, and pids that vanish are dropped).
Role = Callable[[Snapshot], float | dict[int, float]]


class CpuMeter:
    """Snapshots of named process roles; ``delta()`` gives CPU seconds per role.

    A role is a function of one /proc snapshot, so "worker children" can be the
    worker's tree minus its main process, and PostgreSQL its postmaster's tree.
    """

    def __init__(self, roles: dict[str, Role]) -> None:
        self.roles = roles
        self.started: dict[str, float | dict[int, float]] = {}

    def snapshot(self) -> dict[str, float | dict[int, float]]:
        snapshot = Snapshot.take()
        return {name: role(snapshot) for name, role in self.roles.items()}

    def start(self) -> None:
        self.started = self.snapshot()

    def delta(self) -> dict[str, float]:
        now = self.snapshot()
        result = {}
        for name, value in now.items():
            before = self.started.get(name, 0.0)
            if isinstance(value, dict):
                assert isinstance(before, dict)
                result[name] = sum(cpu - before.get(pid, 0.0) for pid, cpu in value.items())
            else:
                assert isinstance(before, float)
                result[name] = value - before
        return result


def own_cpu(pid: int) -> Role:
    """A role: the process alone (all its threads), without its children."""
    return lambda snapshot: snapshot.own(pid)


def descendants_cpu(pid: int) -> Role:
    """A role: everything ``pid`` started, without ``pid`` itself."""
    return lambda snapshot: snapshot.tree(pid) - snapshot.own(pid)


def tree_cpu(pid: int) -> Role:
    """A role: the process and all it started."""
    return lambda snapshot: snapshot.tree(pid)


def pids_cpu(pids: Callable[[], list[int]]) -> Role:
    """A role: the processes ``pids()`` names at each snapshot (e.g. one database's backends)."""
    return lambda snapshot: {pid: snapshot.own(pid) for pid in pids() if pid in snapshot.stats}
