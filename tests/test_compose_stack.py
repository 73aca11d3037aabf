"""The compose stack's app services run as compose would run them, without Docker.

Each service gets the environment `docker compose config` gives it (the committed
docker-compose.yml and .env.docker.example, over the Dockerfile's ENV) and runs its command or
healthcheck as written; only DATABASE_URL and REDIS_URL point at this test's PostgreSQL database
and a private redis-server, and the container's port 8000 becomes a free port.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from catalogue.models import RewardIssue
from tests import readme
from tests.processes import RedisServer, free_port, wait_for, worker_env
from tests.test_compose_file import _dockerfile_instructions, compose_config
from tests.test_project import clean_env
from tests.test_readme import stop, wait_for_health

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent
DOCKER_EXEC_WEB = "docker compose exec web "


def dockerfile_env() -> dict:
    env = {}
    for op, arg in _dockerfile_instructions():
        if op == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(arg))
    return env


@dataclass
class Stack:
    config: dict
    redis: RedisServer
    folder: Path

    def env(self, service: str, **extra: str) -> dict:
        base = clean_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        base.pop("TEST_DATABASE_NAME", None)
        return {
            **base,
            **dockerfile_env(),
            **self.config["services"][service]["environment"],
            "DATABASE_URL": worker_env(self.redis.url)["DATABASE_URL"],  # this test's database
            "REDIS_URL": self.redis.url,
            **extra,
        }

    def start(self, service: str, command: list[str], **extra: str) -> tuple[subprocess.Popen, Path]:
        log = self.folder / f"{service}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env(service, PYTHONUNBUFFERED="1", **extra),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return process, log

    def healthcheck(self, service: str, *, replace: tuple[str, str] = ("", ""), **extra: str) -> int:
        """Exit status of the service's healthcheck, run as Docker runs it (CMD or CMD-SHELL)."""
        kind, *test = self.config["services"][service]["healthcheck"]["test"]
        # `config` prints a compose file again, with `$` escaped as `$$`; the container sees one `$`
        test = [part.replace("$$", "$").replace(*replace) for part in test]
        command = ["sh", "-c", test[0]] if kind == "CMD-SHELL" else test
        done = subprocess.run(command, cwd=ROOT, env=self.env(service, **extra), capture_output=True, timeout=60)
        return done.returncode


@pytest.fixture
def stack(tmp_path):
    config = compose_config(tmp_path)
    redis = RedisServer()
    redis.start()
    try:
        yield Stack(config=config, redis=redis, folder=tmp_path)
    finally:
        redis.stop()


def run_interactively(command: list[str], *, env: dict, answers: list[tuple[str, str]], timeout: float = 60) -> str:
    """Run ``command`` on a terminal (a pty), answering each prompt in turn; all it printed."""
    master, slave = pty.openpty()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    printed, unread = b"", b""

    def read(deadline: float) -> bool:
        nonlocal printed, unread
        ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
        try:
            chunk = os.read(master, 4096) if ready else b""
        except OSError:  # the terminal closed: the command ended
            chunk = b""
        printed, unread = printed + chunk, unread + chunk
        return bool(chunk)

    try:
        for prompt, reply in answers:
            deadline = time.monotonic() + timeout
            while prompt.encode() not in unread:
                if not read(deadline):
                    raise AssertionError(f"no prompt {prompt!r}; the command printed:\n{printed.decode()}")
            unread = unread[unread.index(prompt.encode()) + len(prompt) :]
            os.write(master, reply.encode() + b"\n")
        process.wait(timeout)
        while read(time.monotonic() + 0.2):
            pass
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, printed.decode()
    return printed.decode()


def docker_exec_web(key: str) -> list[str]:
    """The README's `docker compose exec web <command>`: the command that runs in the container."""
    [command] = readme.snippet(key)
    assert command.text.startswith(DOCKER_EXEC_WEB)
    return shlex.split(command.text.removeprefix(DOCKER_EXEC_WEB))


def test_the_web_service_serves_the_readme_docker_demo_with_capillarys_vendor_sample(stack):
    # given the web service's command (migrate, then gunicorn) on its environment: DEBUG off
    web = stack.config["services"]["web"]
    assert stack.env("web")["DEBUG"] == "0"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process, log = stack.start("web", [part.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for part in web["command"]])
    try:
        wait_for_health(base, process, log)
        assert stack.healthcheck("web", replace=("127.0.0.1:8000", f"127.0.0.1:{port}")) == 0
        # when the README's Docker steps run in it: the demo (its sandbox vendor on this port, the
        # container's 8000), then a superuser through the interactive prompts
        load = docker_exec_web("docker compose exec web python manage.py load_scenario scenarios/demo.json")
        load = [sys.executable if part == "python" else part for part in load]
        done = subprocess.run(
            [*load, "--server-url", base], cwd=ROOT, env=stack.env("web"), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        superuser = [
            sys.executable if part == "python" else part
            for part in docker_exec_web("docker compose exec web python manage.py createsuperuser")
        ]
        password = "a-long-staff-passphrase-42"
        printed = run_interactively(
            superuser,
            env=stack.env("web"),
            answers=[
                ("Username", "boss"),
                ("Email address:", "boss@example.com"),
                ("Password:", password),
                ("Password (again):", password),
            ],
        )
        assert "Superuser created successfully" in printed
        boss = get_user_model().objects.get(username="boss")  # (this process checks MD5 hashes only)
        assert boss.is_superuser and boss.password.startswith("pbkdf2_sha256$")
        # then the README's Capillary sample: the sandbox vendor answers although DEBUG is off
        vendor = json.loads(readme.run("Capillary's own sample", base=base).stdout)
        assert vendor["status"]["code"] == 200, vendor
        [voucher] = vendor["rewards"][0]["vendor"]
        assert voucher["voucher"].startswith("SBX"), voucher
        assert RewardIssue.objects.get().voucher == voucher["voucher"]
    finally:
        stop(process)


def test_the_worker_healthcheck_answers_while_the_worker_runs_and_fails_once_it_is_gone(stack):
    # given the worker service's command; its node name is celery@<hostname>, as in a container
    hostname = {"HOSTNAME": socket.gethostname()}
    command = stack.config["services"]["worker"]["command"]
    process, log = stack.start("worker", command if isinstance(command, list) else shlex.split(command))
    try:
        wait_for(lambda: b"ready" in log.read_bytes() or process.poll() is not None, timeout=90, what="worker")
        assert process.poll() is None, log.read_text()
        # then
        assert stack.healthcheck("worker", **hostname) == 0
        assert stack.healthcheck("worker", HOSTNAME="another-host") != 0  # it asks that one worker
    finally:
        stop(process)
    assert stack.healthcheck("worker", **hostname) != 0


def test_the_beat_healthcheck_reads_the_heartbeat_the_scheduler_leaves(stack, tmp_path):
    heartbeat = {"BEAT_HEARTBEAT_FILE": str(tmp_path / "beat-heartbeat")}
    assert stack.healthcheck("beat", **heartbeat) != 0  # no beat yet, no heartbeat
    command = stack.config["services"]["beat"]["command"]
    process, log = stack.start("beat", command if isinstance(command, list) else shlex.split(command), **heartbeat)
    try:
        wait_for(
            lambda: Path(heartbeat["BEAT_HEARTBEAT_FILE"]).exists() or process.poll() is not None,
            timeout=90,
            what="heartbeat",
        )
        assert process.poll() is None, log.read_text()
        # then: healthy while it ticks
        first = os.stat(heartbeat["BEAT_HEARTBEAT_FILE"]).st_mtime
        wait_for(lambda: os.stat(heartbeat["BEAT_HEARTBEAT_FILE"]).st_mtime > first, timeout=30, what="a second tick")
        assert stack.healthcheck("beat", **heartbeat) == 0
    finally:
        stop(process)
    # and unhealthy once the heartbeat is older than a minute
    old = time.time() - 61
    os.utime(heartbeat["BEAT_HEARTBEAT_FILE"], (old, old))
    assert stack.healthcheck("beat", **heartbeat) != 0
