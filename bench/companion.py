"""Benchmark: the AppVirality companion calls under gunicorn on PostgreSQL, beside pgbench.

Two calls: ``registerconversionevent`` (a referral Signup paying the referrer and the friend, with a
fresh ``tskey`` per request) and ``getuserbalance``. For each and each client count (16, 64) it
prints req/s, p50 and p99 from wrk, the rate at which pgbench replays the *same SQL statements* the
endpoint runs (captured from one request; the user drawn at random per transaction as wrk does, in
one transaction like the call), their ratio, and the 64-client rate as a share of the 16-client one.

    python bench/companion.py [--duration 20] [--workers 4] [--users 2000]

Needs wrk and pgbench on PATH; DATABASE_URL defaults to
postgres://postgres@127.0.0.1:5432/rewards_bench (created if missing; the bench org is reset).
Run /work/shared/bench/reference.sh in the same session for the machine's reference rates.
"""

import argparse
import json
import os
import re
import shutil
import signal
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

from common import events_to_redis, postgres_ready, start_gunicorn, vacuum, wrk_figures  # noqa: E402  (bench/ on sys.path)
from redeem import run_pgbench  # noqa: E402

events_to_redis()

ORG, PORT, REFERRERS = 9_200_002, 8078, 100
APIKEY, PRIVATEKEY = "bench-av-apikey-0001", "bench-av-privatekey-0001"
SEQUENCES = {
    "orgs_customer": 11_000_000,
    "wallets_earnedreward": 31_000_000,
    "wallets_conversionevent": 71_000_000,
    "wallets_ruleusage": 81_000_000,
}
HOT_TABLES = "orgs_customer, wallets_earnedreward, wallets_conversionevent, wallets_ruleusage, orgs_outboxevent"

_KEYS = f'"apikey": "{APIKEY}", "privatekey": "{PRIVATEKEY}"'
# printf templates (wrk's string.format and Python's %): the user number, then run, thread, request
CALLS = {
    "registerconversionevent": "{"
    + _KEYS
    + ', "UserIdInstore": "bench-%d", "eventName": "Signup", "tskey": "t%d-%d-%d"}',
    "getuserbalance": "{" + _KEYS + ', "UserIdInstore": "bench-%d"}',
}

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread); thread:set("tid", #threads) end
function init(args) ok = 0; other = 0; sent = 0; math.randomseed(%(seed)d + tid) end
function request()
  local n = math.random(1, %(users)d)
  sent = sent + 1
  return wrk.format(nil, nil, nil, string.format('%(body)s', n, %(run)d, tid, sent))
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


def seed(users: int) -> dict:
    """A bench app: a referral campaign whose Signup pays the referrer 5.00 and the friend 2.50 (no
    per-user limit to speak of), ``REFERRERS`` referrers, ``users`` users each referred by one of them
    and holding three approved rewards (what getuserbalance adds up)."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from backoffice.purge import org_purge
    from orgs.models import Campaign, Customer
    from wallets.models import EarnedReward

    with transaction.atomic():
        org_purge(org_id=ORG)
    with connection.cursor() as cursor:
        for table, start in SEQUENCES.items():
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {start}, false)")
    rule = {"event": "Signup", "referrer": {"amount": "5.00"}, "friend": {"amount": "2.50"}, "per_user": 1_000_000}
    document = {
        "orgs": [
            {
                "id": ORG,
                "name": "Bench AppVirality",
                "appvirality": {"apikey": APIKEY, "privatekey": PRIVATEKEY},
                "campaigns": [
                    {"id": "bench-referral", "growth_hack": "Word_of_Mouth", "reward_type": "WALLET", "rules": [rule]}
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
        referrers = Customer.objects.bulk_create(
            Customer(org_id=ORG, external_id=f"bench-referrer-{n}") for n in range(REFERRERS)
        )
        for n, customer in enumerate(customers, 1):
            customer.referrer = referrers[n % REFERRERS]
        Customer.objects.bulk_update(customers, ["referrer"], batch_size=5000)
        campaign = Campaign.objects.get(org_id=ORG, code="bench-referral")
        EarnedReward.objects.bulk_create(
            (
                EarnedReward(
                    org_id=ORG,
                    code=f"b-{c.external_id}-{k}",
                    campaign=campaign,
                    customer=c,
                    amount="10.00",
                    earned_at="2026-01-01T00:00:00Z",
                )
                for c in customers
                for k in range(3)
            ),
            batch_size=5000,
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")
    return {"users": users, "cid_base": customers[0].pk - 1, "ref_base": referrers[0].pk}


def capture(verb: str, n: int) -> list[str]:
    """The SQL one call runs for user ``n``, as executed (the second call: caches warm)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    def body(k: int) -> str:
        return CALLS[verb] % ((n, 0, 0, k) if verb == "registerconversionevent" else (n,))

    Client().post(f"/v2_0/{verb}", data=body(1), content_type="application/json")
    with CaptureQueriesContext(connection) as queries:
        answer = Client().post(f"/v2_0/{verb}", data=body(2), content_type="application/json").json()
    assert answer["statuscode"] == 1, answer
    if verb == "registerconversionevent":
        assert len(answer["rewards"]) == 2, answer
    return [q["sql"] for q in queries.captured_queries]


def pgbench_script(verb: str, statements: list[str], n: int, ids: dict) -> str:
    """The captured statements as a pgbench script in one transaction: the user drawn at random, the
    conversion id the claim returns carried over (\\gset), the tskey fresh per transaction."""
    from orgs.models import Customer
    from wallets.models import ConversionEvent

    customer = Customer.objects.get(org_id=ORG, external_id=f"bench-{n}")
    lines = ["\\set n random(1, :users)", "\\set cid :cid_base + :n", f"\\set rid :ref_base + mod(:n, {REFERRERS})"]
    conversion = ConversionEvent.objects.filter(customer=customer).order_by("-id").first()
    for sql in statements:
        sql = " ".join(sql.split())
        if sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):
            continue
        sql = sql.replace(f"'bench-{n}'", "'bench-' || :n")
        sql = re.sub(r"'t\d+-\d+-\d+'", "md5(random()::text)", sql)
        if conversion is not None:  # reward codes name the conversion: in one string, or in an array literal
            sql = re.sub(rf"'av-{conversion.pk}-(\d+)'", r"'av-' || :c_id || '-\1'", sql)
            sql = re.sub(
                rf"'\{{(av-{conversion.pk}-\d+(?:,av-{conversion.pk}-\d+)*)\}}'",
                lambda m: (
                    "ARRAY["
                    + ", ".join(f"'av-' || :c_id || '-{c.rsplit('-', 1)[1]}'" for c in m.group(1).split(","))
                    + "]"
                ),
                sql,
            )
            sql = re.sub(rf"(?<![\w.:'-]){conversion.pk}(?![\w.-])", ":c_id", sql)
        sql = re.sub(rf"(?<![\w.:'-]){customer.pk}(?![\w.-])", ":cid", sql)
        if customer.referrer_id:
            sql = re.sub(rf"(?<![\w.:'-]){customer.referrer_id}(?![\w.-])", ":rid", sql)
        sql = re.sub(
            r"'[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}'::uuid", "gen_random_uuid()", sql
        )
        claim = sql.startswith(("INSERT INTO wallets_conversionevent", 'INSERT INTO "wallets_conversionevent"'))
        gset = " \\gset c_" if claim else ""
        lines.append(sql + (";" if not gset else "") + gset)
    return "\n".join(lines) + "\n"


def run_wrk(verb: str, clients: int, duration: int, users: int, run: int) -> dict:
    """A warm-up run (connections, caches), then the measured one."""
    vacuum(HOT_TABLES)
    _wrk(verb, clients, 3, users, run * 2)
    return _wrk(verb, clients, duration, users, run * 2 + 1)


def _wrk(verb: str, clients: int, duration: int, users: int, run: int) -> dict:
    script = WRK_SCRIPT % {"users": users, "body": CALLS[verb], "seed": time.time_ns() % 1_000_000_007, "run": run}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    command = ["wrk", "-t", "2", "-c", str(clients), "-d", f"{duration}s", "--latency", "-s", handle.name]
    done = subprocess.run(
        [*command, f"http://127.0.0.1:{PORT}/v2_0/{verb}"], capture_output=True, text=True, check=True
    )
    os.unlink(handle.name)
    out = done.stdout
    ok, other = map(int, re.search(r"STATUS ok=(\d+) other=(\d+)", out).groups())
    figures = wrk_figures(out)
    return {**figures, "errors": figures["errors"] + other, "ok": ok}


def main() -> None:
    parser = argparse.ArgumentParser(description="AppVirality companion benchmark")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--clients", default="16,64")
    parser.add_argument("--calls", default=",".join(CALLS))
    parser.add_argument("--show-sql", action="store_true")
    args = parser.parse_args()
    for tool in ("wrk", "pgbench"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not on PATH")
    postgres_ready("bench/companion.py")
    from django.conf import settings

    calls, client_counts = args.calls.split(","), [int(c) for c in args.clients.split(",")]
    ids = seed(args.users)
    scripts = {}
    for verb in calls:
        statements = capture(verb, n=1)
        scripts[verb] = pgbench_script(verb, statements, 1, ids)
        if args.show_sql:
            print(f"-- {verb}: {len(statements)} statements\n{scripts[verb]}")
    server = start_gunicorn(port=PORT, workers=args.workers)
    print(f"gunicorn: {args.workers} sync workers; wrk -t2; pgbench -j2 -M simple; {args.duration}s runs\n")
    print(
        f"{'call':<24} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'pgbench':>8} {'ratio':>6}"
    )
    results, run = {}, 0
    try:
        for verb in calls:
            for clients in client_counts:
                run += 1
                http = run_wrk(verb, clients, args.duration, args.users, run)
                vacuum(HOT_TABLES)
                tps = run_pgbench(scripts[verb], clients, args.duration, ids, settings.DATABASES["default"]["NAME"])
                results[(verb, clients)] = http
                print(
                    f"{verb:<24} {clients:>7} {http['rate']:>8.0f} {http['p50']:>8.1f} {http['p99']:>8.1f} "
                    f"{http['errors']:>7} {tps:>8.0f} {http['rate'] / tps:>6.0%}"
                )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    for verb in calls:
        low, high = results.get((verb, 16)), results.get((verb, 64))
        if low and high:
            print(f"{verb}: 64 clients at {high['rate'] / low['rate']:.0%} of the 16-client rate")


if __name__ == "__main__":
    main()
