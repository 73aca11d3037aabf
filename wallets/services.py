"""Writes to wallets: the only place a balance changes, one ledger entry per change (and the
staff's manual adjustments, which go through the same posting)."""

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from core.errors import OperationRefused, staff_reason
from core.money import ZERO, to_money
from core.transactions import joined_transaction
from events.outbox import event_emit
from orgs.models import Customer, CustomerGroup, EventKind

from . import sql
from .errors import InsufficientBalance
from .models import LedgerEntry, Wallet, WalletAdjustment


def wallet_get_or_create(*, kind: str, customer: Customer | None = None, group: CustomerGroup | None = None) -> Wallet:
    owner = customer or group
    wallet, _ = Wallet.objects.get_or_create(org_id=owner.org_id, kind=kind, customer=customer, group=group)
    return wallet


def _money_delta(delta) -> Decimal:
    delta = to_money(delta)
    if not delta:
        raise ValueError("a ledger entry must move a non-zero amount")
    return delta


def _apply_delta(target: str, params: dict) -> tuple[int, Decimal] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql.APPLY_DELTA[connection.vendor].format(target=target), params)
        row = cursor.fetchone()
    if row is None:
        return None
    return row[0], Decimal(str(row[1])).quantize(Decimal("0.01"))


def _entry(*, wallet_id: int, org_id: int, delta: Decimal, balance_after: Decimal, **fields) -> LedgerEntry:
    return LedgerEntry.objects.create(
        org_id=org_id, wallet_id=wallet_id, delta=delta, balance_after=balance_after, **fields
    )


@joined_transaction()
def wallet_post(*, wallet: Wallet, delta: Decimal, kind: str, reference: str = "", memo: str = "") -> LedgerEntry:
    """Change ``wallet``'s balance by ``delta`` and record the ledger entry, atomically.

    The balance update takes the wallet's row lock and refuses to go below zero
    in the same statement (the CHECK constraint is the backstop). Raises
    ``InsufficientBalance`` for a debit the wallet cannot cover, having written
    nothing: the caller's transaction stays usable (no savepoint needed).
    """
    delta = _money_delta(delta)
    applied = _apply_delta(sql.BY_ID, {"delta": delta, "wallet": wallet.pk, "org": wallet.org_id})
    if applied is None:
        raise InsufficientBalance(wallet_id=wallet.pk, delta=delta)
    wallet.balance = applied[1]
    return _entry(
        wallet_id=wallet.pk,
        org_id=wallet.org_id,
        delta=delta,
        balance_after=applied[1],
        kind=kind,
        reference=reference,
        memo=memo,
    )


@dataclass(frozen=True)
class Posting:
    """One ledger entry of ``wallet_post_many``."""

    delta: Decimal
    kind: str
    reference: str = ""
    memo: str = ""


@joined_transaction()
def wallet_post_many(*, wallet: Wallet, postings: list[Posting], require: Decimal | None = None) -> list[LedgerEntry]:
    """Several entries on one wallet, all or none: one ledger entry per posting, in order.

    The deltas must all have the same sign, so no running balance dips below the final one.
    On PostgreSQL this is one statement (one balance update, one row lock); it raises
    ``InsufficientBalance`` for debits the wallet cannot cover, having written nothing.
    ``require``: refuse the same way unless the balance is at least this much before the
    postings (a check of more than is taken, made under the same lock, in the same statement).
    """
    deltas = [_money_delta(posting.delta) for posting in postings]
    if len({delta > 0 for delta in deltas}) > 1:
        raise ValueError("wallet_post_many takes credits or debits, not both")
    total = sum(deltas, ZERO)
    # the update refuses unless balance + floor >= 0: the debit itself, or more when required
    floor = total if require is None else min(total, -to_money(require))
    if connection.vendor != "postgresql":
        if require is not None:
            balance = Wallet.objects.filter(pk=wallet.pk).values_list("balance", flat=True).first()
            if balance is None or balance + floor < 0:
                raise InsufficientBalance(wallet_id=wallet.pk, delta=total)
        with transaction.atomic():  # SQLite's per-row triggers want one update per entry
            return [
                wallet_post(wallet=wallet, delta=d, kind=p.kind, reference=p.reference, memo=p.memo)
                for d, p in zip(deltas, postings, strict=True)
            ]
    rows, params, later = [], [], total
    for order, (delta, posting) in enumerate(zip(deltas, postings, strict=True)):
        later -= delta
        rows.append("(%s::int, %s::numeric, %s::numeric, %s::varchar, %s::varchar, %s::varchar)")
        params += [order, delta, later, posting.kind, posting.reference, posting.memo]
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            sql.POST_MANY.format(rows=", ".join(rows)),
            [total, wallet.pk, wallet.org_id, floor, now, *params],
        )
        written = sorted(cursor.fetchall())  # ids follow the postings' order
    if not written:
        raise InsufficientBalance(wallet_id=wallet.pk, delta=total)
    wallet.balance = written[-1][1]
    return [
        LedgerEntry(
            id=pk,
            org_id=wallet.org_id,
            wallet_id=wallet.pk,
            delta=delta,
            balance_after=after,
            kind=posting.kind,
            reference=posting.reference,
            memo=posting.memo,
            created_at=now,
        )  # fmt: skip
        for (pk, after), delta, posting in zip(written, deltas, postings, strict=True)
    ]


@joined_transaction()
def wallet_credit_customer(
    *, customer: Customer, kind: str, amount: Decimal, entry_kind: str, reference: str = "", memo: str = ""
) -> LedgerEntry:
    """Credit the customer's wallet of ``kind``, opening it on first use.

    One statement when the wallet exists (no read of the wallet first).
    """
    amount = _money_delta(amount)
    if amount < 0:
        raise ValueError("a credit must be positive")
    params = {"delta": amount, "org": customer.org_id, "kind": kind, "customer": customer.pk}
    applied = _apply_delta(sql.BY_CUSTOMER, params)
    if applied is None:
        wallet = wallet_get_or_create(kind=kind, customer=customer)
        return wallet_post(wallet=wallet, delta=amount, kind=entry_kind, reference=reference, memo=memo)
    return _entry(
        wallet_id=applied[0],
        org_id=customer.org_id,
        delta=amount,
        balance_after=applied[1],
        kind=entry_kind,
        reference=reference,
        memo=memo,
    )


# --- Back office: manual adjustments by staff --------------------------------------------------


def wallet_adjust(*, wallet_id: int, delta: Decimal, reason: str, staff_user) -> WalletAdjustment:
    """Credit (``delta > 0``) or debit (``delta < 0``) a wallet by hand: one ledger entry
    (ADJUSTMENT) and its ``WalletAdjustment`` record, in one transaction.

    A debit the wallet cannot cover is refused (``OperationRefused``), as is a zero
    amount or a missing reason; nothing is written then.
    """
    reason = staff_reason(reason)
    try:
        delta = to_money(delta)
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise OperationRefused(f"not an amount: {delta!r}") from exc
    if not delta:
        raise OperationRefused("the amount must not be zero")
    with transaction.atomic():
        wallet = Wallet.objects.filter(pk=wallet_id).first()
        if wallet is None:
            raise OperationRefused(f"no wallet {wallet_id}")
        try:
            entry = wallet_post(
                wallet=wallet,
                delta=delta,
                kind=LedgerEntry.Kind.ADJUSTMENT,
                reference=f"adjustment:{staff_user.get_username()}"[:64],
                memo=reason[:255],
            )
        except InsufficientBalance as exc:
            raise OperationRefused(
                f"the wallet holds {wallet.balance} (at most that can be debited), not {-delta}"
            ) from exc
        adjustment = WalletAdjustment.objects.create(
            org_id=wallet.org_id,
            wallet=wallet,
            delta=delta,
            reason=reason,
            staff_user=staff_user,
            staff_username=staff_user.get_username(),
            ledger_entry=entry,
        )
        payload = {
            "adjustmentId": adjustment.pk,
            "wallet": {"id": wallet.pk, "kind": wallet.kind, "balance": wallet.balance},
            "customerId": wallet.customer_id,
            "groupId": wallet.group_id,
            "delta": delta,
            "ledgerEntry": entry.pk,
            "reason": reason,
            "staff": staff_user.get_username(),
        }
        event_emit(org_id=wallet.org_id, kind=EventKind.ADJUSTMENT, payload=payload)
        return adjustment
