"""Real processes for the tests of jobs and events: a private redis-server the test can stop, a
Celery worker subprocess on the test database, and a webhook receiver HTTP server that checks
signatures. Nothing is mocked: the worker talks to Redis and PostgreSQL like in production."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.conf import settings
from django.db import connection

from events.outbox import EVENT_ID_HEADER, SIGNATURE_HEADER, signature_valid

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, *, timeout: float = 30, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class RedisServer:
    """A private redis-server on a free port, started and stopped by the test."""

    def __init__(self):
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10, what="redis-server")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def worker_env(broker_url: str, **extra: str) -> dict:
    """The environment of a worker on the test database (not the development one)."""
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("TEST_DATABASE_NAME", None)
    return env


@contextmanager
def celery_worker(broker_url: str, *, log: Path, app: str = "rewards_site", **extra_env: str):
    """A real ``celery worker`` subprocess (prefork, one child), stopped at the end. ``app``
    ``tests.worker_hooks`` replaces seams of production code in the worker (crash tests)."""
    command = [sys.executable, "-m", "celery", "-A", app, "worker", "-l", "info"]
    command += ["--concurrency", "1", "--pool", "prefork", "--without-mingle", "--without-gossip", "-n", "test@%h"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=worker_env(broker_url, **extra_env), stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_for(lambda: b"ready" in log.read_bytes() or process.poll() is not None, timeout=60, what="worker")
            assert process.poll() is None, log.read_text()
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@contextmanager
def celery_broker(url: str):
    """Point this process's Celery app (the one the services queue tasks with) at ``url``, not eager."""
    from rewards_site.celery import app

    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.broker_url, app.conf.task_always_eager = url, False
    _reset_pools(app)
    try:
        yield app
    finally:
        app.conf.update(saved)
        _reset_pools(app)


def _reset_pools(app) -> None:
    from kombu import pools

    pools.reset()  # the producer pools are global, keyed by connection
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None


@dataclass
class Receiver:
    """A webhook receiver that verifies each request's signature as an integrator would."""

    secret: str
    url: str = ""
    received: list = field(default_factory=list)  # (event id, body document, signature valid)
    status: int = 200

    def ids(self) -> list[str]:
        return [event_id for event_id, _, _ in self.received]


@contextmanager
def webhook_receiver(secret: str):
    receiver = Receiver(secret=secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            valid = signature_valid(secret=receiver.secret, body=body, header=self.headers.get(SIGNATURE_HEADER))
            receiver.received.append((self.headers.get(EVENT_ID_HEADER), json.loads(body), valid))
            self.send_response(receiver.status if valid else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def sql(statement: str, params=()) -> list:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []
