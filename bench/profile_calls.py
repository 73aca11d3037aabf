"""Profile of the hot calls: where one call's time goes, by layer, on PostgreSQL.

Loads the data of bench/redeem.py and bench/issue.py, then drives each hot call (Redeem Rewards by
pool and by amount, Issue Reward with 1 POINTS reward and with 5 mixed rewards) in this process,
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
        [--html DIR] (a pyinstrument HTML report per call) [--only pool,amount,1,5]

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
os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"

import issue as issue_bench  # noqa: E402  (bench/ is on sys.path when run as a script)
import redeem as redeem_bench  # noqa: E402
from common import postgres_ready  # noqa: E402

OURS = ("orgs", "wallets", "coupons", "catalogue", "core", "rewards_site", "appvirality", "capillary")
LAYERS = ("waits", "driver", "ORM", "Django", "DRF", "our code", "other")


def layer(path: str, function: str) -> str | None:
    """The layer a frame belongs to, or None for the standard library (it counts for its caller)."""
    if function in ("wait_c", "wait", "wait_epoll", "wait_select", "wait_poll") and "psycopg" in path:
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

    return {
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


def timed(handler, build, n: int) -> tuple[float, float]:
    """Wall and CPU milliseconds per call, over ``n`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        call(handler, build)
    return (time.perf_counter() - wall) * 1000 / n, (time.process_time() - cpu) * 1000 / n


def sampled(handler, build, n: int, html: Path | None, name: str) -> tuple[Counter, Counter]:
    """pyinstrument over ``n`` calls: seconds by layer, and inclusive seconds of our functions."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002, async_mode="disabled")
    profiler.start()
    for _ in range(n):
        call(handler, build)
    profiler.stop()
    if html:
        html.mkdir(parents=True, exist_ok=True)
        (html / (name.replace(" ", "_").replace(",", "") + ".html")).write_text(profiler.output_html())
    by_layer, ours = Counter(), Counter()

    def walk(frame, inherited: str, seen: frozenset) -> None:
        own = layer(frame.file_path or "", frame.function or "") or inherited
        self_time = frame.time - sum(child.time for child in frame.children)
        by_layer[own] += max(self_time, 0.0)
        key = f"{frame.function} ({(frame.file_path or '').replace(str(ROOT) + '/', '')}:{frame.line_no})"
        if own == "our code" and layer(frame.file_path or "", frame.function or "") and key not in seen:
            ours[key] += frame.time  # inclusive, counted once per stack (recursion)
            seen = seen | {key}
        for child in frame.children:
            walk(child, own, seen)

    root = profiler.last_session.root_frame()
    if root is not None:
        walk(root, "other", frozenset())
    return by_layer, ours


def setup(users: int) -> None:
    from django.db import transaction

    from orgs.services import org_purge

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
    if not args.no_setup:
        setup(args.users)
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    selected = calls(args.users)
    if args.only:
        words = args.only.split(",")
        selected = {name: build for name, build in selected.items() if any(w in name for w in words)}
    results = {}
    for name, build in selected.items():
        redeem_bench.vacuum()
        timed(handler, build, 50)  # warm: connection, caches, prepared statements
        wall, cpu = timed(handler, build, args.calls)
        by_layer, ours = sampled(handler, build, args.calls, args.html, name)
        results[name] = (wall, cpu, by_layer, ours)
        total = sum(by_layer.values()) or 1
        print(f"\n## {name}: {wall:.2f} ms wall, {cpu:.2f} ms CPU per call ({args.calls} calls, one at a time)")
        print(" | ".join(f"{lay} {by_layer[lay] / total:.0%}" for lay in LAYERS))
        print("our functions, inclusive share of the call:")
        for key, seconds in ours.most_common(8):
            print(f"  {seconds / total:5.0%}  {key}")
    print("\n| call | wall ms | CPU ms | " + " | ".join(LAYERS) + " |")
    print("|---|---|---|" + "---|" * len(LAYERS))
    for name, (wall, cpu, by_layer, _) in results.items():
        total = sum(by_layer.values()) or 1
        shares = " | ".join(f"{by_layer[lay] / total:.0%}" for lay in LAYERS)
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {shares} |")


if __name__ == "__main__":
    main()
