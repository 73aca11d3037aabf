"""Writes to coupon pools."""

import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

from orgs.errors import PoolExhausted

from .models import Coupon, CouponPool

# Crockford's base32: no I, L, O, U, so codes survive being read aloud or retyped.
CODE_ALPHABET = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BYTE_TO_CODE_CHAR = bytes(CODE_ALPHABET[b % 32] for b in range(256))
COPY_THRESHOLD = 5_000
_BATCH = 10_000

Progress = Callable[[int], None]


class CodeSpaceTooSmall(ValueError):
    pass


def coupon_codes_generate(*, count: int, prefix: str = "", length: int = 10, exclude: Iterable[str] = ()) -> list[str]:
    """``count`` distinct random codes ``prefix + length chars``, none of them in ``exclude``.

    Uses the OS's CSPRNG; 32 ** length possible codes. Refuses a request that
    would fill more than half the code space (duplicates would make it crawl).
    """
    if count > 32**length // 2:
        raise CodeSpaceTooSmall(f"{count} codes of {length} characters would fill more than half the code space")
    taken = set(exclude)
    codes: list[str] = []
    while len(codes) < count:
        missing = count - len(codes)
        chars = secrets.token_bytes(missing * length).translate(_BYTE_TO_CODE_CHAR).decode("ascii")
        for start in range(0, missing * length, length):
            code = prefix + chars[start : start + length]
            if code not in taken:
                taken.add(code)
                codes.append(code)
    return codes


def coupons_bulk_add(
    *, pool: CouponPool, codes: list[str], expires_at: datetime | None = None, progress: Progress | None = None
) -> int:
    """Insert ``codes`` as AVAILABLE coupons of ``pool``; returns how many.

    Codes must be unique within the pool (the unique constraint refuses the
    whole batch otherwise). On PostgreSQL large batches go through COPY; a
    ``progress(n)`` callback is told every 10,000 rows. Call inside a transaction.
    """
    if connection.vendor == "postgresql" and len(codes) >= COPY_THRESHOLD:
        _copy_coupons(pool=pool, codes=codes, expires_at=expires_at, progress=progress)
    else:
        for start in range(0, len(codes), _BATCH):
            chunk = codes[start : start + _BATCH]
            Coupon.objects.bulk_create(
                Coupon(org_id=pool.org_id, pool=pool, code=code, expires_at=expires_at) for code in chunk
            )
            if progress:
                progress(len(chunk))
    if connection.vendor == "postgresql" and len(codes) >= COPY_THRESHOLD:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE coupons_coupon")
    return len(codes)


def _copy_coupons(*, pool: CouponPool, codes: list[str], expires_at: datetime | None, progress: Progress | None):
    status = Coupon.Status.AVAILABLE.value
    with connection.cursor() as cursor:
        statement = "COPY coupons_coupon (org_id, pool_id, code, status, expires_at) FROM STDIN"
        with cursor.copy(statement) as copy:
            for done, code in enumerate(codes, 1):
                copy.write_row((pool.org_id, pool.pk, code, status, expires_at))
                if progress and done % _BATCH == 0:
                    progress(_BATCH)
    if progress and len(codes) % _BATCH:
        progress(len(codes) % _BATCH)


# One statement takes the next available, unexpired coupons of a pool, skipping the rows other
# transactions hold, and hands them out: one round trip instead of SELECT ... FOR UPDATE + UPDATE.
# The partial index coupon_available (pool_id, id) WHERE status = 'AVAILABLE' serves the inner select.
_DISBURSE = {
    "postgresql": """
        WITH picked AS (
            SELECT id FROM coupons_coupon
             WHERE pool_id = %(pool)s AND org_id = %(org)s AND status = 'AVAILABLE'
               AND (expires_at IS NULL OR expires_at > %(now)s)
             ORDER BY id LIMIT %(count)s
             FOR UPDATE SKIP LOCKED
        )
        UPDATE coupons_coupon AS c SET status = 'ISSUED', holder_id = %(holder)s, issued_at = %(now)s
          FROM picked WHERE c.id = picked.id
        RETURNING c.id, c.code, c.expires_at
    """,
    # SQLite has one writer at a time (BEGIN IMMEDIATE): no row locks to skip.
    "sqlite": """
        UPDATE coupons_coupon SET status = 'ISSUED', holder_id = %(holder)s, issued_at = %(now)s
         WHERE id IN (
            SELECT id FROM coupons_coupon
             WHERE pool_id = %(pool)s AND org_id = %(org)s AND status = 'AVAILABLE'
               AND (expires_at IS NULL OR expires_at > %(now)s)
             ORDER BY id LIMIT %(count)s)
        RETURNING id, code, expires_at
    """,
}


@transaction.atomic
def coupons_disburse(*, pool_id: int, org_id: int, holder_id: int, count: int = 1) -> list[Coupon]:
    """Hand ``count`` available, unexpired coupons of a pool to a customer, all or none.

    Concurrent callers never get the same coupon and never wait for each other
    (``FOR UPDATE SKIP LOCKED``): a pool of N coupons serves exactly N units.
    Raises ``PoolExhausted`` (and takes nothing) when fewer than ``count`` are free.
    """
    now = timezone.now()
    params = {
        "pool": pool_id,
        "org": org_id,
        "count": count,
        "holder": holder_id,
        "now": connection.ops.adapt_datetimefield_value(now),
    }
    with connection.cursor() as cursor:
        cursor.execute(_DISBURSE[connection.vendor], params)
        rows = cursor.fetchall()
    if len(rows) < count:
        raise PoolExhausted(pool_id=pool_id, wanted=count, available=len(rows))
    return [
        Coupon(
            id=pk,
            org_id=org_id,
            pool_id=pool_id,
            code=code,
            status=Coupon.Status.ISSUED,
            expires_at=_aware(expires_at),
            holder_id=holder_id,
            issued_at=now,
        )
        for pk, code, expires_at in sorted(rows)
    ]


def _aware(moment):
    """SQLite's raw cursor returns times as naive UTC text; PostgreSQL's as aware datetimes."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime.fromisoformat(moment)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)
