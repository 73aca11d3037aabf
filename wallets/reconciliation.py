"""Reconciliation of the books: set-based checks whose mismatches become ``Discrepancy`` rows.

``reconciliation_run`` runs every check in batches of id ranges (one SQL statement per batch,
no loop over rows) inside ONE transaction: on PostgreSQL a REPEATABLE READ snapshot, so every
batch sees the same moment (no false findings from calls committing during the run), and the
findings, the resolutions and the ``ReconciliationRun`` row are written at the end of that
transaction. A run killed half-way (SIGKILL) therefore leaves nothing behind; the next run
starts over. Findings are upserted on (check, subject) while open: running twice records each
finding once. Nothing is corrected here: staff settle findings through the adjustment or
reversal services; an open finding that a complete run no longer finds is marked resolved.

Checks:

* ``wallet_balance``: a wallet's cached balance equals the sum of its ledger entries;
* ``redemption_ledger``: a credited redemption call has its REDEMPTION ledger entry, of its amount;
* ``redemption_rewards``: the earned rewards a credited call lists exist, are the user's and consumed;
* ``reversal_ledger`` / ``revocation_refund``: a reversal by staff took back exactly the credits
  (a REVERSAL entry), a revocation refunded exactly the points; a reversed call's rewards are
  unredeemed again, so ``redemption_rewards`` leaves reversed calls alone;
* ``issue_points``: an issued reward's points equal its ISSUE ledger entries (by pointsReferenceId);
* ``ledger_issue_unrecorded``: an ISSUE ledger entry belongs to an issued reward;
* ``coupon_record``: a handed-out coupon has a holder and a record (a redemption call or an issue;
  coupons handed out before the call records' retention only need the holder);
* ``earned_reward_coupon``: a coupon handed out for an earned reward (coupons by the event) is held
  by the reward's customer and the reward is rewarded (such coupons satisfy ``coupon_record``);
* ``rule_usage``: a rule's per-user count equals the conversion events of that user it paid;
* ``vendor_voucher_unpaid``: a vendor voucher without points, not yet resolved by staff;
* ``vendor_voucher_maybe_twice``: a requestId retried after a vendor call that may have left a
  voucher at the partner (two vouchers if it does not de-duplicate), not yet resolved by staff;
* ``vendor_call_stuck``: a vendor call the recovery job has not settled long after it went stale;
* ``till_redemption_ledger`` / ``till_reversal_ledger``: a till redemption (reversal) has its
  POINTS_REDEEM (POINTS_REVERSE) ledger entry, of its points; ``ledger_till_unrecorded``: such an
  entry belongs to a till redemption or reversal;
* ``till_reversed_within_redemption``: a till redemption's reversals add up to its
  ``reversed_points`` and never exceed what it took;
* ``revocation_refunded_once``: a revoked issue with points was refunded exactly once (one REVERSAL
  under ``revoke:<pointsReferenceId>``), an issue still ISSUED never.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.tasks import task_send

from . import sql
from .models import Discrepancy, ReconciliationRun


@dataclass(frozen=True)
class Check:
    name: str
    table: str  # batched over this table's id ranges
    sql: str  # -> (org_id, subject id, expected, found, detail) for ids in [%(lo)s, %(hi)s)
    money: bool = True


_ROUND = "ROUND(CAST({} AS NUMERIC), 2)"


def _entry_check(name: str, table: str, *, kind: str, amount: str, where: str) -> Check:
    """A record that moved money (alias ``r``) has its ``ledger_entry``, of ``kind`` and ``amount``."""
    return Check(
        name,
        table,
        f"""
        SELECT r.org_id, r.id, {amount}, e.delta,
               CASE WHEN e.id IS NULL THEN 'no ledger entry' ELSE 'ledger entry ' || e.id || ' (' || e.kind || ')' END
          FROM {table} r
          LEFT JOIN wallets_ledgerentry e ON e.id = r.ledger_entry_id
         WHERE r.id >= %(lo)s AND r.id < %(hi)s AND {where}
           AND (e.id IS NULL OR e.kind <> '{kind}'
                OR {_ROUND.format("e.delta")} <> {_ROUND.format(amount)})
        """,
    )


CHECKS = [
    Check(
        "wallet_balance",
        "wallets_wallet",
        """
        SELECT w.org_id, w.id, w.balance, COALESCE(s.total, 0), ''
          FROM wallets_wallet w
          LEFT JOIN (SELECT wallet_id, SUM(delta) AS total FROM wallets_ledgerentry
                      WHERE wallet_id >= %(lo)s AND wallet_id < %(hi)s GROUP BY wallet_id) s ON s.wallet_id = w.id
         WHERE w.id >= %(lo)s AND w.id < %(hi)s
           AND ROUND(CAST(w.balance AS NUMERIC), 2) <> ROUND(CAST(COALESCE(s.total, 0) AS NUMERIC), 2)
        """,
    ),
    _entry_check(
        "redemption_ledger",
        "wallets_redemptioncall",
        kind="REDEMPTION",
        amount="r.amount",
        where="r.amount IS NOT NULL AND r.status_code = 1 AND NOT r.replayed",
    ),
    Check(
        "redemption_rewards",
        "wallets_redemptioncall",
        """
        SELECT c.org_id, c.id, c.listed, c.consumed, 'earned rewards listed vs found consumed for the user'
          FROM (SELECT r.id, r.org_id, COUNT(*) AS listed, COUNT(er.id) AS consumed
                  FROM wallets_redemptioncall r
                 CROSS JOIN {call_codes}
                  LEFT JOIN wallets_earnedreward er
                         ON er.org_id = r.org_id AND er.code = {call_code} AND er.customer_id = r.customer_id
                        AND (er.status = 'REDEEMED' OR er.redeemed_amount > 0)
                 WHERE r.id >= %(lo)s AND r.id < %(hi)s AND r.status_code = 1 AND NOT r.replayed
                   AND (r.amount IS NOT NULL OR r.coupon_id IS NOT NULL)
                   AND NOT EXISTS (SELECT 1 FROM wallets_redemptionreversal rv WHERE rv.redemption_call_id = r.id)
                 GROUP BY r.id, r.org_id) c
         WHERE c.listed <> c.consumed
        """,
        money=False,
    ),
    _entry_check(
        "reversal_ledger",
        "wallets_redemptionreversal",
        kind="REVERSAL",
        amount="-r.amount",
        where="r.amount IS NOT NULL",
    ),
    _entry_check(
        "revocation_refund", "catalogue_rewardissuerevocation", kind="REVERSAL", amount="r.points", where="r.points > 0"
    ),
    Check(
        "issue_points",
        "catalogue_rewardissue",
        """
        SELECT ri.org_id, ri.id, -ri.points, COALESCE(e.total, 0), 'pointsReferenceId ' || ri.points_reference_id
          FROM catalogue_rewardissue ri
          LEFT JOIN (SELECT org_id, reference, SUM(delta) AS total FROM wallets_ledgerentry
                      WHERE kind = 'ISSUE' AND reference IN (
                            SELECT points_reference_id FROM catalogue_rewardissue WHERE id >= %(lo)s AND id < %(hi)s)
                      GROUP BY org_id, reference) e
                 ON e.org_id = ri.org_id AND e.reference = ri.points_reference_id
         WHERE ri.id >= %(lo)s AND ri.id < %(hi)s
           AND ROUND(CAST(COALESCE(e.total, 0) AS NUMERIC), 2) <> ROUND(CAST(-ri.points AS NUMERIC), 2)
        """,
    ),
    Check(
        "ledger_issue_unrecorded",
        "wallets_ledgerentry",
        """
        SELECT e.org_id, e.id, 'an issued reward ' || e.reference, 'none', 'ISSUE entry of wallet ' || e.wallet_id
          FROM wallets_ledgerentry e
         WHERE e.id >= %(lo)s AND e.id < %(hi)s AND e.kind = 'ISSUE'
           AND NOT EXISTS (SELECT 1 FROM catalogue_rewardissue ri
                            WHERE ri.org_id = e.org_id AND ri.points_reference_id = e.reference)
        """,
        money=False,
    ),
    Check(
        "coupon_record",
        "coupons_coupon",
        """
        SELECT c.org_id, c.id, 'a holder and a record',
               CASE WHEN c.holder_id IS NULL THEN 'no holder' ELSE 'no redemption call or issue' END,
               'coupon ' || c.code || ' of pool ' || c.pool_id || ' (' || c.status || ')'
          FROM coupons_coupon c
         WHERE c.id >= %(lo)s AND c.id < %(hi)s AND (c.status = 'ISSUED' OR c.holder_id IS NOT NULL)
           AND (c.holder_id IS NULL OR (c.issued_at >= %(calls_kept_since)s AND
                NOT EXISTS (SELECT 1 FROM wallets_redemptioncall r WHERE r.coupon_id = c.id)
                AND NOT EXISTS (SELECT 1 FROM wallets_earnedreward er WHERE er.coupon_id = c.id)
                AND NOT EXISTS (
                    SELECT 1 FROM catalogue_rewardissue ri
                      JOIN catalogue_cataloguereward cr ON cr.id = ri.reward_id
                     CROSS JOIN {issue_codes}
                     WHERE ri.org_id = c.org_id AND cr.coupon_pool_id = c.pool_id AND ri.customer_id = c.holder_id
                       AND {issue_code} = c.code)))
        """,
        money=False,
    ),
    Check(
        "earned_reward_coupon",
        "wallets_earnedreward",
        """
        SELECT er.org_id, er.id, 'coupon held by customer ' || er.customer_id || ', reward rewarded',
               CASE WHEN c.id IS NULL THEN 'no coupon'
                    ELSE 'coupon ' || c.code || ' ' || c.status || ' held by '
                         || COALESCE(CAST(c.holder_id AS TEXT), 'nobody') || ', reward ' || er.status END,
               'coupon handed out for reward ' || er.code
          FROM wallets_earnedreward er
          LEFT JOIN coupons_coupon c ON c.id = er.coupon_id
         WHERE er.id >= %(lo)s AND er.id < %(hi)s AND er.coupon_id IS NOT NULL
           AND (c.id IS NULL OR c.holder_id IS NULL OR c.holder_id <> er.customer_id OR er.status <> 'REDEEMED'
                OR c.status NOT IN ('ISSUED', 'REDEEMED', 'EXPIRED'))
        """,
        money=False,
    ),
    Check(
        "rule_usage",
        "wallets_ruleusage",
        """
        SELECT u.org_id, u.id, u.count, COALESCE(x.paid, 0), 'rule ' || u.rule_id || ', customer ' || u.customer_id
          FROM wallets_ruleusage u
          LEFT JOIN (SELECT er.rule_id, ce.customer_id, COUNT(DISTINCT er.conversion_id) AS paid
                       FROM wallets_earnedreward er
                       JOIN wallets_conversionevent ce ON ce.id = er.conversion_id
                      WHERE er.rule_id IN (SELECT rule_id FROM wallets_ruleusage WHERE id >= %(lo)s AND id < %(hi)s)
                      GROUP BY er.rule_id, ce.customer_id) x
                 ON x.rule_id = u.rule_id AND x.customer_id = u.customer_id
         WHERE u.id >= %(lo)s AND u.id < %(hi)s AND u.count <> COALESCE(x.paid, 0)
        """,
        money=False,
    ),
    Check(
        "vendor_voucher_unpaid",
        "catalogue_vendorexception",
        """
        SELECT v.org_id, v.id, 'points for voucher ' || v.voucher, 'none taken', v.reason
          FROM catalogue_vendorexception v
         WHERE v.id >= %(lo)s AND v.id < %(hi)s AND NOT v.resolved AND v.kind = 'UNPAID'
        """,
        money=False,
    ),
    Check(
        "vendor_voucher_maybe_twice",
        "catalogue_vendorexception",
        """
        SELECT v.org_id, v.id, 'one voucher for this requestId', 'a retry of a call that may have left one',
               v.reason
          FROM catalogue_vendorexception v
         WHERE v.id >= %(lo)s AND v.id < %(hi)s AND NOT v.resolved AND v.kind = 'MAYBE_TWICE'
        """,
        money=False,
    ),
    Check(
        "vendor_call_stuck",
        "catalogue_vendorcall",
        """
        SELECT v.org_id, v.id, 'settled by vendor recovery', v.state, 'stale since ' || v.stale_after
          FROM catalogue_vendorcall v
         WHERE v.id >= %(lo)s AND v.id < %(hi)s AND v.state IN ('PENDING', 'ANSWERED') AND v.stale_after < %(stuck)s
        """,
        money=False,
    ),
]

# Points at the till and revocations (Capillary points/redeem, points/reverse, reward/revoke).
CHECKS += [
    _entry_check(
        "till_redemption_ledger", "wallets_pointsredemption", kind="POINTS_REDEEM", amount="-r.points", where="1 = 1"
    ),
    _entry_check(
        "till_reversal_ledger", "wallets_pointsreversal", kind="POINTS_REVERSE", amount="r.points", where="1 = 1"
    ),
    Check(
        "till_reversed_within_redemption",
        "wallets_pointsredemption",
        """
        SELECT r.org_id, r.id, r.reversed_points, COALESCE(v.total, 0),
               'reversals of ' || r.points || ' points redeemed (redemption ' || r.reference || ')'
          FROM wallets_pointsredemption r
          LEFT JOIN (SELECT redemption_id, SUM(points) AS total FROM wallets_pointsreversal
                      WHERE redemption_id >= %(lo)s AND redemption_id < %(hi)s GROUP BY redemption_id) v
                 ON v.redemption_id = r.id
         WHERE r.id >= %(lo)s AND r.id < %(hi)s
           AND (ROUND(CAST(COALESCE(v.total, 0) AS NUMERIC), 2) <> ROUND(CAST(r.reversed_points AS NUMERIC), 2)
                OR COALESCE(v.total, 0) > r.points)
        """,
    ),
    Check(
        "revocation_refunded_once",
        "catalogue_rewardissue",
        """
        SELECT ri.org_id, ri.id, CASE WHEN ri.status = 'CANCELLED' AND ri.points > 0 THEN 1 ELSE 0 END,
               COALESCE(e.n, 0), ri.status || ' issue, refunds under revoke:' || ri.points_reference_id
          FROM catalogue_rewardissue ri
          LEFT JOIN (SELECT org_id, reference, COUNT(*) AS n FROM wallets_ledgerentry
                      WHERE kind = 'REVERSAL' AND reference LIKE 'revoke:%%' GROUP BY org_id, reference) e
                 ON e.org_id = ri.org_id AND e.reference = 'revoke:' || ri.points_reference_id
         WHERE ri.id >= %(lo)s AND ri.id < %(hi)s
           AND COALESCE(e.n, 0) <> CASE WHEN ri.status = 'CANCELLED' AND ri.points > 0 THEN 1 ELSE 0 END
        """,
        money=False,
    ),
    Check(
        "ledger_till_unrecorded",
        "wallets_ledgerentry",
        """
        SELECT e.org_id, e.id, 'a till redemption or reversal ' || e.reference, 'none', e.kind || ' of wallet '
               || e.wallet_id
          FROM wallets_ledgerentry e
         WHERE e.id >= %(lo)s AND e.id < %(hi)s AND e.kind IN ('POINTS_REDEEM', 'POINTS_REVERSE')
           AND NOT EXISTS (SELECT 1 FROM wallets_pointsredemption r WHERE r.ledger_entry_id = e.id)
           AND NOT EXISTS (SELECT 1 FROM wallets_pointsreversal v WHERE v.ledger_entry_id = e.id)
        """,
        money=False,
    ),
]

_UPSERT = """
    INSERT INTO wallets_discrepancy
           (org_id, check_name, subject, expected, found, detail, first_seen, last_seen, resolution)
    VALUES {values}
    ON CONFLICT (check_name, subject) WHERE resolved_at IS NULL
    DO UPDATE SET expected = EXCLUDED.expected, found = EXCLUDED.found, detail = EXCLUDED.detail,
                  last_seen = EXCLUDED.last_seen
    RETURNING first_seen = last_seen
"""
_RUN_LOCK = 7_346_001  # pg_advisory_xact_lock key: one run at a time


@dataclass(frozen=True)
class Finding:
    org_id: int | None
    check_name: str
    subject: str
    expected: str
    found: str
    detail: str


@dataclass(frozen=True)
class RunResult:
    run: ReconciliationRun
    open_findings: list[Discrepancy]


def _text(value, money: bool) -> str:
    if value is None:
        return ""
    if money:
        return str(Decimal(str(value)).quantize(Decimal("0.01")))
    return str(value)


def _id_bounds(cursor, table: str) -> tuple[int, int] | None:
    cursor.execute(f"SELECT MIN(id), MAX(id) FROM {table}")  # noqa: S608 - a name from CHECKS
    low, high = cursor.fetchone()
    return None if low is None else (low, high)


def after_batch() -> None:
    """A seam, called after each batch of a run: it does nothing. A test replaces it (to pause
    so that it can kill a run mid-way: ``tests/worker_hooks.py``)."""


def _scan(*, batch_size: int, now, progress: Callable[[str, int], None] | None) -> tuple[list[Finding], int, int]:
    findings: list[Finding] = []
    batches = 0
    fragments = sql.RECONCILE_FRAGMENTS.get(connection.vendor, sql.RECONCILE_FRAGMENTS["postgresql"])
    stuck = now - timedelta(minutes=15)
    # Coupons handed out before the oldest call record kept (housekeeping) have no call to match.
    kept = connection.ops.adapt_datetimefield_value(now - timedelta(days=settings.REDEMPTION_CALL_RETENTION_DAYS))
    stuck = connection.ops.adapt_datetimefield_value(stuck)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM wallets_wallet")
        wallets = cursor.fetchone()[0]
        for check in CHECKS:
            bounds = _id_bounds(cursor, check.table)
            if bounds is None:
                continue
            statement = check.sql.format(**fragments)
            for low in range(bounds[0], bounds[1] + 1, batch_size):
                cursor.execute(statement, {"lo": low, "hi": low + batch_size, "stuck": stuck, "calls_kept_since": kept})
                for org_id, subject_id, expected, found, detail in cursor.fetchall():
                    findings.append(
                        Finding(
                            org_id=org_id,
                            check_name=check.name,
                            subject=f"{check.table}:{subject_id}",
                            expected=_text(expected, check.money)[:255],
                            found=_text(found, check.money)[:255],
                            detail=detail or "",
                        )
                    )
                batches += 1
                if progress:
                    progress(check.name, batches)
                after_batch()
    return findings, batches, wallets


def _record(findings: list[Finding], *, now) -> int:
    """Upsert the findings (one row per open finding); returns how many are new."""
    new = 0
    adapted = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        for start in range(0, len(findings), 500):
            chunk = findings[start : start + 500]
            params = []
            for f in chunk:
                params += [f.org_id, f.check_name, f.subject, f.expected, f.found, f.detail, adapted, adapted, ""]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
            cursor.execute(_UPSERT.format(values=values), params)
            new += sum(1 for (fresh,) in cursor.fetchall() if fresh)
    return new


def reconciliation_run(*, batch_size: int | None = None, progress=None) -> RunResult:
    """Run every check now (see the module docstring); returns the run and the open findings."""
    batch_size = batch_size or settings.RECONCILE_BATCH_SIZE
    postgres, outermost = connection.vendor == "postgresql", not connection.in_atomic_block
    if postgres and outermost:
        # One run at a time, waited for *before* the snapshot is taken (a snapshot older than the
        # other run's findings could not update them). Session-level: a killed process releases it.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_RUN_LOCK])
        try:
            return _run(batch_size=batch_size, progress=progress, repeatable_read=True)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_RUN_LOCK])
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RUN_LOCK])
    return _run(batch_size=batch_size, progress=progress, repeatable_read=False)


def _run(*, batch_size: int, progress, repeatable_read: bool) -> RunResult:
    started = timezone.now()
    with transaction.atomic():
        if repeatable_read:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        findings, batches, wallets = _scan(batch_size=batch_size, now=started, progress=progress)
        now = timezone.now()
        new = _record(findings, now=now)
        resolved = Discrepancy.objects.filter(resolved_at__isnull=True, last_seen__lt=now).update(
            resolved_at=now, resolution="no longer found by the reconciliation"
        )
        open_findings = list(Discrepancy.objects.filter(resolved_at__isnull=True).order_by("check_name", "subject"))
        run = ReconciliationRun.objects.create(
            started_at=started,
            finished_at=timezone.now(),
            wallets_checked=wallets,
            findings=len(open_findings),
            new_findings=new,
            resolved=resolved,
            batches=batches,
        )
    return RunResult(run=run, open_findings=open_findings)


def reconciliation_request() -> bool:
    """Queue a reconciliation now (admin button); False when the broker cannot take it."""
    return task_send("wallets.reconcile")  # wallets/tasks.py, which imports this module


def discrepancies_resolve(*, pks: list[int], note: str) -> int:
    """Staff: close findings they settled (through the adjustment or reversal services)."""
    return Discrepancy.objects.filter(pk__in=pks, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolution=f"marked resolved {note}"[:255]
    )
