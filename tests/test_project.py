"""The project as a user starts it: configuration from the environment, the embedded default, the
development server's log (`make run` itself: tests/test_readme.py)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "API_RATE_LIMIT_PER_MINUTE",
    "CELERY_TASK_ALWAYS_EAGER",
    "CONN_MAX_AGE",
    "DATABASE_TRANSACTION_POOLING",
    "DATABASE_SERVER_SIDE_BINDING",
    "DJANGO_SETTINGS_MODULE",
    "REQUIRE_POSTGRES",
    "PYTEST_ARGS",
)


# A `make` the tests start is not a sub-make of one that started the tests (`make test`).
MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")


def clean_env(**overrides) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES and k not in MAKE_VARIABLES}
    env.update(overrides)
    return env


def read_settings(*names: str, **env) -> dict:
    """The named settings as a fresh process with exactly this environment sees them."""
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}, default=str))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean_env(DJANGO_SETTINGS_MODULE="rewards_site.settings", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_with_no_environment_the_embedded_default_is_used():
    seen = read_settings("DATABASES", "DEBUG", "CELERY_TASK_ALWAYS_EAGER", "SECRET_KEY", "CACHES")
    db = seen["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(db["NAME"]) == ROOT / "db.sqlite3"
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert seen["DEBUG"] is True
    assert seen["CELERY_TASK_ALWAYS_EAGER"] is True
    assert seen["SECRET_KEY"].startswith("dev-only")
    assert "locmem" in seen["CACHES"]["default"]["BACKEND"]


def test_postgres_and_redis_come_from_the_environment_and_connections_are_kept_open():
    seen = read_settings(
        "DATABASES",
        "CELERY_BROKER_URL",
        "CELERY_TASK_ALWAYS_EAGER",
        "CACHES",
        "API_RATE_LIMIT_PER_MINUTE",
        DATABASE_URL="postgres://u:p@db.example:5433/rewards",
        REDIS_URL="redis://cache.example:6379/2",
        API_RATE_LIMIT_PER_MINUTE="0",
    )
    db = seen["DATABASES"]["default"]
    assert (db["ENGINE"], db["HOST"], db["PORT"], db["NAME"]) == (
        "rewards_site.postgresql",
        "db.example",
        5433,
        "rewards",
    )
    assert db["CONN_MAX_AGE"] >= 60 and db["CONN_HEALTH_CHECKS"] is True
    assert seen["CELERY_BROKER_URL"] == "redis://cache.example:6379/2"
    assert seen["CELERY_TASK_ALWAYS_EAGER"] is False
    assert seen["CACHES"]["default"]["LOCATION"] == "redis://cache.example:6379/2"
    assert seen["API_RATE_LIMIT_PER_MINUTE"] == 0


def test_behind_a_transaction_pooler_nothing_outlives_a_transaction():
    """DATABASE_TRANSACTION_POOLING (PgBouncer, docs/scaling.md): no server-side cursors, and no
    prepared statements unless server-side binding is asked for (PgBouncer >= 1.21)."""
    url = "postgres://u:p@db.example:6432/rewards"
    direct = read_settings("DATABASES", DATABASE_URL=url)["DATABASES"]["default"]
    pooled = read_settings("DATABASES", DATABASE_URL=url, DATABASE_TRANSACTION_POOLING="1")["DATABASES"]["default"]
    tracked = read_settings(
        "DATABASES", DATABASE_URL=url, DATABASE_TRANSACTION_POOLING="1", DATABASE_SERVER_SIDE_BINDING="1"
    )["DATABASES"]["default"]
    assert (direct["DISABLE_SERVER_SIDE_CURSORS"], direct["OPTIONS"]["server_side_binding"]) == (False, True)
    assert (pooled["DISABLE_SERVER_SIDE_CURSORS"], pooled["OPTIONS"]["server_side_binding"]) == (True, False)
    assert (tracked["DISABLE_SERVER_SIDE_CURSORS"], tracked["OPTIONS"]["server_side_binding"]) == (True, True)


def test_a_production_start_without_a_secret_key_refuses_with_a_clear_message():
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean_env(DEBUG="0"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_replaced_before_a_request_uses_it(monkeypatch):
    """The health check asks the socket (no round trip while the server is quiet) and falls back
    to SELECT 1 once the server has said something: here, that it terminated the connection."""
    import time

    import psycopg
    from django.db import connection
    from django.db.backends.postgresql import base

    from orgs.models import Org

    select_1 = []
    django_check = base.DatabaseWrapper.is_usable
    monkeypatch.setattr(base.DatabaseWrapper, "is_usable", lambda self: select_1.append(1) or django_check(self))
    connection.ensure_connection()
    assert connection.is_usable()
    assert select_1 == [], "a quiet connection was checked with a round trip"
    pid = connection.connection.info.backend_pid
    settings_db = connection.settings_dict
    with psycopg.connect(
        host=settings_db["HOST"], port=settings_db["PORT"] or None, user=settings_db["USER"], dbname="postgres",
        autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while connection.is_usable() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not connection.is_usable() and select_1
    # what Django does when a request starts (close_old_connections): check, close, reconnect
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    assert Org.objects.count() >= 0
    assert connection.connection.info.backend_pid != pid


@pytest.mark.slow
def test_runserver_logs_each_line_once(tmp_path):
    # given the development server with its autoreloader, as `make run` starts it
    port = free_port()
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", PYTHONUNBUFFERED="1")
    env.pop("REDIS_URL", None)
    log = tmp_path / "runserver.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        answer = None
        while answer is None and time.monotonic() < deadline and server.poll() is None:
            try:
                # when a bad request comes in (not JSON: 102, HTTP 400)
                answer = httpx.post(f"http://127.0.0.1:{port}/v2_0/redeemrewards", content=b"x", timeout=5)
            except httpx.TransportError:
                time.sleep(0.3)
        assert answer is not None and answer.status_code == 400, log.read_text()
        wait_until = time.monotonic() + 10
        while '"POST /v2_0/redeemrewards HTTP/1.1" 400' not in log.read_text() and time.monotonic() < wait_until:
            time.sleep(0.1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    # then every line appears once
    lines = log.read_text().splitlines()
    assert sum("Watching for file changes" in line for line in lines) == 1, lines
    assert sum(line == "Bad Request: /v2_0/redeemrewards" for line in lines) == 1, lines
    access = [line for line in lines if '"POST /v2_0/redeemrewards HTTP/1.1" 400' in line]
    assert len(access) == 1 and access[0].startswith("["), lines  # runserver's own format, with the time


def _databases() -> set[str]:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"] or None, user=db["USER"], dbname="postgres") as admin:
        return {row[0] for row in admin.execute("SELECT datname FROM pg_database")}


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db
def test_make_test_says_first_which_database_it_uses_and_drops_it_at_the_end():
    from django.conf import settings

    # given a database URL of its own (this run's test database is in use), whose test database exists
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_make"
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"
    # when `make test` runs one test on it (in this venv, not installed again)
    done = subprocess.run(
        [
            "make",
            f"VENV={sys.prefix}",
            "-o",
            f"{sys.prefix}/.installed",
            "test",
            "PYTEST_ARGS=-q tests/wallets/test_ledger.py::test_a_refused_debit_leaves_the_callers_transaction_usable",
        ],
        cwd=ROOT,
        env=clean_env(DATABASE_URL=url, REDIS_URL=os.environ.get("REDIS_URL", "")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    # then its first line names the test database and make run's, the test passed, and nothing is left behind
    assert done.returncode == 0, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first == (
        f"make test: PostgreSQL test database test_{name} on {db['HOST']}:{db['PORT']}, created for this run and "
        f"dropped at its end; not make run's (PostgreSQL database {name} on {db['HOST']}:{db['PORT']})"
    ), done.stdout
    assert "1 passed" in done.stdout
    assert f"test_{name}" not in _databases()


def test_the_banner_tells_make_runs_sqlite_file_from_the_tests_database():
    from tests.database_banner import run_database, test_line

    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": ROOT / "db.sqlite3"}
    postgres = {"ENGINE": "rewards_site.postgresql", "NAME": "rewards", "HOST": "127.0.0.1", "PORT": 5432}
    line = test_line(postgres, run=run_database(sqlite))
    assert line == (
        "make test: PostgreSQL test database test_rewards on 127.0.0.1:5432, created for this run and dropped at "
        f"its end; not make run's (the SQLite file {ROOT / 'db.sqlite3'})"
    )
    assert test_line(sqlite, run="x").startswith("make test: an in-memory SQLite test database")
