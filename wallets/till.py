"""Points at a till: redemption (Capillary ``POST /v1.1/points/redeem``) and its reversals
(``POST /v2/points/reverse``). Each is one short transaction:

* **redeem**: the wallet debit (one ``UPDATE ... WHERE balance - points >= 0``, which takes the
  wallet's row lock, checks and applies), its POINTS_REDEEM ledger entry, then the
  ``PointsRedemption`` row ``INSERT ... ON CONFLICT DO NOTHING`` on (org, customer,
  transaction_number). A conflict means the number was used: the transaction is rolled back
  (nothing debited) and the first redemption answers (or ``TransactionNumberReused``). A copy
  arriving while the first is uncommitted waits on the unique index, then sees it. Its outbox
  event (``redemption``, ``"of": "points"``) is written in the same statement on PostgreSQL.
  ``points_redeem_by_ref`` does the common case (the customer's own wallet, named by an
  identifier) in one statement with the customer's lookup; anything else takes the general path.
* **reverse**: one conditional ``UPDATE`` of the redemption row (``reversed_points + p <=
  points``) locks, checks and applies; then the credit, its POINTS_REVERSE entry and its outbox
  event (``reversal``, ``"of": "points_redemption"``). Lock order: redemption, then wallet.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.money import MONEY_PLACES
from core.numbers import NumberInvalid, money_parse
from core.statements import statement_rows
from events.outbox import customer_ref, event_emit, event_row, events_written
from orgs.models import Customer, EventKind
from orgs.selectors import customer_lookup_key

from . import sql
from .errors import (
    CustomerUnknown,
    InsufficientBalance,
    PointsInvalid,
    PointsNotAvailable,
    RedemptionUnknown,
    ReversalTooLarge,
    TransactionNumberReused,
)
from .models import LedgerEntry, PointsRedemption, PointsReversal, Wallet
from .owners import GroupRef, customer_for_issue, group_for_issue
from .services import wallet_post

_REFERENCE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_POINTS = Decimal("999999999999.99")


@dataclass(frozen=True)
class CustomerRef:
    """How a till names a customer: the first of mobile, email, external id (or our id) given."""

    mobile: str | None = None
    email: str | None = None
    external_id: str | None = None
    customer_id: int | None = None


@dataclass(frozen=True)
class PointsPayer:
    """The customer and the points wallet that pays: the customer's own, or the group's."""

    org_id: int
    customer: Customer
    group_id: int | None
    wallet_id: int | None
    balance: Decimal
    points_currency_ratio: Decimal


@dataclass(frozen=True)
class PointsRedeemIn:
    payer: PointsPayer
    points: Decimal
    transaction_number: str | None
    till_username: str
    notes: str = ""
    redemption_time: str = ""


@dataclass(frozen=True)
class PointsRedeemed:
    redemption: PointsRedemption
    replayed: bool
    payer: PointsPayer | None = None  # who paid, when the service looked the payer up itself


@dataclass(frozen=True)
class PointsReversed:
    redemption: PointsRedemption
    points: Decimal
    balance: Decimal


def points_parse(value) -> Decimal:
    """Points as a till sends them (a decimal string or a JSON number): positive, two places at most
    (``core.numbers.money_parse``)."""
    try:
        points = money_parse(value)
    except NumberInvalid as exc:
        raise PointsInvalid(f"points must be a positive number with two decimals at most: {exc}") from exc
    if points <= 0 or points > MAX_POINTS:
        raise PointsInvalid("points must be greater than zero and below a trillion")
    return points


def redeem_value(*, points: Decimal, ratio: Decimal) -> Decimal:
    return (points * ratio).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)


def points_payer_find(*, org_id: int, customer: CustomerRef, group: GroupRef | None = None) -> PointsPayer:
    """The customer of ``org_id`` and the wallet that pays; ``CustomerUnknown`` if there is none."""
    found = customer_for_issue(
        org_id=org_id,
        mobile=customer.mobile,
        email=customer.email,
        external_id=customer.external_id,
        customer_id=customer.customer_id,
    )
    if found is None:
        raise CustomerUnknown(f"customer not found in org {org_id}")
    if group is None or not group.given:
        return PointsPayer(
            org_id, found, None, found.wallet_id, found.wallet_balance or Decimal("0.00"), found.points_currency_ratio
        )
    loyalty = group_for_issue(
        org_id=org_id,
        customer_id=found.pk,
        group_id=group.group_id,
        external_id=group.external_id,
        primary_user_id=group.primary_user_id,
    )
    if loyalty is None or not loyalty.is_member:
        raise CustomerUnknown(f"the customer is not a member of that loyalty group in org {org_id}")
    balance = loyalty.wallet_balance if loyalty.wallet_balance is not None else Decimal("0.00")
    return PointsPayer(org_id, found, loyalty.pk, loyalty.wallet_id, balance, found.points_currency_ratio)


def points_redeemable(*, payer: PointsPayer, points: Decimal) -> Decimal:
    """What ``points`` are worth at the till, or ``PointsNotAvailable``. Writes nothing."""
    if points > payer.balance:
        raise PointsNotAvailable(f"{points} points asked, {payer.balance} available")
    return redeem_value(points=points, ratio=payer.points_currency_ratio)


def _reference() -> str:
    return "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(12))


_INSERT_REDEMPTION = f"""
    {sql.INSERT_POINTS_REDEMPTION}
    VALUES (%s, %s, %s, %s, %s, %s, 0, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (org_id, customer_id, transaction_number) DO NOTHING
    RETURNING id
"""


class _NumberUsed(Exception):
    """The transaction number is taken: roll back this attempt's debit."""


def points_redeem(*, call: PointsRedeemIn) -> PointsRedeemed:
    """Take ``call.points`` from the payer's wallet (see the module). Raises
    ``PointsNotAvailable`` / ``TransactionNumberReused``, having written nothing."""
    payer = call.payer
    try:
        with transaction.atomic():
            return PointsRedeemed(redemption=_redeem(call), replayed=False)
    except (_NumberUsed, PointsNotAvailable) as exc:
        first = _redemption_by_number(payer=payer, number=call.transaction_number)
        if first is None:
            if isinstance(exc, PointsNotAvailable):
                raise
            raise TransactionNumberReused("transaction number in use by a concurrent call") from exc
        if first.points != call.points:
            raise TransactionNumberReused(
                f"transaction number {call.transaction_number!r} was used for {first.points} points"
            ) from exc
        return PointsRedeemed(redemption=first, replayed=True)


def _redemption_by_number(*, payer: PointsPayer, number: str | None) -> PointsRedemption | None:
    if number is None:
        return None
    return PointsRedemption.objects.filter(
        org_id=payer.org_id, customer_id=payer.customer.pk, transaction_number=number
    ).first()


# PostgreSQL: the debit (it locks, checks and applies), its ledger entry, the redemption and its
# outbox event in one statement. No row from ``moved``: too few points, nothing written. A row from
# ``moved`` but none from ``ins``: the transaction number is taken, and the caller rolls the debit back.
_REDEEM_SQL = {
    "postgresql": f"""
WITH moved AS (
    UPDATE wallets_wallet SET balance = balance - %(points)s
     WHERE id = %(wallet)s AND org_id = %(org)s AND balance - %(points)s >= 0
    RETURNING id, org_id, balance
), entry AS (
    INSERT INTO wallets_ledgerentry (org_id, wallet_id, delta, balance_after, kind, reference, memo, created_at)
    SELECT org_id, id, -%(points)s, balance, 'POINTS_REDEEM', %(ledger_reference)s, %(memo)s, %(now)s FROM moved
    RETURNING id, balance_after
), ins AS (
    {sql.INSERT_POINTS_REDEMPTION}
    SELECT %(org)s, %(reference)s, %(customer)s, %(group)s, %(wallet)s, %(points)s, 0, %(ratio)s, %(value)s,
           entry.balance_after, %(number)s, %(till)s, %(notes)s, %(when)s, entry.id, %(now)s
      FROM entry
    ON CONFLICT (org_id, customer_id, transaction_number) DO NOTHING
    RETURNING id, balance_after, ledger_entry_id
), event AS (
    INSERT INTO orgs_outboxevent (org_id, event_id, kind, payload, created_at)
    SELECT %(org)s, %(event_id)s, %(event_kind)s,
           %(event_payload)s::jsonb || jsonb_build_object('ledgerEntry', ins.ledger_entry_id, 'wallet',
               jsonb_build_object('id', %(wallet)s, 'kind', 'POINTS', 'balance', ins.balance_after::text)),
           %(now)s
      FROM ins
    RETURNING id
)
SELECT (SELECT balance FROM moved), ins.id, ins.balance_after, ins.ledger_entry_id, (SELECT id FROM event)
  FROM (SELECT 1) AS one LEFT JOIN ins ON TRUE
""",
}


def _redeem(call: PointsRedeemIn) -> PointsRedemption:
    payer = call.payer
    if payer.wallet_id is None:
        raise PointsNotAvailable(f"{call.points} points asked, none available")
    reference = _reference()
    value = redeem_value(points=call.points, ratio=payer.points_currency_ratio)
    memo = f"till {call.till_username}, transaction {call.transaction_number or '-'}"[:255]
    now = timezone.now()
    statement = _REDEEM_SQL.get(connection.vendor)
    if statement is not None:
        row = _redeem_in_one_statement(statement, call, reference=reference, value=value, memo=memo, now=now)
    else:
        row = _redeem_stepwise(call, reference=reference, value=value, memo=memo, now=now)
    redemption_id, balance_after, entry_id = row
    return PointsRedemption(
        id=redemption_id, org_id=payer.org_id, reference=reference, customer_id=payer.customer.pk,
        group_id=payer.group_id, wallet_id=payer.wallet_id, points=call.points,
        points_currency_ratio=payer.points_currency_ratio, redeemed_value=value,
        balance_after=Decimal(str(balance_after)).quantize(MONEY_PLACES), transaction_number=call.transaction_number,
        till_username=call.till_username, notes=call.notes, redemption_time=call.redemption_time,
        ledger_entry_id=entry_id, created_at=now,
    )  # fmt: skip


def _redemption_event(call: PointsRedeemIn, *, reference: str, value: Decimal) -> dict:
    """The outbox event of a till redemption (kind ``redemption``, ``"of": "points"``), but for its
    ledger entry and wallet, which each way of writing it adds."""
    payer = call.payer
    return {
        "of": "points",
        "customer": customer_ref(payer.customer),
        "groupId": payer.group_id,
        "points": call.points,
        "redeemedValue": value,
        "redemptionId": reference,
        "reference": f"points-redeem:{reference}",
        "transactionNumber": call.transaction_number,
        "till": call.till_username,
    }


def _redeem_in_one_statement(
    statement: str, call: PointsRedeemIn, *, reference: str, value: Decimal, memo: str, now
) -> tuple:
    payer = call.payer
    event = event_row(
        org_id=payer.org_id,
        kind=EventKind.REDEMPTION,
        payload=_redemption_event(call, reference=reference, value=value),
    )
    params = {
        "points": call.points, "wallet": payer.wallet_id, "org": payer.org_id, "customer": payer.customer.pk,
        "group": payer.group_id, "ratio": payer.points_currency_ratio, "value": value, "reference": reference,
        "ledger_reference": f"points-redeem:{reference}", "memo": memo, "now": now, "number": call.transaction_number,
        "till": call.till_username, "notes": call.notes, "when": call.redemption_time,
        "event_id": event["event_id"], "event_kind": event["kind"], "event_payload": event["payload"],
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        moved, redemption_id, balance_after, entry_id, event_pk = cursor.fetchone()
    if moved is None:
        raise PointsNotAvailable(f"{call.points} points asked, fewer available")
    if redemption_id is None:
        raise _NumberUsed
    events_written(event_pks=[event_pk])
    return redemption_id, balance_after, entry_id


def _redeem_stepwise(call: PointsRedeemIn, *, reference: str, value: Decimal, memo: str, now) -> tuple:
    """The same in three statements, for SQLite (no data-modifying CTEs)."""
    payer = call.payer
    try:
        entry = wallet_post(
            wallet=Wallet(pk=payer.wallet_id, org_id=payer.org_id),
            delta=-call.points,
            kind=LedgerEntry.Kind.POINTS_REDEEM,
            reference=f"points-redeem:{reference}",
            memo=memo,
        )
    except InsufficientBalance as exc:
        raise PointsNotAvailable(f"{call.points} points asked, fewer available") from exc
    params = [
        payer.org_id, reference, payer.customer.pk, payer.group_id, payer.wallet_id, call.points,
        payer.points_currency_ratio, value, entry.balance_after, call.transaction_number, call.till_username,
        call.notes, call.redemption_time, entry.pk, connection.ops.adapt_datetimefield_value(now),
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_REDEMPTION, params)
        row = cursor.fetchone()
    if row is None:
        raise _NumberUsed
    payload = _redemption_event(call, reference=reference, value=value)
    payload.update(
        ledgerEntry=entry.pk, wallet={"id": payer.wallet_id, "kind": Wallet.Kind.POINTS, "balance": entry.balance_after}
    )
    event_emit(org_id=payer.org_id, kind=EventKind.REDEMPTION, payload=payload)
    return row[0], entry.balance_after, entry.pk


def points_redeem_by_ref(
    *,
    org_id: int,
    customer: CustomerRef,
    points: Decimal,
    transaction_number: str | None,
    till_username: str,
    notes: str = "",
    redemption_time: str = "",
) -> PointsRedeemed | None:
    """The common till redemption, from the customer's own wallet, in one round trip
    (``sql.TILL_REDEEM_BY_CUSTOMER``: the lookup of ``points_payer_find`` and the writes of
    ``points_redeem`` in one statement, its own transaction). None, having written nothing, when
    the general path must answer (``points_payer_find`` then ``points_redeem``, which say why):
    no such customer or wallet, too few points, the number used before (a replay, or 811), a
    concurrent copy of the call, or a database without the statement."""
    statement = sql.TILL_REDEEM_BY_CUSTOMER.get(connection.vendor)
    key = customer_lookup_key(
        mobile=customer.mobile, email=customer.email, external_id=customer.external_id, customer_id=customer.customer_id
    )
    if statement is None or key is None:
        return None
    column, value = key
    reference = _reference()
    ledger_reference = f"points-redeem:{reference}"
    now = timezone.now()
    event = event_row(
        org_id=org_id,
        kind=EventKind.REDEMPTION,
        payload={
            "of": "points", "groupId": None, "points": points, "redemptionId": reference,
            "reference": ledger_reference, "transactionNumber": transaction_number, "till": till_username,
        },
    )  # fmt: skip
    params = {
        "org": org_id, "key": value, "points": points, "number": transaction_number, "reference": reference,
        "ledger_reference": ledger_reference, "now": now,
        "memo": f"till {till_username}, transaction {transaction_number or '-'}"[:255],
        "till": till_username, "notes": notes, "when": redemption_time,
        "event_id": event["event_id"], "event_kind": event["kind"], "event_payload": event["payload"],
    }  # fmt: skip
    # One statement is its own transaction; inside a caller's, a savepoint keeps a failed one apart.
    try:
        [row] = statement_rows(statement.format(column=column), params) or [None]
    except IntegrityError:
        return None  # a copy with the same number committed first: the general path answers as it did
    if row is None or row[6] is None:
        return None
    (
        customer_id,
        external_id,
        email,
        mobile,
        wallet_id,
        ratio,
        redemption_id,
        balance_after,
        entry_id,
        value,
        event_pk,
    ) = row
    events_written(event_pks=[event_pk])
    found = Customer(id=customer_id, org_id=org_id, external_id=external_id, email=email, mobile=mobile)
    payer = PointsPayer(org_id, found, None, wallet_id, balance_after + points, ratio)
    redemption = PointsRedemption(
        id=redemption_id, org_id=org_id, reference=reference, customer_id=customer_id, group_id=None,
        wallet_id=wallet_id, points=points, points_currency_ratio=ratio, redeemed_value=value,
        balance_after=balance_after, transaction_number=transaction_number, till_username=till_username,
        notes=notes, redemption_time=redemption_time, ledger_entry_id=entry_id, created_at=now,
    )  # fmt: skip
    return PointsRedeemed(redemption=redemption, replayed=False, payer=payer)


_TAKE_BACK = """
    UPDATE wallets_pointsredemption SET reversed_points = reversed_points + %(points)s
     WHERE org_id = %(org)s AND reference = %(reference)s AND customer_id = %(customer)s
       AND reversed_points + %(points)s <= points
    RETURNING id, wallet_id
"""


@transaction.atomic
def points_reverse(
    *, org_id: int, customer_id: int, reference: str, points: Decimal, till_username: str
) -> PointsReversed:
    """Give back ``points`` of the customer's till redemption ``reference`` (partial reversals
    allowed; together never more than it took). Raises ``RedemptionUnknown`` / ``ReversalTooLarge``."""
    params = {"points": points, "org": org_id, "reference": reference, "customer": customer_id}
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_BACK, params)
        row = cursor.fetchone()
    if row is None:
        redemption = PointsRedemption.objects.filter(
            org_id=org_id, reference=reference, customer_id=customer_id
        ).first()
        if redemption is None:
            raise RedemptionUnknown(f"no redemption {reference[:40]!r} of this customer")
        raise ReversalTooLarge(
            f"redemption {reference} has {redemption.reversible} points left to reverse, not {points}"
        )
    redemption_id, wallet_id = row
    entry = wallet_post(
        wallet=Wallet(pk=wallet_id, org_id=org_id),
        delta=points,
        kind=LedgerEntry.Kind.POINTS_REVERSE,
        reference=f"points-reverse:{reference}",
        memo=f"till {till_username}, reversal of redemption {reference}"[:255],
    )
    PointsReversal.objects.create(
        org_id=org_id, redemption_id=redemption_id, points=points, till_username=till_username, ledger_entry=entry
    )
    redemption = PointsRedemption.objects.get(pk=redemption_id)
    payload = {
        "of": "points_redemption",
        "customerId": customer_id,
        "redemptionId": reference,
        "points": points,
        "reference": entry.reference,
        "ledgerEntry": entry.pk,
        "wallet": {"id": wallet_id, "kind": Wallet.Kind.POINTS, "balance": entry.balance_after},
        "till": till_username,
    }
    event_emit(org_id=org_id, kind=EventKind.REVERSAL, payload=payload)
    return PointsReversed(redemption=redemption, points=points, balance=entry.balance_after)
