"""Writes to coupon pools."""

import contextlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

from core.errors import OperationRefused
from core.transactions import joined_transaction
from coupons.errors import PoolExhausted
from events.outbox import event_emit
from orgs.models import EventKind

from . import sql
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
        # Every NOT NULL column without a database default is named (redeemed_transaction_number: "").
        statement = (
            "COPY coupons_coupon (org_id, pool_id, code, status, expires_at, redeemed_transaction_number) FROM STDIN"
        )
        with cursor.copy(statement) as copy:
            for done, code in enumerate(codes, 1):
                copy.write_row((pool.org_id, pool.pk, code, status, expires_at, ""))
                if progress and done % _BATCH == 0:
                    progress(_BATCH)
    if progress and len(codes) % _BATCH:
        progress(len(codes) % _BATCH)


@joined_transaction()
def coupons_disburse(*, pool_id: int, org_id: int, holder_id: int, count: int = 1) -> list[Coupon]:
    """Hand ``count`` available, unexpired coupons of a pool to a customer, all or none.

    Concurrent callers never get the same coupon and never wait for each other
    (``FOR UPDATE SKIP LOCKED``): a pool of N coupons serves exactly N units.
    Raises ``PoolExhausted`` when fewer than ``count`` are free, having written
    nothing (the statement updates only when it picked all ``count``).
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
        cursor.execute(sql.DISBURSE[connection.vendor], params)
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


# --- scheduled: expiry and stock levels ----------------------------------------------------------


def coupons_expire(*, now: datetime | None = None, batch: int = 10_000) -> int:
    """Mark coupons past their expiry EXPIRED (available ones, and handed-out ones, which keep
    their holder); one short transaction per batch. Returns how many."""
    params = {"now": connection.ops.adapt_datetimefield_value(now or timezone.now()), "batch": batch}
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql.EXPIRE[connection.vendor], params)
            done = cursor.rowcount
        total += done
        if done < batch:
            return total


def pools_check_stock(*, now: datetime | None = None) -> list[int]:
    """Send a ``low_stock`` event for each pool that went below its ``low_stock_threshold``
    since the last check: once per crossing (``low_stock_since``), again only after the pool
    was refilled to its level. Returns the pools alerted now."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(sql.STOCK, {"now": connection.ops.adapt_datetimefield_value(now)})
        pools = cursor.fetchall()
    alerted = []
    for pool_id, org_id, name, threshold, since, available in pools:
        low = available < threshold
        if low and since is None:
            with transaction.atomic():
                if CouponPool.objects.filter(pk=pool_id, low_stock_since__isnull=True).update(low_stock_since=now):
                    payload = {"poolId": pool_id, "name": name, "available": available, "threshold": threshold}
                    event_emit(org_id=org_id, kind=EventKind.LOW_STOCK, payload=payload)
                    alerted.append(pool_id)
        elif not low and since is not None:
            CouponPool.objects.filter(pk=pool_id).update(low_stock_since=None)
    return alerted


# --- Back office: stock of a pool (upload, generate, void) --------------------------------------

CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
LISTED_PROBLEMS = 100  # lines named in a report, per kind of problem; all are counted


@dataclass
class ImportReport:
    """What an upload did: every line is either added, a duplicate, malformed or blank."""

    lines: int = 0
    added: int = 0
    blank: int = 0
    duplicates_in_file: int = 0
    duplicates_existing: int = 0
    malformed: int = 0
    # (line number, code or text, why), the first LISTED_PROBLEMS of each kind
    duplicate_lines: list[tuple[int, str, str]] = field(default_factory=list)
    malformed_lines: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return self.duplicates_in_file + self.duplicates_existing + self.malformed

    def summary(self) -> str:
        return (
            f"{self.lines} lines: {self.added} codes added, {self.duplicates_in_file} duplicates within the file, "
            f"{self.duplicates_existing} already in the pool, {self.malformed} malformed, {self.blank} blank"
        )


def _parse_line(raw: bytes | str, number: int) -> tuple[str | None, str | None]:
    """(code, None) for a good line, (None, why) for a malformed one, (None, None) for a blank one."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            return None, "not UTF-8 text"
    text = raw.strip().strip("\ufeff")
    if not text:
        return None, None
    fields = [part.strip().strip('"') for part in text.split(",")]
    if any(fields[1:]):
        return None, "more than one column (expected one code per line)"
    code = fields[0]
    if not CODE_PATTERN.fullmatch(code):
        why = "longer than 64 characters" if len(code) > 64 else "not a code (letters, digits, '.', '_', '-')"
        return None, why
    return code, None


def coupons_import(
    *,
    pool_id: int,
    lines: Iterable[bytes | str],
    expires_at: datetime | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Add the codes of a CSV upload (one code per line, an optional ``code`` header) to a pool.

    Nothing is dropped silently: lines that repeat an earlier line, codes already in the pool and
    malformed lines are counted and the first ``LISTED_PROBLEMS`` of each are named with their line
    numbers. The good codes are added in one transaction; on PostgreSQL through COPY into a
    temporary table and one INSERT ... SELECT (1,000,000 lines in seconds). ``progress(n)`` is
    told every 10,000 lines read.
    """
    report = ImportReport()
    seen: set[str] = set()
    with transaction.atomic():
        pool = CouponPool.objects.select_for_update().filter(pk=pool_id).first()
        if pool is None:
            raise OperationRefused(f"no coupon pool {pool_id}")
        good = _ImportSink.open(pool=pool)
        try:
            _read_lines(lines, report=report, seen=seen, good=good, progress=progress)
        except BaseException:
            good.abort()
            raise
        existing, report.added = good.finish(expires_at=expires_at)
        report.duplicates_existing = len(existing)
        for number, code in existing[: max(0, LISTED_PROBLEMS - len(report.duplicate_lines))]:
            report.duplicate_lines.append((number, code, "already in the pool"))
        report.duplicate_lines.sort()
    return report


def _read_lines(lines, *, report: ImportReport, seen: set[str], good: "_ImportSink", progress) -> None:
    for number, raw in enumerate(lines, 1):
        report.lines = number
        if progress and number % _BATCH == 0:
            progress(_BATCH)
        code, why = _parse_line(raw, number)
        if code is None:
            if why is None:
                report.blank += 1
            else:
                report.malformed += 1
                if len(report.malformed_lines) < LISTED_PROBLEMS:
                    shown = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
                    report.malformed_lines.append((number, shown.strip()[:80], why))
            continue
        if number == 1 and code.lower() == "code":
            report.blank += 1  # the header
            continue
        if code in seen:
            report.duplicates_in_file += 1
            if len(report.duplicate_lines) < LISTED_PROBLEMS:
                report.duplicate_lines.append((number, code, "repeats an earlier line of the file"))
            continue
        seen.add(code)
        good.add(number, code)
    if progress and report.lines % _BATCH:
        progress(report.lines % _BATCH)


class _ImportSink:
    """Where the good lines of an upload go before they become coupons."""

    @staticmethod
    def open(*, pool: CouponPool) -> "_ImportSink":
        return _CopySink(pool) if connection.vendor == "postgresql" else _ListSink(pool)

    def abort(self) -> None:
        pass


class _CopySink(_ImportSink):
    def __init__(self, pool: CouponPool):
        self.pool = pool
        self.cursor = connection.cursor()
        self.cursor.execute("CREATE TEMPORARY TABLE coupon_upload (line_no integer, code text) ON COMMIT DROP")
        self._copy_cm = self.cursor.copy("COPY coupon_upload (line_no, code) FROM STDIN")
        self.copy = self._copy_cm.__enter__()

    def add(self, number: int, code: str) -> None:
        self.copy.write_row((number, code))

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the transaction is rolled back anyway
            self._copy_cm.__exit__(RuntimeError, RuntimeError("upload aborted"), None)

    def finish(self, *, expires_at) -> tuple[list[tuple[int, str]], int]:
        self._copy_cm.__exit__(None, None, None)
        params = {"org": self.pool.org_id, "pool": self.pool.pk, "expires": expires_at}
        in_pool = (
            "EXISTS (SELECT 1 FROM coupons_coupon c WHERE c.org_id = %(org)s AND c.pool_id = %(pool)s "
            "AND c.code = u.code)"
        )
        with self.cursor as cursor:
            cursor.execute(f"SELECT line_no, code FROM coupon_upload u WHERE {in_pool} ORDER BY line_no", params)
            existing = cursor.fetchall()
            cursor.execute(
                "INSERT INTO coupons_coupon (org_id, pool_id, code, status, expires_at, redeemed_transaction_number) "
                f"SELECT %(org)s, %(pool)s, code, 'AVAILABLE', %(expires)s, '' "
                f"FROM coupon_upload u WHERE NOT {in_pool} "
                "ORDER BY line_no ON CONFLICT (org_id, pool_id, code) DO NOTHING",
                params,
            )
            added = cursor.rowcount
            if added >= COPY_THRESHOLD:
                cursor.execute("ANALYZE coupons_coupon")
        return existing, added


class _ListSink(_ImportSink):
    def __init__(self, pool: CouponPool):
        self.pool = pool
        self.rows: list[tuple[int, str]] = []

    def add(self, number: int, code: str) -> None:
        self.rows.append((number, code))

    def finish(self, *, expires_at) -> tuple[list[tuple[int, str]], int]:
        taken: set[str] = set()
        for start in range(0, len(self.rows), 500):
            chunk = [code for _, code in self.rows[start : start + 500]]
            taken.update(Coupon.objects.filter(pool=self.pool, code__in=chunk).values_list("code", flat=True))
        existing = [(number, code) for number, code in self.rows if code in taken]
        fresh = [code for _, code in self.rows if code not in taken]
        coupons_bulk_add(pool=self.pool, codes=fresh, expires_at=expires_at)
        return existing, len(fresh)


def coupons_generate(*, pool_id: int, count: int, prefix: str = "", length: int = 10) -> int:
    """Add ``count`` new random codes to a pool (none equal to a code it has); returns how many."""
    if not 1 <= count <= 1_000_000:
        raise OperationRefused("generate between 1 and 1,000,000 codes at a time")
    if not 6 <= length <= 32 or (prefix and not CODE_PATTERN.fullmatch(prefix)) or len(prefix) + length > 64:
        raise OperationRefused("a code is an optional prefix (letters, digits) and 6 to 32 random characters")
    with transaction.atomic():
        pool = CouponPool.objects.select_for_update().filter(pk=pool_id).first()
        if pool is None:
            raise OperationRefused(f"no coupon pool {pool_id}")
        added = 0
        while added < count:  # random codes may (very rarely) meet existing ones: top up
            codes = coupon_codes_generate(count=count - added, prefix=prefix, length=length)
            report = coupons_import(pool_id=pool.pk, lines=codes)
            added += report.added
        return added


def coupons_void(*, coupon_ids: Iterable[int]) -> tuple[int, int]:
    """Staff: void the AVAILABLE (or EXPIRED) coupons among ``coupon_ids``; issued ones are left
    alone (reverse the redemption or revoke the issue instead, which use ``coupons_void_issued``).
    Returns (voided, left alone)."""
    ids = list(coupon_ids)
    voided = Coupon.objects.filter(pk__in=ids, status__in=[Coupon.Status.AVAILABLE, Coupon.Status.EXPIRED]).update(
        status=Coupon.Status.VOID
    )
    return voided, len(ids) - voided


def coupons_void_issued(
    *, org_id: int, holder_id: int, coupon_ids: Iterable[int] = (), pool_id: int | None = None, codes=()
) -> int:
    """Void coupons handed out to ``holder_id`` (ISSUED -> VOID), by id or by code within a pool: a
    reversed redemption or a revoked issue takes its coupons back. One conditional UPDATE, so a
    coupon is voided once however many reversals race; returns how many were voided."""
    issued = Coupon.objects.filter(org_id=org_id, holder_id=holder_id, status=Coupon.Status.ISSUED)
    if pool_id is not None:
        issued = issued.filter(pool_id=pool_id, code__in=list(codes))
    else:
        issued = issued.filter(pk__in=list(coupon_ids))
    return issued.update(status=Coupon.Status.VOID)
