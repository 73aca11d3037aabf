"""The README as a newcomer reads it: `make run` on a port of its own, then the README's own
commands (its ```sh blocks, run by bash as written, the default address replaced), and a check
that every command the README shows is run by a test or by CI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
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
