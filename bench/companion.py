"""Benchmark: the AppVirality companion calls through gunicorn + PostgreSQL, beside pgbench replaying
the same SQL and the physical reference (../shared/bench/reference.sh), in one invocation.

Two calls: ``registerconversionevent`` (a referral Signup paying the referrer and the friend, a fresh
``tskey`` per request) and ``getuserbalance``. For each and each client count (16, 64): req/s, p50
and p99 from wrk; the rate at which pgbench replays the *same SQL statements* the endpoint runs
(captured from one request; the user drawn at random per transaction as wrk does, on a copy of the
database); and the ratio to the reference run in the same invocation: registerconversionevent
against ``credit`` (a wallet credited with its ledger entry: the least a call that pays must write),
getuserbalance against the cheapest workload of that run (the highest tps: the reference has no
read-only workload), named in the output. Then the 64-client rate as a share of the 16-client one, and the
reconciliation of the bench database after the run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rewards_companion_bench python bench/companion.py
        [--duration 10] [--workers 4] [--users 2000] [--clients 16,64] [--calls getuserbalance,...]
        [--topology] [--reference ../shared/bench/reference.sh] [--show-sql]

Needs wrk and pgbench on PATH; the bench org is reset at every run.
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
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rewards_companion_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rewards_site.settings")
os.environ["API_RATE_LIMIT_PER_MINUTE"] = "0"

from common import (  # noqa: E402  (bench/ is on sys.path when run as a script)
    Row,
    add_server_arguments,
    app_server,
    events_to_redis,
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
from redeem import run_pgbench  # noqa: E402

events_to_redis()

ORG, REFERRERS = 9_200_002, 100
APIKEY, PRIVATEKEY = "bench-av-apikey-0001", "bench-av-privatekey-0001"
SEQUENCES = {
    "orgs_customer": 11_000_000,
    "wallets_earnedreward": 31_000_000,
    "wallets_conversionevent": 71_000_000,
    "wallets_ruleusage": 81_000_000,
}
HOT_TABLES = "orgs_customer, wallets_earnedreward, wallets_conversionevent, wallets_ruleusage, orgs_outboxevent"
# The reference.sh workload each call is compared with: a conversion that pays writes at least what
# ``credit`` writes; a balance is a read, and the reference has none: its cheapest workload (the
# highest tps of the same run, named in the output), so the ratio is the least flattering.
REFERENCE = {"registerconversionevent": "credit", "getuserbalance": None}


def reference_for(verb: str, reference: dict[str, float]) -> str | None:
    return REFERENCE[verb] or (max(reference, key=reference.get) if reference else None)


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
    """The SQL one call runs for user ``n``, as executed, with BEGIN/COMMIT where Django sends them
    (the second call: caches warm)."""
    from django.test import Client

    def body(k: int) -> str:
        return CALLS[verb] % ((n, 0, 0, k) if verb == "registerconversionevent" else (n,))

    Client().post(f"/v2_0/{verb}", data=body(1), content_type="application/json")
    events, response = sql_of(lambda: Client().post(f"/v2_0/{verb}", data=body(2), content_type="application/json"))
    answer = response.json()
    assert answer["statuscode"] == 1, answer
    if verb == "registerconversionevent":
        assert len(answer["rewards"]) == 2, answer
    return events


_LITERAL = re.compile(r"'(?:[^']|'')*'")


def _spliced(sql: str, replacements: list[tuple[str, str]]) -> str:
    """``sql`` with each (pattern, SQL expression) replaced: outside string literals by the
    expression, inside one by concatenation (the literal in parentheses, so that a cast after it
    applies to the whole)."""
    out, last = [], 0
    for m in _LITERAL.finditer(sql):
        out.append(_replace_bare(sql[last : m.start()], replacements))
        literal = m.group(0)
        inner = literal
        for pattern, expression in replacements:
            inner = re.sub(pattern, lambda _m, e=expression: f"' || {e} || '", inner)
        out.append(inner if inner == literal else f"({inner})")
        last = m.end()
    out.append(_replace_bare(sql[last:], replacements))
    return "".join(out)


def _replace_bare(text: str, replacements: list[tuple[str, str]]) -> str:
    for pattern, expression in replacements:
        text = re.sub(pattern, lambda _m, e=expression: f"({e})", text)
    return text


def pgbench_script(verb: str, events: list[str], n: int) -> str:
    """The captured statements as a pgbench script: the user drawn at random (its id, its
    referrer's, its store id), the conversion's id the first statement allocates carried over
    (\\gset), the tskey and the outbox event ids fresh per transaction."""
    from orgs.models import Customer, OutboxEvent
    from wallets.models import ConversionEvent

    customer = Customer.objects.get(org_id=ORG, external_id=f"bench-{n}")
    first = Customer.objects.filter(org_id=ORG, external_id="bench-1").values_list("pk", flat=True).get()
    referrer0 = Customer.objects.filter(org_id=ORG, external_id="bench-referrer-0").values_list("pk", flat=True).get()
    lines = [
        "\\set n random(1, :users)",
        f"\\set cid {first - 1} + :n",
        f"\\set rid {referrer0} + mod(:n, {REFERRERS})",
    ]
    replacements = [(rf"(?<![\w-])bench-{n}(?![\w-])", "'bench-' || :n"), (r"t0-0-2", "md5(random()::text)")]
    conversion = ConversionEvent.objects.filter(customer=customer).order_by("-id").first()
    if conversion is not None:
        replacements.append((rf"(?<!\d){conversion.pk}(?!\d)", ":p_conversion_id"))
        for event_id in OutboxEvent.objects.filter(payload__conversion__id=conversion.pk).values_list(
            "event_id", flat=True
        ):
            replacements.append((str(event_id), "gen_random_uuid()"))
    replacements.append((rf"(?<![\d.]){customer.pk}(?![\d.])", ":cid"))
    if customer.referrer_id:
        replacements.append((rf"(?<![\d.]){customer.referrer_id}(?![\d.])", ":rid"))
    for sql in events:
        sql = " ".join(sql.split())
        if sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):
            continue
        gset = " \\gset p_" if "AS conversion_id" in sql else ""
        lines.append(_spliced(sql, replacements) + (gset or ";"))
    return "\n".join(lines) + "\n"


def wrk(base: str, verb: str, clients: int, duration: int, users: int, run: int) -> dict:
    script = WRK_SCRIPT % {"users": users, "body": CALLS[verb], "seed": time.time_ns() % 1_000_000_007, "run": run}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    command = ["wrk", "-t", "2", "-c", str(clients), "-d", f"{duration}s", "--latency", "-s", handle.name]
    done = subprocess.run([*command, f"{base}/v2_0/{verb}"], capture_output=True, text=True, check=True)
    os.unlink(handle.name)
    out = done.stdout
    ok, other = map(int, re.search(r"STATUS ok=(\d+) other=(\d+)", out).groups())
    figures = wrk_figures(out)
    return {**figures, "errors": figures["errors"] + other, "ok": ok}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--clients", default="16,64")
    parser.add_argument("--calls", default=",".join(CALLS))
    parser.add_argument("--show-sql", action="store_true")
    add_server_arguments(parser)
    args = parser.parse_args()
    for tool in ("wrk", "pgbench"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not on PATH")
    postgres_ready("bench/companion.py")
    calls, client_counts = args.calls.split(","), [int(c) for c in args.clients.split(",")]
    seed(args.users)
    scripts = {}
    for verb in calls:
        events = capture(verb, n=1)
        scripts[verb] = pgbench_script(verb, events, 1)
        statements = [e for e in events if e not in ("BEGIN", "COMMIT")]
        print(f"{verb}: {len(statements)} statements per call" + (f"\n{scripts[verb]}" if args.show_sql else ""))
    from_setup = reconcile_findings()
    references = {c: reference_run(args, c, args.reference_duration or args.duration) for c in client_counts}
    print(f"{server_description(args)}; wrk -t2; pgbench -j2 -M simple; {args.duration}s runs", flush=True)
    rows, run = [], 0
    with replay_database() as replay_db, app_server(args) as base:
        for verb in calls:
            for clients in client_counts:
                run += 2
                vacuum(HOT_TABLES)
                warm_up(lambda s, v=verb, c=clients, r=run: wrk(base, v, c, s, args.users, r))
                app = wrk(base, verb, clients, args.duration, args.users, run + 1)
                vacuum(HOT_TABLES, dbname=replay_db)
                tps = run_pgbench(scripts[verb], clients, args.duration, {"users": args.users}, replay_db)
                workload = reference_for(verb, references[clients])
                rows.append(Row(verb, clients, app, tps, workload, references[clients]))
                print(
                    f"{verb:24} {clients:3} clients: app {app['rate']:7.1f} req/s  p50 {app['p50']:6.1f} ms  "
                    f"p99 {app['p99']:6.1f} ms  not ok {app['errors']} {app['socket_errors']}| pgbench "
                    f"{tps:7.1f} tps  ratio {app['rate'] / tps:.0%} | "
                    f"{ratio(app['rate'], references[clients], workload)}",
                    flush=True,
                )
    summary(rows)
    print(
        "reference workloads: registerconversionevent against credit (a wallet credited with its ledger "
        "entry); getuserbalance against the cheapest workload of each run (the highest tps; reference.sh has no read)"
    )
    reconcile_report(setup=from_setup, why="the bench's own data")


if __name__ == "__main__":
    main()
