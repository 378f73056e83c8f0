"""What every scenario shares: the options, the receiver, clean state, and worker sessions.

Between two contender runs the tables are truncated, the broker's Redis db is
flushed and the receiver's records are reset, and each run gets a worker of
its own, so no task or row of one contender can reach another's figures.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.engine_support import procs, services
from benchmarks.engine_support.processes import Receiver, Worker

if TYPE_CHECKING:
    from celery import Celery

BASE_WEBHOOKS: dict[str, Any] = {"ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128"], "TIMEOUT": [5, 15]}
# django-webhook's topics are made once from its settings, at startup: kept.
KEPT_TABLES = {"django_webhook_webhooktopic"}


@dataclass
class Bench:
    args: argparse.Namespace
    app: Celery
    receiver: Receiver
    log_dir: Path
    results_dir: Path
    overrides: dict[str, Any] = field(default_factory=dict)  # --setting KEY=VALUE
    redis_pid: int = 0
    worker_runs: int = 0
    facts: dict[str, str] = field(default_factory=dict)
    database_url: str = ""  # where workers connect: the scratch database, or a copy (history)

    def __post_init__(self) -> None:
        self.database_url = self.database_url or self.args.database_url

    # -- settings ---------------------------------------------------------------------------

    def webhooks(self, **required: Any) -> dict[str, Any]:
        """The WEBHOOKS dict of a run: base, then --setting, then what the scenario needs."""
        return {**BASE_WEBHOOKS, **self.overrides, **required}

    def apply(self, webhooks: dict[str, Any]) -> None:
        """The producer reads WEBHOOKS on every use, so assigning it is enough."""
        from django.conf import settings

        settings.WEBHOOKS = webhooks

    def worker_env(self, webhooks: dict[str, Any]) -> dict[str, str]:
        return {
            "DJANGO_SETTINGS_MODULE": "benchmarks.engine_support.settings",
            "BENCH_DATABASE_URL": self.database_url,
            "BENCH_BROKER_URL": self.args.broker_url,
            "BENCH_WEBHOOKS": json.dumps(webhooks),
            "BENCH_DB_REUSE_MAX": str(self.args.db_reuse_max),
        }

    # -- state ------------------------------------------------------------------------------

    def truncate(self) -> None:
        from django.apps import apps
        from django.db import connection

        tables = sorted(
            model._meta.db_table
            for label in ("webhooks_app", "django_webhook", "bench_shop")
            for model in apps.get_app_config(label).get_models(include_auto_created=True)
            if model._meta.db_table not in KEPT_TABLES
        )
        quoted = ", ".join(connection.ops.quote_name(table) for table in tables)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")

    def clean(self) -> None:
        self.truncate()
        services.flush_redis(self.args.broker_url)
        self.receiver.reset()

    @contextmanager
    def on_database(self, url: str) -> Iterator[None]:
        """Workers started meanwhile connect to ``url`` (the caller points Django there too)."""
        previous, self.database_url = self.database_url, url
        try:
            yield
        finally:
            self.database_url = previous

    @contextmanager
    def worker(
        self, label: str, webhooks: dict[str, Any] | None = None, *, keep_rows: bool = False
    ) -> Iterator[Worker]:
        """A clean state and a fresh worker for one contender run; stopped afterwards.

        ``keep_rows``: leave the tables as they are (a database loaded with history).
        """
        webhooks = webhooks or self.webhooks()
        self.apply(webhooks)
        if keep_rows:
            services.flush_redis(self.args.broker_url)
            self.receiver.reset()
        else:
            self.clean()
        self.worker_runs += 1
        log = self.log_dir / f"worker-{self.worker_runs:02d}-{label}.log"
        worker = Worker(self.app, self.worker_env(webhooks), log, self.args.concurrency)
        try:
            yield worker.start(timeout=self.args.timeout)
        finally:
            worker.stop(grace=self.args.stop_grace)
            services.flush_redis(self.args.broker_url)

    def cpu_meter(self, worker: Worker | None) -> procs.CpuMeter:
        """CPU per role: worker main and pool, receiver, producer (us), PostgreSQL, Redis."""
        import os

        roles: dict[str, procs.Role] = {}
        if worker is not None:
            roles["worker main"] = procs.own_cpu(worker.pid)
            roles["worker pool"] = procs.descendants_cpu(worker.pid)
        roles["receiver"] = procs.own_cpu(self.receiver.pid)
        roles["producer"] = procs.own_cpu(os.getpid())
        roles["postgres"] = procs.pids_cpu(self.backend_pids)
        if self.redis_pid:
            roles["redis"] = procs.own_cpu(self.redis_pid)
        return procs.CpuMeter(roles)

    def backend_pids(self) -> list[int]:
        """PostgreSQL backends connected to the scratch database (the cluster may be shared,
        so the postmaster's whole tree would count other people's work)."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            return [pid for (pid,) in cursor.fetchall()]
