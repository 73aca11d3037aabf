"""Benchmark: load_scenario with generate.count = N codes (default 1,000,000) on PostgreSQL.

Prints the load time through ``manage.py load_scenario`` beside a raw-SQL
baseline run in the same session: the same number of rows inserted into
``coupons_coupon`` by one server-side ``INSERT ... SELECT generate_series``
(rolled back), the fastest PostgreSQL can write these rows and their indexes; and
../shared/bench/reference.sh at 1 client: codes loaded per second ÷ its ``pool`` tps (one
coupon taken and recorded per transaction).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rewards_bench python bench/load_coupons.py [--count N]
        [--reference PATH (or REFERENCE_SH=PATH)] [--reference-duration 10] [--no-reference]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rewards_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rewards_site.settings")

from common import add_reference_arguments, batch_ratio, postgres_ready  # noqa: E402  (bench/ is on sys.path when run as a script)

BENCH_ORG = 9_100_001


def raw_baseline(count: int) -> float:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO coupons_coupon (org_id, pool_id, code, status) "
            "SELECT %s, %s, 'RAW-' || g, 'AVAILABLE' FROM generate_series(1, %s) g",
            [BENCH_ORG, BENCH_ORG, count],
        )
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    add_reference_arguments(parser)
    args = parser.parse_args()

    postgres_ready("bench/load_coupons.py")
    from django.core.management import call_command

    document = {
        "orgs": [
            {
                "id": BENCH_ORG,
                "name": "Bench",
                "coupon_pools": [
                    {
                        "id": BENCH_ORG,
                        "name": "Bench pool",
                        "generate": {"count": args.count, "prefix": "B-", "length": 10},
                    }
                ],
            }
        ]
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(document, handle)
    # A first load so that the measured one also purges a full pool (--replace), as a reload would.
    with open(os.devnull, "w") as quiet:
        call_command("load_scenario", handle.name, replace=True, stdout=quiet)
        started = time.perf_counter()
        call_command("load_scenario", handle.name, replace=True, stdout=quiet)
        loaded = time.perf_counter() - started
    baseline = raw_baseline(args.count)
    os.unlink(handle.name)

    print(f"coupons loaded:          {args.count:,}")
    print(f"load_scenario --replace: {loaded:6.1f} s  ({args.count / loaded:,.0f} codes/s, old pool purged too)")
    print(f"raw SQL baseline:        {baseline:6.1f} s  ({args.count / baseline:,.0f} rows/s, INSERT ... SELECT)")
    print(f"ratio load/baseline:     {loaded / baseline:6.2f}x")
    print(f"target (< 60 s):         {'met' if loaded < 60 else 'MISSED'}")
    batch_ratio(args, "codes loaded", args.count / loaded, "pool")  # beside coupons taken one by one


if __name__ == "__main__":
    main()
