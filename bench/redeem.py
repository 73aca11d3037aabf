"""Benchmark: POST /v2_0/redeemrewards under gunicorn on PostgreSQL, beside pgbench.

For each mode (pool disbursal, amount redemption) and each client count (16,
64) it prints req/s, p50 and p99 from wrk, and the rate at which pgbench
replays the *same SQL statements* the endpoint runs (captured from one
request, with the user drawn at random per transaction as wrk does), and the
ratio of the two. Both run in the same session on the same data. It also runs
../shared/bench/reference.sh (the least work each call must do, as one
prepared statement) at each client count and prints app req/s / reference tps:
pool disbursal against ``redeem_pool``, amount redemption against ``credit``.

    python bench/redeem.py [--duration 20] [--workers 4] [--users 2000] [--topology]
        [--reference PATH (or REFERENCE_SH=PATH)] [--reference-duration 15] [--no-reference]

``--topology`` loads HAProxy -> 2 gunicorns -> PgBouncer (tests/topology.py) instead of one gunicorn.

Needs wrk (apt-get install wrk) and pgbench on PATH; DATABASE_URL defaults to
postgres://postgres@127.0.0.1:5432/rewards_bench (created if missing, reset on every run).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rewards_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rewards_site.settings")
os.environ["API_RATE_LIMIT_PER_MINUTE"] = "0"

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
    warm_up,
    wrk_figures,
)
from common import vacuum as common_vacuum  # noqa: E402

events_to_redis()

ORG, POOL = 9_200_001, 9_300_001
APIKEY, PRIVATEKEY = "bench-apikey-0001", "bench-privatekey-0001"
# Distinct id ranges per table, so that a literal id in a captured statement names one thing only.
SEQUENCES = {
    "orgs_customer": 10_000_000,
    "wallets_wallet": 20_000_000,
    "wallets_earnedreward": 30_000_000,
    "coupons_coupon": 40_000_000,
    "wallets_ledgerentry": 50_000_000,
    "wallets_redemptioncall": 60_000_000,
}

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread); thread:set("tid", #threads) end
-- each thread draws its own users (Lua's generator is not seeded per thread)
function init(args) ok = 0; other = 0; math.randomseed(%(seed)d + tid) end
function request()
  local n = math.random(1, %(users)d)
  return wrk.format(nil, nil, nil, string.format('%(body)s', n))
end
function response(status, headers, body)
  if string.find(body, '"statuscode":1,', 1, true) then ok = ok + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local o, x = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); x = x + t:get("other") end
  io.write(string.format("STATUS ok=%%d other=%%d\\n", o, x))
end
"""

MODES = {
    "pool disbursal": {"poolId": POOL},
    "amount redemption": {"amount": "0.01"},
}
# The workload of ../shared/bench/reference.sh each mode is compared with.
REFERENCE = {"pool disbursal": "redeem_pool", "amount redemption": "credit"}


def seed(users: int, rewards_per_user: int, coupons: int) -> dict:
    """A bench org: ``users`` customers, each with one big wallet reward, ``rewards_per_user``
    coupon rewards, a pre-funded credit wallet; a "User will choose" pool of ``coupons``."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from backoffice.purge import org_purge
    from orgs.models import Campaign, Customer
    from wallets.models import EarnedReward, LedgerEntry, Wallet
    from wallets.services import wallet_post

    with transaction.atomic():
        org_purge(org_id=ORG)
    with connection.cursor() as cursor:
        for table, start in SEQUENCES.items():
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {start}, false)")
    document = {
        "orgs": [
            {
                "id": ORG,
                "name": "Bench",
                "appvirality": {"apikey": APIKEY, "privatekey": PRIVATEKEY},
                "campaigns": [
                    {"id": "bench-wallet", "growth_hack": "Word_of_Mouth", "reward_type": "WALLET"},
                    {
                        "id": "bench-coupons",
                        "growth_hack": "Loyalty_Program",
                        "reward_type": "COUPONS",
                        "coupon_distribution": "USER_WILL_CHOOSE",
                    },
                ],
                "coupon_pools": [
                    {"id": POOL, "name": "Bench pool", "campaign": "bench-coupons", "generate": {"count": coupons}}
                ],
            }
        ]
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(document, handle)
    with open(os.devnull, "w") as quiet:
        call_command("load_scenario", handle.name, stdout=quiet)
    os.unlink(handle.name)
    with transaction.atomic():
        customers = Customer.objects.bulk_create(
            Customer(org_id=ORG, external_id=f"bench-{n}") for n in range(1, users + 1)
        )
        wallets = Wallet.objects.bulk_create(Wallet(org_id=ORG, kind="CREDITS", customer=c) for c in customers)
        for wallet in wallets:
            wallet_post(wallet=wallet, delta="1000.00", kind=LedgerEntry.Kind.OPENING, reference="bench")
        campaigns = dict(Campaign.objects.filter(org_id=ORG).values_list("code", "id"))
        EarnedReward.objects.bulk_create(
            (
                EarnedReward(
                    org_id=ORG,
                    code=f"w-{c.external_id}",
                    campaign_id=campaigns["bench-wallet"],
                    customer=c,
                    amount="1000000.00",
                    earned_at="2026-01-01T00:00:00Z",
                )
                for c in customers
            ),
            batch_size=5000,
        )
        EarnedReward.objects.bulk_create(
            (
                EarnedReward(
                    org_id=ORG,
                    code=f"c-{c.external_id}-{k}",
                    campaign_id=campaigns["bench-coupons"],
                    customer=c,
                    earned_at="2026-01-01T00:00:00Z",
                )
                for k in range(rewards_per_user)
                for c in customers
            ),
            batch_size=5000,
        )
    with connection.cursor() as cursor:  # no autovacuum of the fresh rows in the middle of a measured run
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")
    return {
        "users": users,
        "cid_base": customers[0].pk - 1,
        "wid_base": wallets[0].pk - 1,
        "rid_base": EarnedReward.objects.get(code="w-bench-1").pk - 1,
    }


def capture(mode: str, body: dict, n: int) -> list[str]:
    """The SQL one request of this mode runs, for user ``n``, as executed, in the steady state:
    after a first request (of another user) has filled the per-process caches, as on the server."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    warm = {"apikey": APIKEY, "privatekey": PRIVATEKEY, "UserIdInstore": f"bench-{n + 1}", **body}
    Client().post("/v2_0/redeemrewards", data=json.dumps(warm), content_type="application/json")
    with CaptureQueriesContext(connection) as queries:
        answer = (
            Client()
            .post(
                "/v2_0/redeemrewards",
                data=json.dumps({"apikey": APIKEY, "privatekey": PRIVATEKEY, "UserIdInstore": f"bench-{n}", **body}),
                content_type="application/json",
            )
            .json()
        )
    assert answer["statuscode"] == 1, answer
    return [q["sql"] for q in queries.captured_queries]


def pgbench_script(mode: str, statements: list[str], n: int, ids: dict) -> str:
    """Turn the captured statements into a pgbench script: the user drawn at random, values the
    endpoint reads back (RETURNING) carried over with \\gset, unique references regenerated."""
    from wallets.models import EarnedReward, LedgerEntry, RedemptionCall

    call = RedemptionCall.objects.order_by("-id").first()
    literals = {call.customer_id: ":cid"}
    if mode == "amount redemption":
        entry = LedgerEntry.objects.get(pk=call.ledger_entry_id)
        literals |= {entry.wallet_id: ":wid", entry.pk: ":l_id"}
        literals |= {
            r: ":rid" for r in EarnedReward.objects.filter(code__in=call.reward_codes).values_list("pk", flat=True)
        }
    else:
        literals |= {call.coupon_id: ":k_id"}
        literals |= {
            r: ":r_id" for r in EarnedReward.objects.filter(code__in=call.reward_codes).values_list("pk", flat=True)
        }
    lines = [
        "\\set n random(1, :users)",
        "\\set cid :cid_base + :n",
        "\\set wid :wid_base + :n",
        "\\set rid :rid_base + :n",
    ]
    for sql in statements:
        sql = " ".join(sql.split())
        sql = sql.replace(f"'bench-{n}'", "'bench-:n'")
        sql = re.sub(
            r"'[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}'::uuid", "gen_random_uuid()", sql
        )
        if sql.startswith('INSERT INTO "wallets_ledgerentry"'):
            sql = re.sub(r"VALUES \((\d+), (\d+), ([\d.]+), ([\d.]+),", r"VALUES (\1, \2, \3, :w_balance,", sql)
        for value, variable in literals.items():
            sql = re.sub(rf"(?<![\w.:']){value}(?![\w.])", variable, sql)
        gset = ""
        if sql.startswith("UPDATE wallets_wallet"):
            gset = " \\gset w_"
        elif sql.startswith('INSERT INTO "wallets_ledgerentry"'):
            gset = " \\gset l_"
        elif "FOR UPDATE SKIP LOCKED" in sql:
            gset = " \\gset k_"
        elif mode == "pool disbursal" and 'FROM "wallets_earnedreward"' in sql and "FOR UPDATE" in sql:
            gset = " \\gset r_"
        lines.append(sql + (";" if not gset else "") + gset)
    return "\n".join(lines) + "\n"


HOT_TABLES = "coupons_coupon, wallets_earnedreward, wallets_wallet, wallets_ledgerentry, wallets_redemptioncall"


def vacuum() -> None:
    common_vacuum(HOT_TABLES)


def run_wrk(base: str, mode: str, clients: int, duration: int, users: int, warmup: int = 3) -> dict:
    """A warm-up run (workers' first connections, prepared statements, caches), then the measured one."""
    vacuum()
    if warmup:
        warm_up(lambda seconds: _wrk(base, mode, clients, seconds, users), seconds=warmup)
    return _wrk(base, mode, clients, duration, users)


def _wrk(base: str, mode: str, clients: int, duration: int, users: int) -> dict:
    body = json.dumps({"apikey": APIKEY, "privatekey": PRIVATEKEY, "UserIdInstore": "bench-%d", **MODES[mode]})
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(WRK_SCRIPT % {"users": users, "body": body, "seed": time.time_ns() % 1_000_000_007})
    done = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(clients),
            "-d",
            f"{duration}s",
            "--latency",
            "-s",
            handle.name,
            f"{base}/v2_0/redeemrewards",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    os.unlink(handle.name)
    out = done.stdout
    ok, other = map(int, re.search(r"STATUS ok=(\d+) other=(\d+)", out).groups())
    return {**wrk_figures(out), "ok": ok, "other": other}


def run_pgbench(script: str, clients: int, duration: int, ids: dict, dbname: str) -> float:
    from django.conf import settings

    db = settings.DATABASES["default"]
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    command = ["pgbench", "-n", "-M", "simple", "-c", str(clients), "-j", "2", "-T", str(duration), "-f", handle.name]
    command += ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"] or "postgres"]
    for name, value in ids.items():
        command += ["-D", f"{name}={value}"]
    done = subprocess.run([*command, dbname], capture_output=True, text=True)
    os.unlink(handle.name)
    if done.returncode != 0 or "aborted" in done.stdout:
        raise SystemExit(f"pgbench failed:\n{done.stdout}\n{done.stderr}\nscript:\n{script}")
    return float(re.search(r"tps = ([\d.]+)", done.stdout).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description="Redeem Rewards benchmark")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--clients", default="16,64")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--show-sql", action="store_true")
    add_server_arguments(parser)
    args = parser.parse_args()
    for tool in ("wrk", "pgbench"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not on PATH")
    postgres_ready("bench/redeem.py")
    modes = args.modes.split(",")
    client_counts = [int(c) for c in args.clients.split(",")]
    # enough coupons and coupon rewards for every run at up to ~2,500 calls/s
    budget = 2500 * args.duration * len(client_counts) * 2
    ids = seed(args.users, rewards_per_user=budget // args.users + 1, coupons=budget)
    scripts = {}
    for mode in modes:
        statements = capture(mode, MODES[mode], n=1)
        scripts[mode] = pgbench_script(mode, statements, 1, ids)
        if args.show_sql:
            print(f"-- {mode}: {len(statements)} statements\n{scripts[mode]}")
    reference_seconds = args.reference_duration or args.duration
    references = {clients: reference_run(args, clients, reference_seconds) for clients in client_counts}
    print(
        f"{server_description(args)}; wrk -t2; pgbench -j2 -M simple; {args.duration}s runs; "
        "VACUUM ANALYZE of the hot tables before each run (autovacuum is off here)\n"
    )
    print(
        f"{'mode':<18} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'pgbench tps':>12} {'ratio':>6}  app / reference"
    )
    rows = []
    with replay_database() as replay_db, app_server(args) as base:
        for mode in modes:
            for clients in client_counts:
                http = run_wrk(base, mode, clients, args.duration, args.users)
                vacuum()
                tps = run_pgbench(scripts[mode], clients, args.duration, ids, replay_db)
                http["errors"] += http["other"]
                rows.append(Row(mode, clients, http, tps, REFERENCE[mode], references[clients]))
                print(
                    f"{mode:<18} {clients:>7} {http['rate']:>8.0f} {http['p50']:>8.1f} {http['p99']:>8.1f} "
                    f"{http['errors']:>7} {tps:>12.0f} {http['rate'] / tps:>6.0%}  "
                    f"{ratio(http['rate'], references[clients], REFERENCE[mode])}"
                    + (f"  socket errors: {http['socket_errors']}" if http["socket_errors"] else ""),
                    flush=True,
                )
    summary(rows)
    reconcile_report()


if __name__ == "__main__":
    main()
