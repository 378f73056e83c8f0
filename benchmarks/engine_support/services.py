"""PostgreSQL and Redis on 127.0.0.1: start them if needed, a scratch database, flushes.

Only literal loopback addresses are used, so nothing here resolves a name.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import psycopg
import redis

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper


def loopback_only(*urls: str) -> None:
    """Refuse URLs whose host is not a loopback IP literal (no name is ever resolved)."""
    from benchmarks.engine_support.netguard import is_loopback_literal

    for url in urls:
        if not is_loopback_literal(urlsplit(url).hostname):
            raise ValueError(f"{url}: use a loopback IP address (127.0.0.1 or ::1), not a name")


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_listening(name: str, host: str, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not listening(host, port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} is not listening on {host}:{port} after {timeout:.0f} s")
        time.sleep(0.25)


def ensure_postgres(url: str) -> None:
    """Start the local cluster the way .ci/run does, when nothing listens yet."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    if listening(host, port):
        return
    versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(x) for x in v.split(".")])
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=True
    )
    _wait_listening("PostgreSQL", host, port)


def ensure_redis(url: str) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if listening(host, port):
        return
    for folder in ("/var/lib/redis", "/var/log/redis"):
        Path(folder).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1",
            "--port", str(port), "--save", "", "--appendonly", "no",
            "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
        ],
        check=True,
    )  # fmt: skip
    _wait_listening("Redis", host, port)


def _admin_connection(url: str) -> psycopg.Connection:
    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or None,
        dbname="postgres",
        autocommit=True,
    )


def _checked(name: str) -> str:
    """``name``, quoted, if it is a plain scratch name (letters, digits, underscores)."""
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"Refusing an unusual database name: {name!r}")
    return f'"{name}"'


def recreate_database(url: str) -> None:
    """Drop and create the scratch database named in ``url`` (never another one)."""
    name = _checked(urlsplit(url).path.lstrip("/"))
    with _admin_connection(url) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")


def drop_database(url: str, name: str) -> None:
    """Drop database ``name`` of the server in ``url``, if it exists."""
    with _admin_connection(url) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {_checked(name)} WITH (FORCE)")


def rename_database(url: str, old: str, new: str) -> None:
    with _admin_connection(url) as connection:
        connection.execute(f"ALTER DATABASE {_checked(old)} RENAME TO {_checked(new)}")


def copy_database(url: str, template: str, name: str) -> None:
    """``name`` as a fresh copy of ``template`` (dropped first if it exists).

    ``FILE_COPY`` copies the files: 3.4 s for the 0.9 GB of a million deliveries'
    history on the benchmark machine, against 8.2 s for PostgreSQL 15's default of
    writing every block to the WAL.
    """
    with _admin_connection(url) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {_checked(name)} WITH (FORCE)")
        strategy = " STRATEGY = FILE_COPY" if connection.info.server_version >= 150000 else ""
        connection.execute(
            f"CREATE DATABASE {_checked(name)} TEMPLATE {_checked(template)}{strategy}"
        )


def database_comment(url: str, name: str) -> str | None:
    """The comment on database ``name`` (None when it does not exist or has none)."""
    with _admin_connection(url) as connection:
        row = connection.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
    return row[0] if row else None


def set_database_comment(url: str, name: str, comment: str) -> None:
    with _admin_connection(url) as connection:
        quoted = connection.execute("SELECT quote_literal(%s)", [comment]).fetchone()
        connection.execute(f"COMMENT ON DATABASE {_checked(name)} IS {quoted[0]}")


def flush_redis(url: str) -> None:
    """Empty the broker's db number: no task of an earlier contender can be consumed."""
    redis.Redis.from_url(url).flushdb()


def redis_info(url: str) -> dict:
    return redis.Redis.from_url(url).info("server")


def postgres_version(connection: BaseDatabaseWrapper) -> str:
    """The server version, seen from a Django connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version')")
        return cursor.fetchone()[0]
