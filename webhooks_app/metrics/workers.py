"""prometheus_client's multiprocess mode for Celery workers, connected by the task layer.

A prefork pool sends, and counts, in its child processes. With
``PROMETHEUS_MULTIPROC_DIR`` set (before the worker starts: prometheus_client
reads it on import), each process writes its counts to files in that
directory, and the scrape view (:func:`webhooks_app.metrics.process_registry`)
sums every process's files, a web process's and a worker's on the same host
alike. What each worker then needs, and :mod:`webhooks_app.tasks` connects to
Celery's signals: files of processes that no longer run are removed when the
worker starts (:func:`on_worker_start`), and a pool child that ends is marked
dead (:func:`on_process_exit`). Without prometheus_client or without the
variable, both do nothing.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from webhooks_app.observability.metrics import prometheus_client

logger = logging.getLogger(__name__)

# prometheus_client's files: "<type>_<pid>.db" (counter_123.db, gauge_livesum_123.db, ...).
_FILE = re.compile(r"_(\d+)\.db$")


def multiprocess_dir() -> Path | None:
    """The multiprocess directory, when prometheus_client is installed and it is set."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if prometheus_client is None or not directory:
        return None
    return Path(directory)


def running(pid: int) -> bool:
    """Whether a process with this id runs (on this host: the directory is per host)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True


def on_worker_start(**kwargs: object) -> list[Path]:
    """Remove the files of processes that no longer run (a previous run's); returns them.

    The files of running processes (the web server's, another worker's on the
    same host) are kept. Counters summed from removed files restart from zero,
    which Prometheus's ``rate()`` reads as the restart it is.
    """
    directory = multiprocess_dir()
    if directory is None or not directory.is_dir():
        return []
    removed = []
    for path in directory.glob("*.db"):
        found = _FILE.search(path.name)
        if found and not running(int(found.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        logger.info("Removed %d metrics files of ended processes from %s", len(removed), directory)
    return removed


def on_process_exit(pid: int | None = None, **kwargs: object) -> None:
    """A pool child ended: its live gauges leave the sums (counters stay counted)."""
    if pid is not None and multiprocess_dir() is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
