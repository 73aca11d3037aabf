"""The README as a newcomer reads it: `make run` on a port of its own, then the README's own
commands (its ```sh blocks, run by bash as written, the default address replaced), and a check
that every command the README shows is run by a test or by CI."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import readme
from tests.processes import free_port
from tests.test_project import clean_env

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Served:
    base: str
    port: int
    database: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for_health(base: str, process: subprocess.Popen, log: Path, *, timeout: float = 180) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return httpx.get(f"{base}/healthz", timeout=2)
        except httpx.TransportError:
            time.sleep(0.5)
    raise AssertionError(f"the server never answered:\n{log.read_text(errors='replace')[-5000:]}")


def stop(process: subprocess.Popen) -> None:
    """End the process group the test started (make, runserver and its reloader child)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`make run PORT=<free port>` with nothing else running: a throwaway SQLite file, no Redis."""
    folder = tmp_path_factory.mktemp("make-run")
    port = free_port()
    database, log = folder / "db.sqlite3", folder / "make-run.log"
    env = clean_env(DATABASE_URL=f"sqlite:///{database}")
    env.pop("REDIS_URL", None)
    [make_run] = readme.snippet("make run PORT=8001")
    command = make_run.text.replace("PORT=8001", f"PORT={port}").split()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_health(f"http://127.0.0.1:{port}", process, log)
        yield Served(base=f"http://127.0.0.1:{port}", port=port, database=database, log=log)
    finally:
        stop(process)


def answer(key: str, served: Served) -> dict:
    """The JSON the README's snippet ``key`` prints against the served demo."""
    done = readme.run(key, base=served.base)
    return json.loads(done.stdout)


@pytest.mark.slow
def test_make_run_serves_the_demo_on_sqlite_with_nothing_else(served):
    # then the demo is served from SQLite in WAL mode, with the admin and the schema
    health = httpx.get(f"{served.base}/healthz")
    assert health.json() == {"status": "ok", "database": "sqlite"}
    with sqlite3.connect(served.database) as db:  # WAL is a persistent property of the file
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert httpx.get(f"{served.base}/admin/login/").status_code == 200
    output = served.output()
    assert "Loaded scenarios/demo.json: 2 org(s)" in output
    # the example calls it prints name the port it serves on
    assert f"{served.base}/admin/" in output and "127.0.0.1:8000" not in output


@pytest.mark.slow
def test_the_example_calls(served):
    assert answer("curl -s http://127.0.0.1:8000/healthz", served) == {"status": "ok", "database": "sqlite"}
    schema = readme.run("curl -s http://127.0.0.1:8000/api/schema/ | head", base=served.base).stdout
    assert schema.startswith("openapi: ") and len(schema.splitlines()) == 10


@pytest.mark.slow
def test_the_redeem_rewards_samples(served):
    by_amount = answer("by amount: 12.50", served)
    assert (by_amount["statuscode"], by_amount["redeemed"]["amount"]) == (1, "12.50"), by_amount
    first, again = answer("with an Idempotency-Key", served), answer("with an Idempotency-Key", served)
    assert first["statuscode"] == 1 and first["redeemed"]["rewarddtlids"] == ["rd-1003"], first
    assert again == first  # replayed: the same answer, one credit
    with sqlite3.connect(served.database) as db:
        credits = db.execute("SELECT count(*) FROM wallets_redemptioncall WHERE idempotency_key = 'order-1003'")
        assert credits.fetchone() == (2,)  # both calls recorded ...
        replayed = db.execute("SELECT replayed FROM wallets_redemptioncall WHERE idempotency_key = 'order-1003'")
        assert sorted(row[0] for row in replayed) == [0, 1]  # ... the second one as a replay
    pool = answer("by coupon pool", served)
    assert pool["statuscode"] == 1 and pool["coupon"]["code"].startswith("COF-"), pool


@pytest.mark.slow
def test_the_appvirality_companion_samples(served):
    user = answer("a user registered with Asha's referral code", served)
    assert (user["statuscode"], user["referrerSet"]) == (1, True), user
    signup = answer("a Signup: Asha (the referrer) earns 5.00", served)
    assert sorted(r["amount"] for r in signup["rewards"]) == ["2.50", "5.00"], signup
    assert answer("a Signup: Asha (the referrer) earns 5.00", served)["rewards"] == signup["rewards"]  # tskey
    sale = answer("a Transaction of 123.45", served)
    assert sorted(r["amount"] for r in sale["rewards"]) == ["12.35", "2.47", "6.17"], sale
    balance = answer("Asha's balance (getuserbalance)", served)["userBalance"]
    assert balance["total"] == "42.35", balance
    flagged = answer("the shop's fraud check", served)
    assert flagged["rewardslist"] == [{"rewarddtlid": "rd-3001", "reward_status": "Suspicious"}], flagged


@pytest.mark.slow
def test_the_issue_reward_samples_with_the_vendor_reward_on_a_port_of_its_own(served):
    one = answer("one reward, Basic auth with md5_hex(password)", served)
    assert one["status"]["code"] == 200, one
    # Capillary's own sample: the demo's sandbox vendor answers on the port make run serves
    vendor = answer("Capillary's own sample", served)
    assert vendor["status"] == {"success": True, "code": 200, "message": "Reward issued successfully"}, vendor
    [voucher] = vendor["rewards"][0]["vendor"]
    assert voucher["voucher"].startswith("SBX") and voucher["pointsRedeemed"] == "2", voucher
    bulk = answer("bulk across connected orgs with an OAuth token", served)
    assert [reward["status"]["code"] for reward in bulk["rewards"]] == [200, 200, 200], bulk
    group = answer("group loyalty: Ravi pays", served)
    assert group["status"]["code"] == 200, group
    code = answer("skip_validation=false: a single-use code first", served)
    assert code["status"]["code"] == 200 and len(code["validationCode"]["code"]) == 6, code


def _documents(text: str) -> list[dict]:
    """The JSON documents a run of curl calls printed one after another (curl adds no newline)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        while text[at].isspace():
            at += 1
        document, at = decoder.raw_decode(text, at)
        found.append(document)
    return found


@pytest.mark.slow
def test_the_capillary_till_samples_run_in_one_shell_as_printed(served):
    # the README's till block is what `example_calls` prints (the default address, not indented)
    from capillary.examples import TILL_EXAMPLES

    printed = TILL_EXAMPLES.format(base=readme.DEFAULT_BASE).splitlines()
    printed = [line.removeprefix("  ") for line in printed[next(i for i, s in enumerate(printed) if "CAP=" in s) :]]
    assert "\n".join(printed) in readme.README.read_text()
    # pasted into one shell in order: each call uses what the one before answered ($RID, $CODE, $TXN)
    keys = (
        'CAP="curl -s -u o2.till:o2-till-password -H Content-Type:application/json"',
        "points: can Asha redeem 30?",
        "a group redemption: Ravi spends",
        "with a validation code (Capillary's documented path",
        "coupons: issue one (reward 351)",
        "catalogue: what Asha can be issued now",
        "revoke an issue (its points back",
        "fulfilment: status and custom fields",
    )
    script = "\n".join(readme.script(key, base=served.base) for key in keys)
    done = subprocess.run(["bash", "-c", "set -e\n" + script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    redeemable, reversed_, group, validation, coupon, used, rewards, reward, records, revoked, fulfilled = _documents(
        done.stdout
    )
    points = redeemable["response"]["points"]["redeemable"]
    assert points["is_redeemable"] and points["points_redeem_value"] == "7.50", redeemable  # 30 x 0.25
    assert reversed_["pointsReversed"] == "10.00" and reversed_["warnings"] == [], reversed_
    assert group["response"]["responses"]["points"]["item_status"]["code"] == 800, group
    assert len(validation["validationCode"]["code"]) == 6, validation
    assert coupon["response"]["coupons"]["redemption_status"]["is_redeemable"], coupon
    assert coupon["response"]["coupons"]["series_info"]["id"], coupon  # details=extended
    assert used["response"]["coupons"]["coupon"]["item_status"]["code"] == 700, used
    assert used["response"]["coupons"]["coupon"]["transaction_number"] == "bill-2001", used
    assert rewards["errors"] is None and 352 in [r["id"] for r in rewards["data"]], rewards
    assert reward["errors"] is None and reward["data"]["id"] == 352, reward
    assert records["errors"] is None and records["data"][0]["rewardId"] == 351, records  # newest first
    assert revoked["status"] == {"success": True, "code": 200, "message": "Reward revoked"}, revoked
    [shipped] = fulfilled["data"]
    assert shipped["transactionId"] == revoked["transactionId"], fulfilled
    assert shipped["fulfillmentStatus"] == {"name": "SHIPPED"}, fulfilled
    assert shipped["transactionCustomFields"] == {"giftMessage": "happy birthday"}, fulfilled


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_scenario_commands_refuse_ids_that_exist_and_replace_them(tmp_path):
    from django.conf import settings

    from orgs.models import Org

    db = settings.DATABASES["default"]  # this test's database, for the commands as written
    env = clean_env(DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}")
    env.pop("TEST_DATABASE_NAME", None)
    [load] = readme.snippet("python manage.py load_scenario scenarios/demo.json")
    [replace] = readme.snippet("python manage.py load_scenario scenarios/demo.json --replace")

    def run(command: readme.Command) -> subprocess.CompletedProcess:
        python, *rest = command.text.split()
        assert python == "python"
        return subprocess.run([sys.executable, *rest], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)

    first = run(load)
    assert first.returncode == 0, first.stderr
    again = run(load)
    assert again.returncode == 1 and "already exist" in again.stderr, again.stderr
    replaced = run(replace)
    assert replaced.returncode == 0 and "Loaded scenarios/demo.json: 2 org(s)" in replaced.stdout, replaced.stderr
    assert Org.objects.count() == 2


POSTGRES_EXPORT = "export DATABASE_URL=postgres://postgres@127.0.0.1:5432/rewards REDIS_URL=redis://127.0.0.1:6379/0"


@pytest.mark.postgres
@pytest.mark.slow
def test_the_postgresql_steps_serve_the_demo_with_a_worker_and_the_scheduler(tmp_path):
    """The README's PostgreSQL block as written, with a database name, Redis and port of the test's
    own (a fresh database, a private redis-server, a free port): createdb, the exports, `make run`,
    `make worker` and `make beat`; the scheduler's due jobs reach the worker."""
    from tests.processes import RedisServer, wait_for

    [createdb] = [c.text for c in readme.snippet("createdb -h 127.0.0.1 -U postgres rewards")]
    [export] = [c.text for c in readme.snippet(POSTGRES_EXPORT)]
    make_run = readme.snippet("make run")[-1].text  # (the same command as in "Set up")
    [make_worker] = [c.text for c in readme.snippet("make worker")]
    [make_beat] = [c.text for c in readme.snippet("make beat")]
    name, port, redis = f"rewards_readme_{os.getpid()}", free_port(), RedisServer()
    redis.start()
    processes: list[subprocess.Popen] = []
    try:
        done = subprocess.run([*createdb.split()[:-1], name], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        env = clean_env()
        env.pop("REDIS_URL", None)
        for assignment in export.removeprefix("export ").split():
            variable, value = assignment.split("=", 1)
            env[variable] = value.replace("/rewards", f"/{name}") if variable == "DATABASE_URL" else value
        env["REDIS_URL"] = redis.url
        logs = {}
        for command in (f"{make_run} PORT={port}", make_worker, make_beat):
            logs[command] = tmp_path / f"{command.split()[1]}.log"
            with open(logs[command], "wb") as out:
                processes.append(
                    subprocess.Popen(
                        command.split(), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
            if command.startswith(make_run):  # the others read the schema it migrates
                health = wait_for_health(f"http://127.0.0.1:{port}", processes[0], logs[command])
                assert health.json() == {"status": "ok", "database": "postgresql"}
                sweep_due_now(env["DATABASE_URL"])
        served = Served(
            base=f"http://127.0.0.1:{port}", port=port, database=tmp_path, log=logs[f"{make_run} PORT={port}"]
        )
        vendor = answer("Capillary's own sample", served)
        assert vendor["status"]["code"] == 200 and vendor["rewards"][0]["vendor"][0]["voucher"], vendor
        # then beat sends the due jobs (the every-minute sweep first) and the worker runs them
        worker_log = logs[make_worker]
        wait_for(lambda: b"Sending due task Outbox sweep" in logs[make_beat].read_bytes(), timeout=90, what="beat")
        wait_for(
            lambda: re.search(rb"Task orgs.outbox_sweep\[[-0-9a-f]+\] succeeded", worker_log.read_bytes()),
            timeout=90,
            what="the worker running the sweep beat sent",
        )
    finally:
        for process in processes:
            stop(process)
        redis.stop()
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", name], timeout=60)


def sweep_due_now(url: str) -> None:
    """The every-minute sweep last ran an hour ago: the scheduler sends it as soon as it starts."""
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as db:
        updated = db.execute(
            "UPDATE django_celery_beat_periodictask SET last_run_at = now() - interval '1 hour' WHERE name = %s",
            ["Outbox sweep"],
        ).rowcount
    assert updated == 1


# --- every command of the README runs somewhere ------------------------------------------------

# Each command of the README's ```sh blocks, by a key (the command itself, or words of the comment
# above it), and what runs it: "ci" (.ci/run runs it as written) or the test or fixture that does
# ("path::function"), whose code names the key to fetch the command from the README. The tests run
# the commands as written, with their names moved where the README's would collide with the
# machine's (the default port 8000, the database "rewards", Redis db 0), as each test says.
README = "tests/test_readme.py"
ISSUE_SAMPLES = f"{README}::test_the_issue_reward_samples_with_the_vendor_reward_on_a_port_of_its_own"
TILL_SAMPLES = f"{README}::test_the_capillary_till_samples_run_in_one_shell_as_printed"
POSTGRES_STEPS = f"{README}::test_the_postgresql_steps_serve_the_demo_with_a_worker_and_the_scheduler"
DOCKER_STEPS = (
    "tests/test_compose_stack.py::test_the_web_service_serves_the_readme_docker_demo_with_capillarys_vendor_sample"
)
UNLOCK_COMMANDS = "tests/backoffice/test_admin_lockout.py::test_the_readme_unlock_commands_unlock_as_they_say"
SCENARIO_COMMANDS = f"{README}::test_the_scenario_commands_refuse_ids_that_exist_and_replace_them"
RUN_BY = {
    "make run PORT=8001": f"{README}::served",
    "make run": POSTGRES_STEPS,  # `make run` on another port: 8000 is the machine's
    "make test": "ci",
    "python manage.py load_scenario scenarios/demo.json": SCENARIO_COMMANDS,
    "python manage.py load_scenario scenarios/demo.json --replace": SCENARIO_COMMANDS,
    "curl -s http://127.0.0.1:8000/healthz": f"{README}::test_the_example_calls",
    "curl -s http://127.0.0.1:8000/api/schema/ | head": f"{README}::test_the_example_calls",
    "by amount: 12.50": f"{README}::test_the_redeem_rewards_samples",
    "with an Idempotency-Key": f"{README}::test_the_redeem_rewards_samples",
    "by coupon pool": f"{README}::test_the_redeem_rewards_samples",
    "a user registered with Asha's referral code": f"{README}::test_the_appvirality_companion_samples",
    "a Signup: Asha (the referrer) earns 5.00": f"{README}::test_the_appvirality_companion_samples",
    "a Transaction of 123.45": f"{README}::test_the_appvirality_companion_samples",
    "Asha's balance (getuserbalance)": f"{README}::test_the_appvirality_companion_samples",
    "the shop's fraud check": f"{README}::test_the_appvirality_companion_samples",
    "one reward, Basic auth with md5_hex(password)": ISSUE_SAMPLES,
    "Capillary's own sample": ISSUE_SAMPLES,
    "bulk across connected orgs with an OAuth token": ISSUE_SAMPLES,
    "group loyalty: Ravi pays": ISSUE_SAMPLES,
    "skip_validation=false: a single-use code first": ISSUE_SAMPLES,
    'CAP="curl -s -u o2.till:o2-till-password -H Content-Type:application/json"': TILL_SAMPLES,
    "points: can Asha redeem 30?": TILL_SAMPLES,
    "a group redemption: Ravi spends": TILL_SAMPLES,
    "with a validation code (Capillary's documented path": TILL_SAMPLES,
    "coupons: issue one (reward 351)": TILL_SAMPLES,
    "catalogue: what Asha can be issued now": TILL_SAMPLES,
    "revoke an issue (its points back": TILL_SAMPLES,
    "fulfilment: status and custom fields": TILL_SAMPLES,
    "createdb -h 127.0.0.1 -U postgres rewards": POSTGRES_STEPS,
    "POSTGRES_EXPORT": POSTGRES_STEPS,
    "make worker": POSTGRES_STEPS,
    "make beat": POSTGRES_STEPS,
    "docker compose exec web python manage.py load_scenario scenarios/demo.json": DOCKER_STEPS,
    "docker compose exec web python manage.py createsuperuser": DOCKER_STEPS,
    "python manage.py axes_list_attempts": UNLOCK_COMMANDS,
    "python manage.py axes_reset_username <username>": UNLOCK_COMMANDS,
    "python manage.py axes_reset_ip <address>": UNLOCK_COMMANDS,
    "python manage.py axes_reset": UNLOCK_COMMANDS,
}
KEY_CONSTANTS = {"POSTGRES_EXPORT": POSTGRES_EXPORT}


def _function_source(target: str) -> str:
    path, name = target.split("::")
    source = (ROOT / path).read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(source, node)
    raise AssertionError(f"{target}: no such test or fixture")


def test_every_readme_command_is_run_by_a_test_or_by_ci():
    every = readme.commands()
    assert len(every) >= 20, "the README's commands were not found"
    covered = set()
    for key, target in RUN_BY.items():
        selected = readme.snippet(KEY_CONSTANTS.get(key, key))
        covered |= {command.text for command in selected}
        if target == "ci":
            ci = (ROOT / ".ci" / "run").read_text().splitlines()
            assert all(command.text in ci for command in selected), f".ci/run does not run {key!r}"
        else:
            assert key in _function_source(target), f"{target} does not run the README's {key!r}"
    missing = [command.text for command in every if command.text not in covered]
    assert not missing, f"README commands no test or CI runs (add them to RUN_BY): {missing}"


def test_the_readme_stays_inside_the_repository():
    text = readme.README.read_text()
    assert not re.findall(r"(?<![\w/])#\d+\b|\bissue \d+", text), "the README names an issue"
    assert "../" not in text and "/work/" not in text, "the README names a path outside the repository"
    assert not [c.text for c in readme.commands() if c.text.split()[0] in ("open", "xdg-open", "start")]
    for link in re.findall(
        r"\]\(([^)#]+)\)|`((?:docs|tests|bench|scenarios|orgs|wallets|catalogue|coupons)/[^`\s]+)`", text
    ):
        path = next(part for part in link if part)
        if "<" not in path and not path.startswith("http"):
            assert (ROOT / path.rstrip("/")).exists(), f"the README names {path}, which is not in the repository"


def test_every_environment_variable_the_settings_read_is_in_the_readme():
    settings = (ROOT / "rewards_site" / "settings.py").read_text()
    read = set(re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]*)\"", settings))
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= read  # the pattern finds what the settings read
    text = readme.README.read_text()
    missing = sorted(name for name in read if f"`{name}`" not in text)
    assert not missing, f"settings read these variables, the README does not say what they do: {missing}"


def test_every_scheduled_job_and_reconciliation_check_is_in_the_readme():
    from core.schedules import DEFAULT_SCHEDULES
    from wallets.reconciliation import CHECKS

    text = readme.README.read_text()
    jobs = text.split("## Scheduled jobs and events", 1)[1].split("\n## ", 1)[0]
    assert not [spec["task"] for spec in DEFAULT_SCHEDULES if f"(`{spec['task']}`)" not in jobs]
    assert not [check.name for check in CHECKS if f"| `{check.name}` |" not in jobs]
