"""Benchmark: the reconciliation of 1,000,000 ledger entries on PostgreSQL.

Loads a book of N ledger entries (default 1,000,000) with valid balance chains: W wallets of
10 entries each, one in ten an ISSUE entry with its RewardIssue record; server-side
``INSERT ... SELECT generate_series`` with the books' triggers switched off for the load only
(``session_replication_role = replica``, as a restore would: the rows are valid by
construction, and the reconciliation itself confirms it). VACUUM ANALYZE after the load
(autovacuum is off on this machine kind). Then runs ``reconciliation_run`` (every check, in
batches) and prints its time, and injects one mismatch to show it is found. Beside it,
../shared/bench/reference.sh at 1 client: entries reconciled per second ÷ the ``credit`` tps (a
wallet credited with its entry: what writing one entry costs PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rewards_bench_reconcile python bench/reconcile.py [--entries N]
        [--reference PATH (or REFERENCE_SH=PATH)] [--reference-duration 10] [--no-reference]
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rewards_bench_reconcile")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rewards_site.settings")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")

from common import add_reference_arguments, batch_ratio, postgres_ready, vacuum  # noqa: E402  (bench/ is on sys.path when run as a script)

BENCH_ORG = 9_200_001
PER_WALLET = 10


def load(entries: int) -> None:
    from django.db import connection, transaction

    from backoffice.purge import org_purge
    from catalogue.models import CatalogueReward
    from orgs.models import Org

    wallets = entries // PER_WALLET
    if Org.objects.filter(pk=BENCH_ORG).exists():
        org_purge(org_id=BENCH_ORG)
    org = Org.objects.create(id=BENCH_ORG, name="Reconciliation bench")
    CatalogueReward.objects.create(id=BENCH_ORG, org=org, name="Bench reward", type="POINTS_ONLY")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # the load only: rows valid by construction
        cursor.execute(
            "INSERT INTO orgs_customer (org_id, external_id, user_key, email, mobile, blocked, created_at) "
            "SELECT %s, 'bench-' || g, gen_random_uuid(), NULL, NULL, false, now() FROM generate_series(1, %s) g",
            [BENCH_ORG, wallets],
        )
        # entry k of a wallet moves +k (k = 1..9) or, for k = 10, -10 (an ISSUE): balance 45 - 10 = 35.
        cursor.execute(
            "INSERT INTO wallets_wallet (org_id, kind, customer_id, balance, created_at) "
            "SELECT org_id, 'POINTS', id, 35.00, now() FROM orgs_customer WHERE org_id = %s",
            [BENCH_ORG],
        )
        cursor.execute(
            """
            INSERT INTO wallets_ledgerentry (org_id, wallet_id, delta, balance_after, kind, reference, memo, created_at)
            SELECT w.org_id, w.id,
                   CASE WHEN k < 10 THEN k ELSE -10 END,
                   CASE WHEN k < 10 THEN k * (k + 1) / 2 ELSE 35 END,
                   CASE WHEN k < 10 THEN 'ADJUSTMENT' ELSE 'ISSUE' END,
                   CASE WHEN k < 10 THEN '' ELSE 'B' || w.id END, '', now()
              FROM wallets_wallet w CROSS JOIN generate_series(1, %s) k
             WHERE w.org_id = %s
             ORDER BY w.id, k
            """,
            [PER_WALLET, BENCH_ORG],
        )
        cursor.execute(
            """
            INSERT INTO catalogue_rewardissue (org_id, points_reference_id, customer_id, group_loyalty_redemption,
                   reward_id, till_username, requested_quantity, quantity, points, coupon_codes, voucher,
                   vendor_details, fulfillment_status, transaction_number, notes, brand, status, created_at)
            SELECT w.org_id, 'B' || w.id, w.customer_id, false, %s, '', 1, 1, 10.00, '[]', '', '{}', '', '', '',
                   '', 'ISSUED', now()
              FROM wallets_wallet w WHERE w.org_id = %s
            """,
            [BENCH_ORG, BENCH_ORG],
        )
    took = time.perf_counter() - started
    print(f"loaded {wallets:,} wallets, {wallets * PER_WALLET:,} ledger entries in {took:.1f} s")
    vacuum("orgs_customer, wallets_wallet, wallets_ledgerentry, catalogue_rewardissue")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    add_reference_arguments(parser)
    args = parser.parse_args()

    postgres_ready("bench/reconcile.py")
    from django.db import connection, transaction

    from wallets.models import Discrepancy, LedgerEntry
    from wallets.reconciliation import reconciliation_run

    load(args.entries)
    Discrepancy.objects.all().delete()
    entries = LedgerEntry.objects.count()

    started = time.perf_counter()
    result = reconciliation_run()
    elapsed = time.perf_counter() - started
    print(
        f"reconciliation of {entries:,} ledger entries ({result.run.wallets_checked:,} wallets, "
        f"{result.run.batches} batches): {elapsed:.1f} s, {len(result.open_findings)} finding(s)"
    )
    # entries checked per second beside entries PostgreSQL writes per second (a credit and its entry)
    batch_ratio(args, "ledger entries reconciled", entries / elapsed, "credit")

    with transaction.atomic(), connection.cursor() as cursor:  # one mismatch, past the triggers
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE wallets_wallet SET balance = balance + 1 WHERE id = (SELECT MIN(id) FROM wallets_wallet "
            "WHERE org_id = %s)",
            [BENCH_ORG],
        )
    started = time.perf_counter()
    result = reconciliation_run()
    print(
        f"again with one injected mismatch: {time.perf_counter() - started:.1f} s, "
        f"found: {[f'{f.check_name} {f.subject}' for f in result.open_findings]}"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE wallets_wallet SET balance = balance - 1 WHERE id = (SELECT MIN(id) FROM wallets_wallet "
            "WHERE org_id = %s)",
            [BENCH_ORG],
        )


if __name__ == "__main__":
    main()
