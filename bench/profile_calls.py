"""Profile of the hot calls: where one call's time goes, by layer, on PostgreSQL.

Loads the data of bench/redeem.py, bench/issue.py and bench/companion.py, then drives each hot call
(Redeem Rewards by pool and by amount, Issue Reward with 1 POINTS reward and with 5 mixed rewards,
AppVirality getuserbalance and registerconversionevent, a referral Signup) in this process,
through Django's WSGI handler (the whole middleware stack, as gunicorn calls it; no HTTP), one
call after another, for a random user each time:

1. timed: wall and CPU milliseconds per call (wall minus CPU is waiting: round trips, COMMIT);
2. sampled with pyinstrument (wall clock): each sample's time goes to the layer of the innermost
   frame that belongs to a known package; standard-library frames count for the layer that
   called them. Layers: waits (the driver waiting for PostgreSQL), driver (psycopg), ORM
   (django.db: query compile, model building, saving), Django (request, middleware, urls,
   response), DRF, our code (orgs, wallets, coupons, catalogue, core, rewards_site), other.
   The functions of our code with the most inclusive time are listed under each call.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rewards_profile python bench/profile_calls.py [--calls 300]
        [--html DIR] (a pyinstrument HTML report per call) [--only pool,amount,1,5,getuserbalance,...]

Events are queued to the Redis of BENCH_REDIS_URL (default redis://127.0.0.1:6379/12) by the
publisher thread, as in production; that thread is not in the samples (main thread only). For a
view from outside the process under real load, run a benchmark and attach py-spy to a gunicorn
worker: ``py-spy record --format speedscope -o worker.json --pid <worker pid> --duration 15``.
"""

import argparse
import io
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rewards_profile")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rewards_site.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "profile-secret-key-profile-secret-key-profile-secret-key")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["API_RATE_LIMIT_PER_MINUTE"] = "0"

import companion as companion_bench  # noqa: E402  (bench/ is on sys.path when run as a script)
import issue as issue_bench  # noqa: E402
import redeem as redeem_bench  # noqa: E402  (both queue events to the bench Redis: common.events_to_redis)
from common import postgres_ready  # noqa: E402

OURS = ("orgs", "wallets", "coupons", "catalogue", "core", "rewards_site", "appvirality", "capillary")
LAYERS = ("waits", "driver", "ORM", "Django", "DRF", "our code", "other")
# psycopg's frames whose own time is libpq at work on the socket: waiting for the server's answer,
# or sending (on a busy machine the write hands the CPU to the PostgreSQL backend it wakes).
# Measured against the CPU timer, their share is the wall time not spent on this process's CPU.
_WAITING = {"wait", "wait_c", "_execute_send", "_exec_command", "_start_query", "_send_prepare"}


def layer(path: str, function: str) -> str | None:
    """The layer a frame belongs to, or None for the standard library (it counts for its caller)."""
    if function in _WAITING and "/psycopg/" in path:
        return "waits"
    if "/psycopg" in path:
        return "driver"
    if "/site-packages/django/db/" in path:
        return "ORM"
    if "/site-packages/django/" in path:
        return "Django"
    if "/site-packages/rest_framework/" in path or "/site-packages/drf_spectacular/" in path:
        return "DRF"
    relative = path[len(str(ROOT)) + 1 :] if path.startswith(str(ROOT)) and "/site-packages/" not in path else ""
    if relative.split("/", 1)[0] in OURS:
        return "our code"
    if "/site-packages/" in path:
        return "other"
    return None


# --- the calls -------------------------------------------------------------------------------------


def environ(path: str, body: dict, headers: dict | None = None) -> dict:
    raw = json.dumps(body).encode()
    path, _, query = path.partition("?")
    env = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(raw)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    for name, value in (headers or {}).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def calls(users: int) -> dict:
    """Each hot call as a function of a random draw: it returns the WSGI environ of one request."""
    import base64

    from orgs.models import md5_hex

    keys = {"apikey": redeem_bench.APIKEY, "privatekey": redeem_bench.PRIVATEKEY}
    auth = "Basic " + base64.b64encode(f"{issue_bench.TILL}:{md5_hex(issue_bench.PASSWORD)}".encode()).decode()
    counter = iter(range(10**9))

    def redeem(extra):
        return lambda: environ(
            "/v2_0/redeemrewards", {**keys, "UserIdInstore": f"bench-{random.randint(1, users)}", **extra}
        )

    def issue(rewards):
        def build():
            n = next(counter)
            body = {
                "externalId": f"bench-{random.randint(1, issue_bench.CUSTOMERS)}",
                "rewards": [{**r, "requestId": f"profile-{time.time_ns()}-{n}-{i}"} for i, r in enumerate(rewards)],
            }
            return environ(issue_bench.ISSUE_PATH, body, {"Authorization": auth})

        return build

    def companion(verb):
        def build():
            user = random.randint(1, users)
            values = (user, 0, 0, next(counter)) if verb == "registerconversionevent" else (user,)
            return environ(f"/v2_0/{verb}", json.loads(companion_bench.CALLS[verb] % values))

        return build

    return {
        "AppVirality getuserbalance": companion("getuserbalance"),
        "AppVirality registerconversionevent": companion("registerconversionevent"),
        "Redeem Rewards by pool": redeem(redeem_bench.MODES["pool disbursal"]),
        "Redeem Rewards by amount": redeem(redeem_bench.MODES["amount redemption"]),
        "Issue Reward, 1 POINTS reward": issue(issue_bench.SINGLE),
        "Issue Reward, 5 mixed rewards": issue(issue_bench.MIXED),
    }


def call(handler, build) -> int:
    statuses = []
    body = b"".join(handler(build(), lambda status, headers, exc_info=None: statuses.append(status)))
    status = int(statuses[0].split()[0])
    if status != 200:
        raise SystemExit(f"call failed: {statuses[0]} {body[:300]!r}")
    return status


# --- profile ---------------------------------------------------------------------------------------


def timed(handler, build, n: int) -> tuple[float, float, float]:
    """Wall and CPU milliseconds per call, and SQL statements per call (without BEGIN/COMMIT)."""
    from django.db import connection

    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    wall, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(count):
        for _ in range(n):
            call(handler, build)
    return (time.perf_counter() - wall) * 1000 / n, (time.process_time() - cpu) * 1000 / n, statements / n


def sampled(handler, build, n: int, html: Path | None, name: str) -> tuple[Counter, dict]:
    """pyinstrument over ``n`` calls: seconds by layer, and by the function of our code that
    asked for them (the innermost one on the stack), split by layer."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002, async_mode="disabled")
    profiler.start()
    for _ in range(n):
        call(handler, build)
    profiler.stop()
    if html:
        html.mkdir(parents=True, exist_ok=True)
        (html / (name.replace(" ", "_").replace(",", "") + ".html")).write_text(profiler.output_html())
    by_layer: Counter = Counter()
    by_owner: dict[str, Counter] = {}

    def walk(frame, inherited: str, owner: str) -> None:
        # pyinstrument puts a frame's own time in a "[self]" child (no file: the parent's layer)
        own = layer(frame.file_path or "", frame.function or "") or inherited
        if layer(frame.file_path or "", frame.function or "") == "our code":
            owner = f"{frame.function} ({frame.file_path.replace(str(ROOT) + '/', '')}:{frame.line_no})"
        if not frame.children:
            by_layer[own] += frame.time
            by_owner.setdefault(owner, Counter())[own] += frame.time
        for child in frame.children:
            walk(child, own, owner)

    root = profiler.last_session.root_frame()
    if root is not None:
        walk(root, "other", "(outside our code)")
    return by_layer, by_owner


def setup(users: int, names: list[str]) -> None:
    from django.db import transaction

    from backoffice.purge import org_purge

    if any("AppVirality" in name for name in names):
        companion_bench.seed(users)
    if all("AppVirality" in name for name in names):
        return

    with transaction.atomic():  # its ids would collide with the redeem seed's fixed sequence starts
        org_purge(org_id=issue_bench.BENCH_ORG)
    budget = 20_000
    redeem_bench.seed(users, rewards_per_user=budget // users + 1, coupons=budget)
    issue_bench.setup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="calls per profile (and per timing)")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--only", help="comma-separated words: run the calls whose name has one (pool,amount,1,5)")
    parser.add_argument("--html", type=Path, help="write a pyinstrument HTML report per call into this folder")
    parser.add_argument("--no-setup", action="store_true", help="reuse the loaded data")
    args = parser.parse_args()
    postgres_ready("bench/profile_calls.py")
    selected = calls(args.users)
    if args.only:
        words = args.only.split(",")
        selected = {name: build for name, build in selected.items() if any(w in name for w in words)}
    if not args.no_setup:
        setup(args.users, list(selected))
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    results = {}
    for name, build in selected.items():
        redeem_bench.vacuum()
        timed(handler, build, 50)  # warm: connection, caches, prepared statements
        wall, cpu, statements = timed(handler, build, args.calls)
        by_layer, by_owner = sampled(handler, build, args.calls, args.html, name)
        results[name] = (wall, cpu, statements, by_layer)
        total = sum(by_layer.values()) or 1
        print(
            f"\n## {name}: {wall:.2f} ms wall, {cpu:.2f} ms CPU, {statements:.1f} SQL statements per call "
            f"({args.calls} calls, one at a time)"
        )
        print("share of the wall time: " + " | ".join(f"{lay} {by_layer[lay] / total:.0%}" for lay in LAYERS))
        print("by the function of our code that asked (innermost on the stack), share of the wall time:")
        ranked = sorted(by_owner.items(), key=lambda item: -sum(item[1].values()))
        for owner, layers in ranked[:10]:
            parts = ", ".join(f"{lay} {t / total:.0%}" for lay, t in layers.most_common() if t / total >= 0.005)
            print(f"  {sum(layers.values()) / total:5.0%}  {owner}: {parts}")
    print("\nShares of the wall time per call (pyinstrument samples, one call at a time):\n")
    print("| call | wall ms | CPU ms | statements | " + " | ".join(LAYERS) + " |")
    print("|---|---|---|---|" + "---|" * len(LAYERS))
    for name, (wall, cpu, statements, by_layer) in results.items():
        total = sum(by_layer.values()) or 1
        shares = " | ".join(f"{by_layer[lay] / total:.0%}" for lay in LAYERS)
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {statements:.1f} | {shares} |")
    print("\nShares of the time on the CPU (the same samples, waits left out):\n")
    print("| call | " + " | ".join(LAYERS[1:]) + " |")
    print("|---|" + "---|" * (len(LAYERS) - 1))
    for name, (_, _, _, by_layer) in results.items():
        busy = sum(by_layer[lay] for lay in LAYERS[1:]) or 1
        print(f"| {name} | " + " | ".join(f"{by_layer[lay] / busy:.0%}" for lay in LAYERS[1:]) + " |")


if __name__ == "__main__":
    main()
