"""The scaled-out deployment, started for real on 127.0.0.1 (docs/scaling.md "The scale-out topology"):

    clients -> HAProxy -> 2 gunicorn web processes -> PgBouncer (transaction pooling) -> PostgreSQL
                                 \\-> private redis-server <- 2 Celery workers -> PgBouncer (session pool)

Used by ``tests/test_topology.py`` and ``bench/scaleout.py``. Every component is a child process
of the caller, on a free port, with its configuration written to a temporary directory; each
is started with a parent-death signal (it dies with the process that started it) and a
watchdog stops the whole topology after ``lifetime`` seconds, so nothing outlives a test run.

- HAProxy (Debian's package) balances by least connections, health-checks ``/healthz`` every
  200 ms, and retries a request on another server only when the *connection* to a server
  failed (``retry-on conn-failure`` with ``option redispatch``): nothing reached the app, so
  this is safe for any call. A request a server received and then died holding is answered
  502 by HAProxy, never replayed: POSTs that move money are idempotent only through the
  caller's Idempotency-Key (Redeem Rewards) or requestId (Issue Reward), which HAProxy cannot see.
- PgBouncer runs the web processes' pool in transaction mode (``DATABASE_TRANSACTION_POOLING=1``:
  no server-side cursors, client-side parameter binding, see rewards_site/settings.py), and
  the workers' pool in session mode: the reconciliation holds a session-level advisory lock
  across transactions, which transaction pooling cannot keep.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALL = "apt-get update && apt-get install -y haproxy pgbouncer"
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_tools() -> list[str]:
    return [tool for tool in ("haproxy", "pgbouncer", "redis-server") if shutil.which(tool) is None]


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the process that started it dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _answers(port: int, probe: bytes | None = None, expect: bytes = b"") -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.3) as s:
            if probe is None:
                return True
            s.settimeout(2)
            s.sendall(probe)
            return s.recv(64).startswith(expect)
    except OSError:
        return False


def _http_ok(port: int) -> bool:
    request = b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    return _answers(port, request, b"HTTP/1.1 200") or _answers(port, request, b"HTTP/1.0 200")


def _celery_ready(component: Component) -> bool:
    """The worker's log says "ready." once per start (the log is appended to)."""
    return component.log.read_bytes().count(b" ready.") >= component.starts


@dataclass
class Component:
    name: str
    command: list[str]
    port: int
    log: Path
    env: dict | None = None
    ready: Callable[[Component], bool] = lambda component: True
    timeout: float = 60
    process: subprocess.Popen | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as one (master and workers)
                preexec_fn=_die_with_parent,
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            if self.ready(self):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {self.timeout} s:\n{self.tail()}")

    def restart(self) -> None:
        """Start it again (after ``kill``), on the same port, and wait until it serves."""
        self.stop()
        self.start()
        self.wait_ready()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group (a gunicorn master and its workers; a Celery worker
        and its pool): no shutdown, no cleanup, as a crash or the OOM killer would."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, grace: float = 5) -> None:
        if not self.alive():
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Topology:
    url: str  # HAProxy: the one address clients call
    directory: Path
    database: dict  # what the web processes and workers reach through PgBouncer
    redis_url: str
    haproxy: Component
    pgbouncer: Component
    redis: Component
    web: list[Component] = field(default_factory=list)
    workers: list[Component] = field(default_factory=list)

    def components(self) -> list[Component]:
        # stopped in this order: the callers first, what they call last
        return [self.haproxy, *self.web, *self.workers, self.pgbouncer, self.redis]

    def stop(self, grace: float = 5) -> None:
        """SIGTERM to every component, callers first; SIGKILL to what is still up after ``grace``."""
        running = [c for c in self.components() if c.alive()]
        for component in running:
            with suppress(ProcessLookupError):
                os.killpg(component.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for component in running:
            try:
                component.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                component.kill()

    def logs(self) -> str:
        return "\n".join(f"--- {c.name} ({c.log})\n{c.tail()}" for c in self.components())


def _pgbouncer_ini(directory: Path, port: int, name: str, db: dict, pool_size: int) -> Path:
    host, pg_port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    server = f"host={host} port={pg_port} dbname={name}"
    (directory / "users.txt").write_text(f'"{db.get("USER") or "postgres"}" "{db.get("PASSWORD") or ""}"\n')
    ini = directory / "pgbouncer.ini"
    ini.write_text(
        f"""[databases]
{name} = {server} pool_mode=transaction pool_size={pool_size}
{name}_session = {server} pool_mode=session pool_size=8

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory / "users.txt"}
pool_mode = transaction
max_client_conn = 500
default_pool_size = {pool_size}
server_reset_query = DISCARD ALL
server_check_delay = 10
query_wait_timeout = 20
logfile = {directory / "pgbouncer.log"}
log_connections = 0
log_disconnections = 0
"""
    )
    return ini


def _haproxy_cfg(directory: Path, port: int, web_ports: list[int]) -> Path:
    servers = "\n".join(
        f"    server web{n} 127.0.0.1:{p} check inter 500ms fall 3 rise 2 observe layer4 error-limit 1 "
        "on-error mark-down maxconn 64"
        for n, p in enumerate(web_ports, 1)
    )
    cfg = directory / "haproxy.cfg"
    cfg.write_text(
        f"""global
    maxconn 4096

defaults
    mode http
    option http-keep-alive
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout queue 30s
    timeout http-request 10s
    # a busy sync worker answers its health check late: late is not down (a dead one refuses at once)
    timeout check 5s
    # A request is sent again, to another server, only if no connection to its server could be
    # made: it never reached the app. One the app received is never replayed (POST is not idempotent).
    retries 3
    retry-on conn-failure
    option redispatch 1

frontend api
    bind 127.0.0.1:{port}
    default_backend web

backend web
    balance leastconn
    # Down after 3 failed checks, or at once when a request's connection to it fails (layer 4).
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
{servers}
"""
    )
    return cfg


def _web_env(database_url: str, redis_url: str, extra: dict) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATABASE_TRANSACTION_POOLING": "1",
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DEBUG": "0",
        "SECRET_KEY": "topology-secret-key-topology-secret-key-topology-secret-key",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("TEST_DATABASE_NAME", None)
    return env


@contextmanager
def topology(
    database: dict,
    *,
    web: int = 2,
    gunicorn_workers: int = 2,
    workers: int = 2,
    pool_size: int = 10,
    env: dict | None = None,
    lifetime: float = 600,
):
    """Start the topology on ``database`` (a Django DATABASES entry: HOST, PORT, USER, PASSWORD,
    NAME), yield it running, stop it. ``env``: settings of the web processes and workers. The
    configuration and logs are in ``directory``, removed after a clean run, kept after an error."""
    missing = missing_tools()
    if missing:
        raise RuntimeError(f"not on PATH: {', '.join(missing)} (install: {INSTALL})")
    directory = Path(tempfile.mkdtemp(prefix="topology-"))  # in /tmp: PgBouncer's account must read it
    name, user = database["NAME"], database.get("USER") or "postgres"
    redis_port, pgb_port, proxy_port = free_port(), free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis = Component(
        "redis-server",
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        redis_port,
        directory / "redis.log",
        ready=lambda c: _answers(c.port, b"PING\r\n", b"+PONG"),
        timeout=10,
    )
    pgb_command = ["pgbouncer", str(_pgbouncer_ini(directory, pgb_port, name, database, pool_size))]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        account = pwd.getpwnam("postgres")
        for path in (directory, *directory.iterdir()):
            os.chown(path, account.pw_uid, account.pw_gid)
        pgb_command[1:1] = ["-u", "postgres"]
    pgbouncer = Component(
        "pgbouncer", pgb_command, pgb_port, directory / "pgbouncer.out", ready=lambda c: _answers(c.port), timeout=10
    )
    password = database.get("PASSWORD") or ""
    through_pgbouncer = f"postgres://{user}:{password}@127.0.0.1:{pgb_port}/{name}"
    web_ports = [free_port() for _ in range(web)]
    web_env = _web_env(through_pgbouncer, redis_url, env or {})
    webs = [
        Component(
            f"web{n}",
            [sys.executable, "-m", "gunicorn", "rewards_site.wsgi", "-k", "sync", "-w", str(gunicorn_workers)]
            + ["-b", f"127.0.0.1:{port}", "--backlog", "2048", "--timeout", "30", "--graceful-timeout", "3"]
            + ["--log-level", "warning"],
            port,
            directory / f"web{n}.log",
            env=web_env,
            ready=lambda c: _http_ok(c.port),
        )
        for n, port in enumerate(web_ports, 1)
    ]
    worker_env = {**web_env, "DATABASE_URL": f"{through_pgbouncer}_session", "DATABASE_TRANSACTION_POOLING": "0"}
    celery = [
        Component(
            f"worker{n}",
            [sys.executable, "-m", "celery", "-A", "rewards_site", "worker", "-l", "info", "--concurrency", "1"]
            + ["--pool", "prefork", "--without-mingle", "--without-gossip", "-n", f"topology{n}@%h"],
            0,
            directory / f"worker{n}.log",
            env=worker_env,
            ready=_celery_ready,
        )
        for n in range(1, workers + 1)
    ]
    haproxy = Component(
        "haproxy",
        ["haproxy", "-db", "-f", str(_haproxy_cfg(directory, proxy_port, web_ports))],
        proxy_port,
        directory / "haproxy.log",
        ready=lambda c: _http_ok(c.port),
        timeout=10,
    )
    running = Topology(
        url=f"http://127.0.0.1:{proxy_port}",
        directory=directory,
        database={**database, "HOST": "127.0.0.1", "PORT": pgb_port},
        redis_url=redis_url,
        haproxy=haproxy,
        pgbouncer=pgbouncer,
        redis=redis,
        web=webs,
        workers=celery,
    )
    watchdog = threading.Timer(lifetime, running.stop)
    watchdog.daemon = True
    watchdog.start()
    try:
        for group in ([redis, pgbouncer], [*webs, *celery], [haproxy]):  # each group starts at once
            for component in group:
                component.start()
            for component in group:
                component.wait_ready()
        yield running
    except BaseException:
        watchdog.cancel()
        running.stop()
        print(f"topology: logs kept in {directory}", file=sys.stderr)
        raise
    watchdog.cancel()
    running.stop()
    shutil.rmtree(directory, ignore_errors=True)
