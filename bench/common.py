"""What the benchmark scripts share: the database they run on, the server they load (one gunicorn or
the scale-out topology), wrk's figures, and the physical reference they are compared with."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


def events_to_redis() -> None:
    """Before Django starts: this process queues events to the bench Redis, as the server does,
    instead of running their dispatch inline (Celery eager, the default without REDIS_URL). A
    call captured or profiled here then runs the statements it runs in production, no more."""
    os.environ["REDIS_URL"] = BENCH_REDIS_URL
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"


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


def _admin(dbname: str = "postgres"):
    """An autocommit connection to ``dbname`` (the server's ``postgres`` database) on DATABASE_URL's
    server, as its user."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        dbname=dbname,
        autocommit=True,
    )


def ensure_database() -> None:
    """Create the benchmark database named by DATABASE_URL if it does not exist."""
    from django.conf import settings

    name = settings.DATABASES["default"]["NAME"]
    with _admin() as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def replay_database():
    """Yield the name of a copy of the bench database, made now (before any server connects),
    for pgbench's replay of the app's captured SQL; dropped at the end. The replay writes rows
    with the captured call's literals (its reward codes, amounts, references), which the
    reconciliation rightly reports; on a copy, the app's own books stay checkable."""
    from django.conf import settings
    from django.db import connection

    source = settings.DATABASES["default"]["NAME"]
    name = f"{source}_replay"
    connection.close()  # a template database must have no other session
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    try:
        yield name
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reconcile_findings() -> Counter:
    """Run the reconciliation; its open findings counted by check."""
    from wallets.reconciliation import reconciliation_run

    return Counter(f.check_name for f in reconciliation_run().open_findings)


def reconcile_report(*, setup: Counter | None = None, why: str = "") -> None:
    """Reconciliation of the bench database after the load: the app's books must show nothing new.

    ``setup``: the findings the bench's own data had before the load (``reconcile_findings()``
    right after loading it, ``why`` says what they are); only findings beyond them are the run's.
    """
    found = reconcile_findings()
    if setup is None:
        print(f"reconciliation after the run: {sum(found.values())} open findings {dict(found) or ''}")
        return
    new = found - setup
    print(
        f"reconciliation after the run: {sum(new.values())} new open findings {dict(new) or ''} "
        f"(besides {sum(setup.values())} from the bench's own data before the load: {why})"
    )


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
        "REDIS_URL": BENCH_REDIS_URL,
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


def vacuum(tables: str = "", *, dbname: str | None = None) -> None:
    """What autovacuum does in production (this machine kind runs PostgreSQL with autovacuum off):
    without it, the runs after the first scan over the row versions the earlier runs left, and
    bulk-loaded tables have no statistics. ``tables`` empty: all; ``dbname``: another database on
    the same server (the replay copy, which pgbench loads and the app's vacuum never reaches).
    Then a checkpoint (server-wide), so that the next run does not pay for writing out the pages an
    earlier run or the reference dirtied (a checkpoint that starts inside a 10 s run is part of
    that run's figure)."""
    from django.db import connection

    if dbname is not None:
        with _admin(dbname) as other:
            other.execute(f"VACUUM ANALYZE {tables}")
            other.execute("CHECKPOINT")
        return
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {tables}")
        cursor.execute("CHECKPOINT")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the server under load: one gunicorn, or the scale-out topology -------------------------------


def add_server_arguments(parser) -> None:
    """The options every HTTP benchmark shares: workers, the topology, the reference script."""
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (in all, with --topology)")
    parser.add_argument(
        "--topology",
        action="store_true",
        help="load HAProxy -> 2 gunicorns (--workers / 2 each) -> PgBouncer (transaction pooling), "
        "with 2 Celery workers on a private Redis (tests/topology.py)",
    )
    add_reference_arguments(parser)


def add_reference_arguments(parser) -> None:
    """The options of the reference script, which every benchmark runs beside its own figures."""
    parser.add_argument(
        "--reference",
        default=os.environ.get("REFERENCE_SH", str(ROOT.parent / "shared" / "bench" / "reference.sh")),
        help="the reference script (env REFERENCE_SH; default ../shared/bench/reference.sh from the repository)",
    )
    parser.add_argument("--reference-duration", type=int, default=None, help="seconds per reference workload")
    parser.add_argument("--no-reference", action="store_true", help="skip reference.sh (no ratios printed)")


@contextmanager
def app_server(args):
    """Yield the base URL the load goes to: one gunicorn with ``args.workers`` sync workers, or
    (``--topology``) HAProxy in front of two gunicorns of ``args.workers // 2`` behind PgBouncer."""
    if not args.topology:
        port = free_port()
        server = start_gunicorn(port=port, workers=args.workers)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        return
    from django.conf import settings

    sys.path.insert(0, str(ROOT))
    from tests.topology import topology

    env = {"API_RATE_LIMIT_PER_MINUTE": os.environ.get("API_RATE_LIMIT_PER_MINUTE", "6000")}
    with topology(settings.DATABASES["default"], gunicorn_workers=max(1, args.workers // 2), env=env) as running:
        print(f"topology: {running.url} -> {[c.port for c in running.web]} -> PgBouncer :{running.database['PORT']}")
        yield running.url


def server_description(args) -> str:
    if args.topology:
        return f"HAProxy -> 2 gunicorns x {max(1, args.workers // 2)} sync workers -> PgBouncer (transaction mode)"
    return f"gunicorn, {args.workers} sync workers"


# --- wrk -------------------------------------------------------------------------------------------


def warm_up(run, *, seconds: int = 3, tries: int = 10) -> None:
    """``run(seconds)`` (a short wrk run returning wrk_figures) until it got answers: each worker's
    first calls (connections, caches, a till's password hash checked once) can take longer than
    one warm-up run on a busy machine, and must not fall into the measured run."""
    for _ in range(tries):
        if run(seconds)["rate"] > 0:
            return


def wrk_figures(out: str) -> dict:
    """req/s, p50 and p99 (ms), non-2xx/3xx responses and socket errors from wrk --latency output."""
    import re

    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99": ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


# --- the physical reference: ../shared/bench/reference.sh -------------------------------------------


def reference_run(args, clients: int, duration: int) -> dict[str, float]:
    """Run the reference script at ``clients`` on a database of its own (the bench database's name
    + ``_reference``, so that parallel runs on one server do not share one); {workload: tps}."""
    import re

    from django.conf import settings

    if args.no_reference:
        return {}
    script = Path(args.reference)
    if not script.is_file():
        sys.exit(f"reference script not found: {script} (set REFERENCE_SH or --reference)")
    db = settings.DATABASES["default"]
    auth = db["USER"] or "postgres"
    if db["PASSWORD"]:
        auth += f":{db['PASSWORD']}"
    url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}_reference"
    command = ["bash", str(script), "--clients", str(clients), "--duration", str(duration), "--db", url]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{script} failed:\n{done.stdout}\n{done.stderr}")
    found = {m.group(1): float(m.group(2)) for m in re.finditer(r"^reference (\w+) \d+ (\d+)$", done.stdout, re.M)}
    print(f"reference.sh, {clients} clients, {duration} s each: {found}", flush=True)
    return found


def ratio(rate: float, reference: dict[str, float], workload: str | None) -> str:
    """``app ÷ reference`` as a percentage, with the workload it is measured against."""
    tps = reference.get(workload or "", 0)
    if not tps:
        return "—"
    return f"{rate / tps:.1%} of {workload} ({tps:,.0f} tps)"


def batch_ratio(args, label: str, rate: float, workload: str) -> None:
    """A batch benchmark's rate (one client: a job, an upload) beside the reference at 1 client."""
    reference = reference_run(args, clients=1, duration=args.reference_duration or 10)
    tps = reference.get(workload, 0)
    times = f"{rate / tps:,.1f} x {workload} ({tps:,.0f} tps at 1 client)" if tps else "—"
    print(f"{label}: {rate:,.0f}/s = {times}")


@dataclass
class Row:
    """One measured case: the app's wrk figures, pgbench replaying the app's own SQL, the reference."""

    case: str
    clients: int
    app: dict  # wrk_figures
    replay_tps: float
    workload: str | None  # the reference.sh workload it is compared with
    reference: dict[str, float]


def summary(rows: list[Row]) -> None:
    """The Markdown table of a run, and each case's 64-client rate as a share of its 16-client rate."""
    print()
    print("| case | clients | app req/s | p50 ms | p99 ms | errors | replay tps | app / replay | app / reference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.case} | {r.clients} | {r.app['rate']:.0f} | {r.app['p50']:.1f} | {r.app['p99']:.1f} | "
            f"{r.app['errors']} | {r.replay_tps:.0f} | {r.app['rate'] / r.replay_tps:.0%} | "
            f"{ratio(r.app['rate'], r.reference, r.workload)} |"
        )
    rates = {(r.case, r.clients): r.app["rate"] for r in rows}
    for case in dict.fromkeys(r.case for r in rows):
        if (case, 16) in rates and (case, 64) in rates:
            print(f"{case}: 64 clients at {rates[(case, 64)] / rates[(case, 16)]:.0%} of the 16-client rate")


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
