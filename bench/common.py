"""What the benchmark scripts share: the database they run on and the gunicorn they load."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def postgres_ready(script: str) -> None:
    """Django set up on the PostgreSQL database of DATABASE_URL, created and migrated if needed;
    exits with a message on any other database (the benchmarks measure PostgreSQL)."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit(f"{script} measures PostgreSQL: set DATABASE_URL=postgres://...")
    ensure_database()
    call_command("migrate", verbosity=0)


def ensure_database() -> None:
    """Create the benchmark database named by DATABASE_URL if it does not exist."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            admin.execute(f'CREATE DATABASE "{db["NAME"]}"')


def start_gunicorn(*, port: int, workers: int) -> subprocess.Popen:
    """gunicorn with ``workers`` sync workers on 127.0.0.1:``port``, production settings; waits until it answers."""
    import httpx

    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-secret-key-bench-secret-key-bench-secret-key",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "127.0.0.1",
        # Events are queued to a real broker, as in production (nothing consumes them here).
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "rewards_site.wsgi", "-w", str(workers), "-k", "sync"]
        + ["-b", f"127.0.0.1:{port}", "--backlog", "2048", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def vacuum(tables: str) -> None:
    """What autovacuum does in production (this machine kind runs PostgreSQL with autovacuum off):
    without it, the runs after the first scan over the row versions the earlier runs left."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {tables}")


def wrk_numbers(out: str) -> dict:
    """req/s, p50 and p99 (ms), non-2xx and socket errors of a ``wrk --latency`` run."""
    return {
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
        "socket_errors": re.search(r"Socket errors: (.*)", out).group(1) if "Socket errors" in out else "",
    }


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def pgbench(script: Path, clients: int, duration: int) -> dict:
    from django.conf import settings

    db = settings.DATABASES["default"]
    out = subprocess.run(
        ["pgbench", "-n", "-M", "simple", f"-c{clients}", "-j2", f"-T{duration}", "-f", str(script)]
        + ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"] or "postgres", db["NAME"]],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0 or "tps" not in out.stdout:
        raise SystemExit(f"pgbench failed:\n{out.stdout}\n{out.stderr}")
    return {
        "rate": float(re.search(r"tps = ([\d.]+)", out.stdout).group(1)),
        "latency": float(re.search(r"latency average = ([\d.]+) ms", out.stdout).group(1)),
        "failed": int(m.group(1)) if (m := re.search(r"number of failed transactions: (\d+)", out.stdout)) else 0,
    }


def sql_of(send):
    """(statements, result) of ``send()``: each statement as sent, with BEGIN and COMMIT where
    Django opens and commits a transaction (what a pgbench script replays)."""
    from django.db import connection

    events: list[str] = []

    def record(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        events.append(connection.ops.last_executed_query(context["cursor"], sql, params))
        return result

    original_set_autocommit, original_commit = connection.set_autocommit, connection._commit

    def set_autocommit(autocommit, *args, **kwargs):
        if not autocommit:
            events.append("BEGIN")
        return original_set_autocommit(autocommit, *args, **kwargs)

    def commit():
        events.append("COMMIT")
        return original_commit()

    connection.set_autocommit, connection._commit = set_autocommit, commit
    try:
        with connection.execute_wrapper(record):
            result = send()
    finally:
        connection.set_autocommit, connection._commit = original_set_autocommit, original_commit
    return events, result
