"""The project as a user starts it: configuration from the environment, the
embedded default, and `make run` serving the demo with nothing else running."""

import json
import os
import signal
import socket
import sqlite3
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


def clean_env(**overrides) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
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


@pytest.mark.slow
def test_make_run_serves_the_demo_on_sqlite_with_nothing_else(tmp_path):
    # given an environment naming no services at all (a throwaway SQLite file instead of the project's)
    port = free_port()
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", REDIS_URL="", PATH=os.environ["PATH"])
    env.pop("REDIS_URL")
    server = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        # when it is up
        health = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert health is not None, (
            f"server never answered:\n{server.stdout.read() if server.poll() is not None else ''}"
        )
        # then the demo is served from SQLite in WAL mode, with the admin and the schema
        assert health.json() == {"status": "ok", "database": "sqlite"}
        with sqlite3.connect(tmp_path / "db.sqlite3") as db:  # WAL is a persistent property of the file
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert httpx.get(f"http://127.0.0.1:{port}/admin/login/").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/api/schema/").status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert "Loaded scenarios/demo.json: 2 org(s)" in output
    assert f"http://127.0.0.1:{port}/admin/" in output


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
