"""Benchmark: Capillary at the till (points/redeem, coupon/redeem) through gunicorn + PostgreSQL,
beside pgbench replaying the same SQL and the physical reference (../shared/bench/reference.sh).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rewards_till_bench python bench/till.py [--duration 15]

1. Loads a bench org (2,000 customers with plenty of points, a till) through ``load_scenario``,
   and ``COUPONS`` coupons issued to them (``BC<n>`` held by customer ``n % 2000``) in one
   INSERT, as if Issue Reward had handed them out.
2. Captures the SQL statements (and transaction boundaries) of one points/redeem and one
   coupon/redeem and writes pgbench scripts that replay them for a random customer (a fresh
   transaction number, a random issued coupon).
3. Starts gunicorn (sync workers) and loads it with wrk (a Lua script: a random customer and a
   fresh transaction_number per points call; the next unused coupon of the run per coupon call)
   at 16 and 64 connections, then runs pgbench with as many clients; prints req/s, p50, p99,
   non-2xx and the ratios (app / pgbench, app / reference debit, 64 / 16 clients).
"""

import argparse
import base64
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
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rewards_till_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rewards_site.settings")

from common import (  # noqa: E402  (bench/ is on sys.path when run as a script)
    Row,
    add_server_arguments,
    app_server,
    postgres_ready,
    ratio,
    reconcile_findings,
    reconcile_report,
    reference_run,
    replay_database,
    server_description,
    sql_of,
    summary,
    vacuum,
    warm_up,
    wrk_figures,
)
from issue import pgbench  # noqa: E402

BENCH_ORG = 4_900_101
CUSTOMERS = 2_000
COUPONS = 240_000
WRK_COUPONS = COUPONS // 2  # BC10 .. BC<WRK_COUPONS> for wrk, the rest for pgbench
POOL = 9_901
TILL, PASSWORD = "till.bench", "till-bench-password"
HOT_TABLES = "wallets_wallet, wallets_ledgerentry, wallets_pointsredemption, coupons_coupon"
POINTS_PATH = "/v1.1/points/redeem?username=till.bench&skip_validation=true"
COUPON_PATH = "/v1.1/coupon/redeem?username=till.bench"


def scenario() -> dict:
    customers = [{"external_id": f"bench-{i}", "points": "1000000.00"} for i in range(1, CUSTOMERS + 1)]
    pool = {"id": POOL, "name": "Till bench coupons", "description": "bench", "discount_type": "ABS"}
    return {
        "orgs": [
            {
                "id": BENCH_ORG,
                "name": "Till bench",
                "tills": [{"username": TILL, "password": PASSWORD}],
                "customers": customers,
                "coupon_pools": [pool],
            }
        ]
    }


def first_customer_id() -> int:
    from orgs.models import Customer

    return Customer.objects.filter(org_id=BENCH_ORG).order_by("pk").values_list("pk", flat=True).first()


def load_coupons(count: int, customers: int = CUSTOMERS) -> None:
    """``count`` coupons ``BC<n>`` issued to customer ``bench-<n % customers + 1>``, in one statement."""
    from django.db import connection

    first = first_customer_id()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO coupons_coupon (org_id, pool_id, code, status, holder_id, issued_at, "
            "redeemed_transaction_number) SELECT %s, %s, 'BC' || g, 'ISSUED', %s + g %% %s, now(), '' "
            "FROM generate_series(1, %s) g",
            [BENCH_ORG, POOL, first, customers, count],
        )


def setup(coupons: int = COUPONS) -> None:
    postgres_ready("bench/till.py")
    from backoffice.scenario import scenario_load

    started = time.perf_counter()
    scenario_load(document=scenario(), replace=True)
    load_coupons(coupons)
    vacuum()  # the bulk-loaded tables get statistics (the replay copy is made from them)
    print(f"bench org loaded in {time.perf_counter() - started:.1f} s ({coupons} coupons issued)")


def _auth() -> str:
    from orgs.models import md5_hex

    return "Basic " + base64.b64encode(f"{TILL}:{md5_hex(PASSWORD)}".encode()).decode()


def points_body(customer: int, number: str) -> dict:
    item = {"points_redeemed": "1", "transaction_number": number, "customer": {"external_id": f"bench-{customer}"}}
    return {"root": {"redeem": [item]}}


def coupon_body(n: int, number: str, customers: int = CUSTOMERS) -> dict:
    customer = {"external_id": f"bench-{n % customers + 1}"}
    return {"root": {"coupon": [{"code": f"BC{n}", "customer": customer, "transaction": {"number": number}}]}}


# --- SQL capture -> pgbench script -------------------------------------------------------------


def capture(path: str, body: dict, warm: dict) -> list[str]:
    """The statements one call runs (``warm`` first, so that the till's credentials are cached)."""
    from django.test import Client

    client = Client()
    headers = {"Authorization": _auth()}
    client.post(path, json.dumps(warm), content_type="application/json", headers=headers)
    events, response = sql_of(
        lambda: client.post(path, json.dumps(body), content_type="application/json", headers=headers)
    )
    assert response.status_code == 200, response.content
    return events


UUID = r"'[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}'(::uuid)?"


def pgbench_script(events: list[str], replacements: dict[str, str], prelude: list[str]) -> str:
    lines = list(prelude)
    for sql in events:
        sql = re.sub(UUID, "gen_random_uuid()", " ".join(sql.split()))  # the outbox event's id
        for pattern, value in replacements.items():
            sql = re.sub(pattern, value, sql)
        lines.append(sql + ";")
    return "\n".join(lines) + "\n"


def points_script() -> str:
    from wallets.models import PointsRedemption, Wallet

    first = first_customer_id()
    first_wallet = Wallet.objects.filter(org_id=BENCH_ORG, kind="POINTS").order_by("pk").values_list("pk", flat=True)[0]
    customer = CUSTOMERS
    events = capture(
        POINTS_PATH, points_body(customer, f"cap-{time.time_ns()}"), points_body(1, f"warm-{time.time_ns()}")
    )
    redemption = PointsRedemption.objects.filter(org_id=BENCH_ORG).order_by("-pk").first()
    replacements = {
        rf"'bench-{customer}'": "'bench-' || :i",
        rf"'{redemption.reference}'": "substr(md5(random()::text), 1, 12)",
        rf"'{redemption.transaction_number}'": "'pg-' || :seed",
        rf"\b{redemption.wallet_id}\b": ":wid",
        rf"\b{redemption.customer_id}\b": ":cid",
        rf"\b{redemption.ledger_entry_id}\b": "(SELECT max(id) FROM wallets_ledgerentry WHERE wallet_id = :wid)",
        # the entry's balance_after is the UPDATE's RETURNING in the app
        r"(-1\.00, )\d+\.\d\d(, 'POINTS_REDEEM')": r"\1(SELECT balance FROM wallets_wallet WHERE id = :wid)\2",
    }
    prelude = [
        "\\set seed random(1, 4000000000000000000)",
        f"\\set i random(1, {CUSTOMERS})",
        f"\\set cid {first} + :i - 1",
        f"\\set wid {first_wallet} + :i - 1",
    ]
    return pgbench_script(events, replacements, prelude)


def coupon_script(*, used: int) -> str:
    first = first_customer_id()
    n = used + 1
    events = capture(COUPON_PATH, coupon_body(n, f"cap-{time.time_ns()}"), coupon_body(n + 1, "warm"))
    number = re.search(r"'(cap-\d+)'", " ".join(events)).group(1)
    replacements = {
        rf"'bench-{n % CUSTOMERS + 1}'": f"'bench-' || (:g % {CUSTOMERS} + 1)",
        rf"'BC{n}'": "'BC' || :g",
        rf"'{number}'": "'pg-' || :seed",
        rf"\b{first + n % CUSTOMERS}\b": f"({first} + :g % {CUSTOMERS})",
    }
    # pgbench takes random coupons of the upper half; the wrk runs take the lower half in slices
    prelude = ["\\set seed random(1, 4000000000000000000)", f"\\set g random({max(used + 3, WRK_COUPONS)}, {COUPONS})"]
    return pgbench_script(events, replacements, prelude)


# --- load ------------------------------------------------------------------------------------

WRK_LUA = """
local kind = os.getenv("BENCH_KIND")
local customers = tonumber(os.getenv("BENCH_CUSTOMERS"))
local first, last = tonumber(os.getenv("BENCH_FIRST")), tonumber(os.getenv("BENCH_LAST"))
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
  thread:set("nthreads", 2)
end
local counter = 0
local next_coupon = 0
function init(args)
  math.randomseed(tonumber(os.getenv("BENCH_SEED")) + tid)
  next_coupon = first + tid - 1
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
request = function()
  counter = counter + 1
  local number = os.getenv("BENCH_SEED") .. "-" .. tid .. "-" .. counter
  if kind == "points" then
    local body = '{"root": {"redeem": [{"points_redeemed": "1", "transaction_number": "' .. number ..
      '", "customer": {"external_id": "bench-' .. math.random(1, customers) .. '"}}]}}'
    return wrk.format(nil, nil, nil, body)
  end
  local n = next_coupon
  next_coupon = next_coupon + nthreads
  if n > last then n = first end
  local body = '{"root": {"coupon": [{"code": "BC' .. n .. '", "customer": {"external_id": "bench-' ..
    (n % customers + 1) .. '"}, "transaction": {"number": "' .. number .. '"}}]}}'
  return wrk.format(nil, nil, nil, body)
end
"""


def wrk(base: str, kind: str, clients: int, duration: int, lua: Path, *, first: int = 1, last: int = COUPONS) -> dict:
    env = {
        **os.environ,
        "BENCH_KIND": kind,
        "BENCH_CUSTOMERS": str(CUSTOMERS),
        "BENCH_FIRST": str(first),
        "BENCH_LAST": str(last),
        "BENCH_SEED": str(time.time_ns() % 1_000_000_007),
        "BENCH_AUTH": _auth(),
    }
    path = POINTS_PATH if kind == "points" else COUPON_PATH
    out = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{duration}s", "--latency", "-s", str(lua), f"{base}{path}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return wrk_figures(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--clients", default="16,64")
    add_server_arguments(parser)
    args = parser.parse_args()
    setup()
    from_setup = reconcile_findings()  # the issued coupons are loaded without an issue record
    workdir = Path(tempfile.mkdtemp(prefix="till-bench-"))
    scripts = {"points": workdir / "points.sql", "coupon": workdir / "coupon.sql"}
    scripts["points"].write_text(points_script())
    scripts["coupon"].write_text(coupon_script(used=1))
    lua = workdir / "till.lua"
    lua.write_text(WRK_LUA)
    client_counts = list(map(int, args.clients.split(",")))
    references = {c: reference_run(args, c, args.reference_duration or args.duration) for c in client_counts}
    print(f"{server_description(args)}; wrk -t2; pgbench -j2 -M simple; {args.duration}s runs", flush=True)
    # Each coupon run redeems coupons no earlier run used: a slice of the lower half per run.
    slice_size = (WRK_COUPONS - 10) // len(client_counts)
    rows = []
    with replay_database() as replay_db, app_server(args) as base:
        for kind, workload in (("points", "debit"), ("coupon", "pool")):
            for n, clients in enumerate(client_counts):
                first = 10 + n * slice_size
                warm_last = first + slice_size // 5
                vacuum(HOT_TABLES)
                warm_up(lambda s, k=kind, c=clients, f=first, w=warm_last: wrk(base, k, c, s, lua, first=f, last=w))
                app = wrk(base, kind, clients, args.duration, lua, first=warm_last + 1, last=first + slice_size - 1)
                vacuum(HOT_TABLES, dbname=replay_db)
                db = pgbench(scripts[kind], clients, args.duration, replay_db)
                rows.append(Row(f"{kind}/redeem", clients, app, db["rate"], workload, references[clients]))
                print(
                    f"{kind:6} {clients:3} clients: app {app['rate']:7.1f} req/s  p50 {app['p50']:6.1f} ms  "
                    f"p99 {app['p99']:6.1f} ms  non-2xx {app['errors']} {app['socket_errors']}| pgbench "
                    f"{db['rate']:7.1f} tps ({db['latency']:.1f} ms, failed {db['failed']})  "
                    f"ratio {app['rate'] / db['rate']:.0%} | {ratio(app['rate'], references[clients], workload)}",
                    flush=True,
                )
    summary(rows)
    reconcile_report(setup=from_setup, why="coupons loaded as issued without an issue record")


if __name__ == "__main__":
    main()
