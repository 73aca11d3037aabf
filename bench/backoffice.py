"""Benchmark of the back office on big tables (PostgreSQL), through real admin requests.

1. Upload a CSV of N lines (default 1,000,000, with a few duplicate and malformed lines) into
   an empty pool through the admin's upload page: the time of the whole request (multipart
   parsing, checks, COPY) and the report's counts.
2. Open the coupon changelist with N+ coupons: unfiltered (estimated count), filtered by pool
   and by status; the coupon pool list (stock counts) and the dashboard.

3. ../shared/bench/reference.sh at 1 client: codes uploaded per second ÷ the reference's ``pool`` tps.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rewards_bench python bench/backoffice.py [--count N]
        [--reference PATH (or REFERENCE_SH=PATH)] [--reference-duration 10] [--no-reference]
"""

import argparse
import io
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rewards_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rewards_site.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-bench-only-secret-key-bench-only")

from common import add_reference_arguments, batch_ratio, postgres_ready  # noqa: E402  (bench/ is on sys.path when run as a script)

BENCH_ORG = 9_200_001


def timed(label: str, action):
    started = time.perf_counter()
    result = action()
    print(f"{label}: {time.perf_counter() - started:.3f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    add_reference_arguments(parser)
    args = parser.parse_args()

    postgres_ready("bench/backoffice.py")
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from backoffice.purge import org_purge
    from coupons.models import CouponPool
    from orgs.models import Org

    org_purge(org_id=BENCH_ORG)
    org = Org.objects.create(id=BENCH_ORG, name="Back-office bench")
    pool = CouponPool.objects.create(id=BENCH_ORG, org=org, name="Bench upload pool")
    user = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser("bench-admin")
    client = Client()
    client.force_login(user)

    # 1. the upload
    lines = [f"BENCH-{n:09d}" for n in range(args.count - 3)]
    lines += [lines[0], "not a code!", lines[1]]  # 2 duplicates, 1 malformed
    upload = io.BytesIO(("code\n" + "\n".join(lines) + "\n").encode())
    upload.name = "bench.csv"
    print(f"upload: {len(lines):,} lines, {upload.getbuffer().nbytes / 1e6:.1f} MB")
    started = time.perf_counter()
    response = timed(
        "upload through the admin (one request)",
        lambda: client.post(f"/admin/coupons/couponpool/{pool.pk}/upload/", {"file": upload}),
    )
    uploaded = len(lines) / (time.perf_counter() - started)
    content = response.content.decode()
    for key in ("lines", "added", "duplicates-in-file", "duplicates-existing", "malformed"):
        value = re.search(rf'id="report-{key}">(\d+)<', content)
        print(f"  {key}: {value.group(1) if value else '?'}")

    # 2. the lists
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE coupons_coupon")
        cursor.execute("SELECT count(*) FROM coupons_coupon")
        print(f"coupons in the table: {cursor.fetchone()[0]:,}")
    deep = max(1, min(500, args.count // 200))  # a page deep in the list (100 a page)
    for label, url in [
        ("coupon changelist, unfiltered", "/admin/coupons/coupon/"),
        (f"coupon changelist, unfiltered, page {deep}", f"/admin/coupons/coupon/?p={deep}"),
        ("coupon changelist, one pool", f"/admin/coupons/coupon/?pool__id__exact={pool.pk}"),
        ("coupon changelist, status AVAILABLE", "/admin/coupons/coupon/?status__exact=AVAILABLE"),
        ("coupon changelist, search by code", "/admin/coupons/coupon/?q=BENCH-000500000"),
        ("coupon pool changelist (stock counts)", "/admin/coupons/couponpool/"),
        ("dashboard (admin index)", "/admin/"),
    ]:
        client.get(url)  # warm
        response = timed(label, lambda url=url: client.get(url))
        assert response.status_code == 200, (url, response.status_code)
    org_purge(org_id=BENCH_ORG)
    batch_ratio(args, "codes uploaded", uploaded, "pool")  # beside coupons taken one by one


if __name__ == "__main__":
    main()
