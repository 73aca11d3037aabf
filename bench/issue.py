"""Benchmark: Issue Reward through gunicorn + PostgreSQL, beside pgbench replaying its SQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rewards_issue_bench python bench/issue.py [--duration 15]

1. Loads a bench org (2,000 customers with plenty of points, a POINTS_ONLY reward, coupon
   series, an unlimited cart promotion) through ``load_scenario``.
2. Captures the SQL statements (and transaction boundaries) of one 1-reward POINTS_ONLY
   issue and one 5-reward mixed issue (POINTS_ONLY x2, COUPON x2, CART_PROMOTION; no vendor)
   and writes pgbench scripts that replay them with a random customer each time.
3. Runs ../shared/bench/reference.sh (the least work each call must do, as one prepared
   statement) at each client count; both cases are compared with its ``debit`` workload.
4. Starts gunicorn (sync workers; ``--topology``: HAProxy -> 2 gunicorns -> PgBouncer, see
   tests/topology.py) and loads it with wrk (a Lua script sends each call for a random customer
   with a fresh requestId) at 16 and 64 connections, then runs pgbench with the same number of
   clients, and prints req/s, p50, p99, errors, the ratio to the replay and the ratio to the reference.

   [--reference PATH (or REFERENCE_SH=PATH)] [--reference-duration 15] [--no-reference] [--topology]

``--function-calls N``: steps 1-2 only, then each case's captured call replayed N times by one
pgbench client on a copy of the database, the function alone and then with the customer lookup
before it (the whole call the app sends): the latency per call and the CPU of its PostgreSQL
backend per call, without the app.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rewards_issue_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rewards_site.settings")

from common import (  # noqa: E402  (bench/ is on sys.path when run as a script)
    Row,
    add_server_arguments,
    app_server,
    events_to_redis,
    postgres_ready,
    ratio,
    reconcile_report,
    reference_run,
    replay_database,
    server_description,
    summary,
    vacuum,
    warm_up,
    wrk_figures,
)

events_to_redis()

BENCH_ORG = 4_900_001
CUSTOMERS = 2_000
TILL, PASSWORD = "bench.till", "bench-till-password"
HOT_TABLES = "wallets_wallet, wallets_ledgerentry, coupons_coupon, catalogue_issuerequest, catalogue_rewardissue"
ISSUE_PATH = "/v1.1/user/rewards/issue/?username=bench.till&skip_validation=true"
SINGLE = [{"rewardId": 9101}]
MIXED = [
    {"rewardId": 9101},
    {"rewardId": 9102, "quantity": 2},
    {"rewardId": 9103},
    {"rewardId": 9104, "paymentConfig": {"redemptionValue": 3}},
    {"rewardId": 9102},
]


def scenario() -> dict:
    config = 9200
    return {
        "orgs": [
            {
                "id": BENCH_ORG,
                "name": "Bench",
                "tills": [{"username": TILL, "password": PASSWORD}],
                "customers": [{"external_id": f"bench-{i}", "points": "1000000.00"} for i in range(1, CUSTOMERS + 1)],
                "coupon_pools": [
                    {"id": 9102, "name": "Bench series", "generate": {"count": 300_000, "prefix": "B-", "length": 10}}
                ],
                "promotions": [{"id": "bench-promo", "active": True}],
                "catalogue": [
                    {
                        "id": 9101,
                        "name": "Bench points",
                        "type": "POINTS_ONLY",
                        "payment_configs": [{"id": config + 1, "mode": "POINTS", "points": "1.00"}],
                    },
                    {
                        "id": 9102,
                        "name": "Bench coupon",
                        "type": "COUPON",
                        "coupon_pool": 9102,
                        "payment_configs": [{"id": config + 2, "mode": "POINTS", "points": "2.00"}],
                    },
                    {
                        "id": 9103,
                        "name": "Bench promotion",
                        "type": "CART_PROMOTION",
                        "promotion": "bench-promo",
                        "payment_configs": [{"id": config + 3, "mode": "POINTS", "points": "3.00"}],
                    },
                    {
                        "id": 9104,
                        "name": "Bench miles",
                        "type": "POINTS_ONLY",
                        "redemption_type": "MILES",
                        "payment_configs": [{"id": config + 4, "mode": "CONV_RATIO", "conversion_ratio": "0.5"}],
                    },
                ],
            }
        ]
    }


def setup() -> None:
    postgres_ready("bench/issue.py")
    from backoffice.scenario import scenario_load

    started = time.perf_counter()
    scenario_load(document=scenario(), replace=True)
    print(f"bench org loaded in {time.perf_counter() - started:.1f} s")


# --- SQL capture -> pgbench script -------------------------------------------------------------


def capture(rewards: list[dict]) -> tuple[list[str], dict]:
    """The statements one issue call runs, with BEGIN/COMMIT where Django opens and commits."""
    import base64

    from django.db import connection
    from django.test import Client

    from orgs.models import md5_hex

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

    auth = "Basic " + base64.b64encode(f"{TILL}:{md5_hex(PASSWORD)}".encode()).decode()
    body = {
        "externalId": f"bench-{CUSTOMERS}",
        "rewards": [{**r, "requestId": f"cap-{time.time_ns()}-{i}"} for i, r in enumerate(rewards)],
    }
    client = Client()
    client.post(ISSUE_PATH, json.dumps(body), content_type="application/json", headers={"Authorization": auth})  # warm
    body["rewards"] = [{**r, "requestId": f"cap2-{time.time_ns()}-{i}"} for i, r in enumerate(rewards)]
    connection.set_autocommit, connection._commit = set_autocommit, commit
    try:
        with connection.execute_wrapper(record):
            response = client.post(
                ISSUE_PATH, json.dumps(body), content_type="application/json", headers={"Authorization": auth}
            )
    finally:
        connection.set_autocommit, connection._commit = original_set_autocommit, original_commit
    assert response.status_code == 200, response.content
    return events, response.json()


def _claim_of(seed: str) -> str:
    return f"(SELECT id FROM catalogue_issuerequest WHERE org_id = {BENCH_ORG} AND request_key = md5('{seed}'))"


def _issue_records_replayed(sql: str, answer: dict) -> str:
    """The issue records' insert: the requestIds become the replay's, and idempotency_id each
    one's claim, looked up in the same statement. One record is an INSERT ... VALUES; several
    are a bulk insert, which Django sends as UNNEST of one array per column."""
    for n, reward in enumerate(answer["rewards"]):
        sql = sql.replace(reward["requestId"], f"bench-:seed-{n}")
    bulk = re.search(r"'\{(bench-:seed-[^}]*)\}'\)::text\[\], ", sql)
    if bulk is None:
        return re.sub(r", '(bench-:seed-\d+)', \d+, ", lambda m: f", '{m.group(1)}', {_claim_of(m.group(1))}, ", sql)
    claims = ", ".join(_claim_of(seed) for seed in bulk.group(1).split(","))
    references = ",".join(r["pointsReferenceId"] for r in answer["rewards"])
    fresh = ", ".join(["substr(md5(random()::text), 1, 10)"] * len(answer["rewards"]))
    sql = sql.replace(f"('{{{references}}}')::varchar[]", f"ARRAY[{fresh}]::varchar[]")
    return re.sub(
        r"(bench-:seed-[^}]*\}'\)::text\[\], )\('\{[\d,]+\}'::int\d\[\]\)::bigint\[\]",
        lambda m: f"{m.group(1)}ARRAY[{claims}]::bigint[]",
        sql,
    )


def pgbench_script(events: list[str], answer: dict) -> str:
    """Replay ``events`` for a random customer: its ids, its wallet, fresh references and keys."""
    from catalogue.resolve import request_key
    from orgs.models import Customer
    from wallets.models import Wallet

    customer = Customer.objects.get(org_id=BENCH_ORG, external_id=f"bench-{CUSTOMERS}")
    wallet = Wallet.objects.get(customer=customer, kind="POINTS")
    first = Customer.objects.filter(org_id=BENCH_ORG).order_by("pk").first()
    first_wallet = Wallet.objects.filter(org_id=BENCH_ORG, kind="POINTS").order_by("pk").first()
    assert customer.pk - first.pk == wallet.pk - first_wallet.pk == CUSTOMERS - 1, "ids not contiguous"
    replacements = {rf"'bench-{CUSTOMERS}'": "'bench-:i'"}
    for n, reward in enumerate(answer["rewards"]):
        replacements[f"'{reward['pointsReferenceId']}'"] = "substr(md5(random()::text), 1, 10)"
        # constants within a transaction, as in the app (a volatile random() in a WHERE defeats the index)
        replacements[f"'{request_key(reward['requestId'])}'"] = f"md5('bench-:seed-{n}')"
        replacements[f"'{reward['requestId']}'"] = f"'bench-:seed-{n}'"
    replacements[rf"\b{wallet.pk}\b"] = ":wid"
    replacements[rf"\b{customer.pk}\b"] = ":cid"  # (the same number as the wallet's, when both started at 1)
    if any("catalogue_issue_local(" in sql for sql in events):  # the one-statement path: JSON literals
        for n, reward in enumerate(answer["rewards"]):
            replacements[f'"{reward["pointsReferenceId"]}"'] = f'"{n}-:ref"'  # at most 16 characters
            replacements[f'"{request_key(reward["requestId"])}"'] = f'"bench-key-:seed-{n}"'
            replacements[f'"{reward["requestId"]}"'] = f'"bench-:seed-{n}"'
    lines = [
        "\\set seed random(1, 4000000000000000000)",
        "\\set ref random(1, 99999999999999)",
        f"\\set i random(1, {CUSTOMERS})",
        f"\\set cid {first.pk} + :i - 1",
        f"\\set wid {first_wallet.pk} + :i - 1",
    ]
    for sql in events:
        sql = " ".join(sql.split())
        for pattern, value in replacements.items():
            sql = re.sub(pattern, value, sql)
        if sql.startswith('INSERT INTO "catalogue_rewardissue"'):
            sql = _issue_records_replayed(sql, answer)
        if sql.startswith('INSERT INTO "orgs_outboxevent"'):  # each event its own id
            sql = re.sub(r"'[0-9a-f]{32}'::uuid", "gen_random_uuid()", sql)
            sql = re.sub(
                r"\('\{([0-9a-f]{32}(?:,[0-9a-f]{32})*)\}'::uuid\[\]\)",
                lambda m: "ARRAY[" + ", ".join(["gen_random_uuid()"] * len(m.group(1).split(","))) + "]",
                sql,
            )
        lines.append(sql + ";")
    return "\n".join(lines) + "\n"


# --- load ------------------------------------------------------------------------------------

WRK_LUA = """
local rewards = os.getenv("BENCH_REWARDS")
local customers = tonumber(os.getenv("BENCH_CUSTOMERS"))
local counter = 0
local thread_id = ""
local threads = 0
-- Each thread (and each wrk run) draws its own customers and requestIds: Lua's generator is
-- not seeded per thread, and repeated requestIds would measure replays instead of issues.
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  math.randomseed(tonumber(os.getenv("BENCH_SEED")) + tid)
  thread_id = os.getenv("BENCH_SEED") .. "-" .. tid
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
request = function()
  counter = counter + 1
  local tag = thread_id .. "-" .. counter
  local body = rewards:gsub("REQ", tag)
  body = '{"externalId": "bench-' .. math.random(1, customers) .. '", "rewards": ' .. body .. '}'
  return wrk.format(nil, nil, nil, body)
end
"""


def wrk(base: str, rewards: list[dict], clients: int, duration: int, lua: Path) -> dict:
    import base64

    from orgs.models import md5_hex

    with_ids = [{**r, "requestId": f"REQ-{i}"} for i, r in enumerate(rewards)]
    env = {
        **os.environ,
        "BENCH_REWARDS": json.dumps(with_ids),
        "BENCH_CUSTOMERS": str(CUSTOMERS),
        "BENCH_SEED": str(time.time_ns() % 1_000_000_007),
        "BENCH_AUTH": "Basic " + base64.b64encode(f"{TILL}:{md5_hex(PASSWORD)}".encode()).decode(),
    }
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{clients}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(lua),
            f"{base}{ISSUE_PATH}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return wrk_figures(out)


def pgbench(script: Path, clients: int, duration: int, dbname: str) -> dict:
    from django.conf import settings

    db = settings.DATABASES["default"]
    out = subprocess.run(
        ["pgbench", "-n", "-M", "simple", f"-c{clients}", "-j2", f"-T{duration}", "-f", str(script)]
        + ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"] or "postgres", dbname],
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


def function_calls(script: Path, calls: int, dbname: str) -> dict:
    """``calls`` replays of ``script`` one after another (pgbench -c1 -t): the latency per call, and
    the CPU its PostgreSQL backend spent per call (``/proc``, read until the session ends)."""
    from django.conf import settings
    from django.db import connection

    db = settings.DATABASES["default"]
    name = f"issue-function-calls-{os.getpid()}"
    command = ["pgbench", "-n", "-M", "simple", "-c1", f"-t{calls}", "-f", str(script)]
    command += ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"] or "postgres", dbname]
    process = subprocess.Popen(command, env={**os.environ, "PGAPPNAME": name}, stdout=subprocess.PIPE, text=True)
    ticks: dict[int, int] = {}  # per backend: pgbench opens a first session of its own before the client's
    while process.poll() is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [name])
            pids = [pid for (pid,) in cursor.fetchall()]
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
        time.sleep(0.01)
    out = process.stdout.read()
    if process.returncode != 0 or "latency average" not in out:
        raise SystemExit(f"pgbench failed:\n{out}")
    return {
        "latency": float(re.search(r"latency average = ([\d.]+) ms", out).group(1)),
        "backend_cpu": max(ticks.values()) * 1000 / os.sysconf("SC_CLK_TCK") / calls if ticks else None,
    }


def function_report(scripts: dict[str, Path], calls: int) -> None:
    """Each case's captured call replayed ``calls`` times by one client: the function alone (the
    script without the customer lookup the app sends before it), then the whole call."""
    with replay_database() as replay_db:
        vacuum(dbname=replay_db)
        for name, script in scripts.items():
            lines = script.read_text().splitlines()
            alone = script.with_suffix(".function.sql")
            alone.write_text("\n".join(ln for ln in lines if ln.startswith("\\") or "catalogue_issue_local(" in ln))
            for what, replayed in (("function", alone), ("call", script)):
                function_calls(replayed, min(calls, 200), replay_db)  # warm: plans, caches
                figures = function_calls(replayed, calls, replay_db)
                cpu = f"{figures['backend_cpu']:.3f} ms" if figures["backend_cpu"] is not None else "-"
                print(
                    f"{name:22} {what:8} pgbench -c1, {calls} calls: {figures['latency']:.3f} ms per call, "
                    f"backend CPU {cpu} per call (load average {os.getloadavg()[0]:.2f})",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--clients", default="16,64")
    parser.add_argument("--no-setup", action="store_true", help="reuse the loaded bench org")
    parser.add_argument("--case", choices=["1-reward", "5-reward"], help="run only this case")
    parser.add_argument(
        "--function-calls",
        type=int,
        metavar="N",
        help="only time the captured call alone: N replays by one pgbench client (latency, backend CPU)",
    )
    add_server_arguments(parser)
    args = parser.parse_args()
    if args.no_setup:
        import django

        django.setup()
    else:
        setup()
        vacuum()  # every table: the bulk-loaded ones get the statistics autovacuum would give them
    workdir = Path(tempfile.mkdtemp(prefix="issue-bench-"))
    cases = {"1-reward POINTS_ONLY": SINGLE, "5-reward mixed": MIXED}
    cases = {name: rewards for name, rewards in cases.items() if args.case in (None, name.split()[0])}
    scripts = {}
    for name, rewards in cases.items():
        events, answer = capture(rewards)
        scripts[name] = workdir / f"{name.split()[0]}.sql"
        scripts[name].write_text(pgbench_script(events, answer))
        statements = sum(1 for e in events if e not in ("BEGIN", "COMMIT"))
        print(f"{name}: {statements} statements, {events.count('COMMIT')} commits -> {scripts[name]}")
    if args.function_calls:
        function_report(scripts, args.function_calls)
        return
    lua = workdir / "issue.lua"
    lua.write_text(WRK_LUA)
    client_counts = list(map(int, args.clients.split(",")))
    reference_seconds = args.reference_duration or args.duration
    references = {clients: reference_run(args, clients, reference_seconds) for clients in client_counts}
    print(f"{server_description(args)}; wrk -t2; pgbench -j2 -M simple; {args.duration}s runs", flush=True)
    rows = []
    with replay_database() as replay_db, app_server(args) as base:
        for name, rewards in cases.items():
            for clients in client_counts:
                vacuum(HOT_TABLES)
                warm_up(lambda seconds, r=rewards, c=clients: wrk(base, r, c, seconds, lua))
                app = wrk(base, rewards, clients, args.duration, lua)
                vacuum(HOT_TABLES, dbname=replay_db)
                db = pgbench(scripts[name], clients, args.duration, replay_db)
                rows.append(Row(name, clients, app, db["rate"], "debit", references[clients]))
                print(
                    f"{name:22} {clients:3} clients: app {app['rate']:7.1f} req/s  p50 {app['p50']:6.1f} ms  "
                    f"p99 {app['p99']:6.1f} ms  non-2xx {app['errors']} {app['socket_errors']}| pgbench "
                    f"{db['rate']:7.1f} tps ({db['latency']:.1f} ms, failed {db['failed']})  "
                    f"ratio {app['rate'] / db['rate']:.0%} | {ratio(app['rate'], references[clients], 'debit')}",
                    flush=True,
                )
    summary(rows)
    reconcile_report()


if __name__ == "__main__":
    main()
