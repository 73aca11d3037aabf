"""Writes to wallets. The only place a balance changes: one ledger entry per change."""

from decimal import Decimal

from django.db import connection, transaction

from orgs.errors import InsufficientBalance
from orgs.models import Customer, CustomerGroup
from orgs.money import to_money

from .models import LedgerEntry, Wallet

_APPLY_DELTA = {
    "postgresql": (
        "UPDATE wallets_wallet SET balance = balance + %s WHERE id = %s AND org_id = %s AND balance + %s >= 0 "
        "RETURNING balance"
    ),
    # SQLite keeps numeric values as binary floats: round back to cents at every step.
    "sqlite": (
        "UPDATE wallets_wallet SET balance = ROUND(balance + %s, 2) "
        "WHERE id = %s AND org_id = %s AND ROUND(balance + %s, 2) >= 0 RETURNING balance"
    ),
}


def wallet_get_or_create(*, kind: str, customer: Customer | None = None, group: CustomerGroup | None = None) -> Wallet:
    owner = customer or group
    wallet, _ = Wallet.objects.get_or_create(org_id=owner.org_id, kind=kind, customer=customer, group=group)
    return wallet


@transaction.atomic
def wallet_post(*, wallet: Wallet, delta: Decimal, kind: str, reference: str = "", memo: str = "") -> LedgerEntry:
    """Change ``wallet``'s balance by ``delta`` and record the ledger entry, atomically.

    The balance update takes the wallet's row lock and refuses to go below zero
    in the same statement (the CHECK constraint is the backstop). Raises
    ``InsufficientBalance`` for a debit the wallet cannot cover.
    """
    delta = to_money(delta)
    if not delta:
        raise ValueError("a ledger entry must move a non-zero amount")
    with connection.cursor() as cursor:
        cursor.execute(_APPLY_DELTA[connection.vendor], [delta, wallet.pk, wallet.org_id, delta])
        row = cursor.fetchone()
    if row is None:
        raise InsufficientBalance(wallet_id=wallet.pk, delta=delta)
    balance_after = to_money(Decimal(str(row[0])).quantize(Decimal("0.01")))
    wallet.balance = balance_after
    return LedgerEntry.objects.create(
        org_id=wallet.org_id,
        wallet=wallet,
        delta=delta,
        balance_after=balance_after,
        kind=kind,
        reference=reference,
        memo=memo,
    )
