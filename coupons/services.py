"""Writes to coupon pools."""

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import connection

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
