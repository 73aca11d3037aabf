"""Issued coupons after their issue: used at a till (Capillary ``coupon/isredeemable`` and
``coupon/redeem``), or voided when the issue that handed them out is revoked.

A coupon is used at most once under any concurrency: ``coupon_redeem_at_till`` is one
conditional ``UPDATE ... WHERE status = 'ISSUED'`` (a concurrent second one waits on the row,
re-reads it, no longer matches). The same code with the same transaction number again is a
replay of the first answer. The redemption writes its outbox event (``redemption``, ``"of":
"coupon"``) in the same transaction; at the till (``coupon_redeem_by_identifier``) the
customer's lookup, the redemption and its event are one statement. A revocation voids the
coupons in one conditional UPDATE as well, so a revocation and a till redemption of the same
coupon cannot both succeed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from events.outbox import customer_ref, event_emit, event_row, events_written
from orgs.models import EventKind
from orgs.selectors import customer_by_key, customer_lookup_key

from . import sql
from .errors import CouponAlreadyRedeemed, CouponExpired, CouponNotHeld, CouponUnknown, CouponVoided
from .models import Coupon
from .services import coupons_void_issued


@dataclass(frozen=True)
class CouponTillRedeemed:
    coupon: Coupon
    transaction_number: str
    replayed: bool


def _candidates(*, org_id: int, code: str, customer_id: int) -> list[Coupon]:
    """The org's coupons with this code (index ``coupon_org_code``), the customer's first."""
    coupons = list(Coupon.objects.filter(org_id=org_id, code=code).select_related("pool").order_by("id")[:20])
    return sorted(coupons, key=lambda c: (c.holder_id != customer_id, c.status != Coupon.Status.ISSUED, c.pk))


def _refusal(coupon: Coupon | None, *, customer_id: int, now: datetime) -> Exception | None:
    if coupon is None:
        return CouponUnknown("no coupon with this code")
    if coupon.holder_id != customer_id:
        return CouponNotHeld("the coupon was not issued to this customer")
    if coupon.status == Coupon.Status.REDEEMED:
        return CouponAlreadyRedeemed(f"the coupon was redeemed in transaction {coupon.redeemed_transaction_number}")
    if coupon.status == Coupon.Status.VOID:
        return CouponVoided("coupon voided")
    if coupon.status == Coupon.Status.EXPIRED or (coupon.expires_at is not None and coupon.expires_at <= now):
        return CouponExpired("the coupon expired")
    if coupon.status != Coupon.Status.ISSUED:
        return CouponNotHeld("the coupon was not issued to this customer")
    return None


def coupon_for_till(*, org_id: int, code: str, customer_id: int) -> Coupon:
    """The customer's coupon ``code``, with its pool, if it can be redeemed now; else the
    ``CouponNotUsable`` that says why (raised). Writes nothing."""
    found = _candidates(org_id=org_id, code=code, customer_id=customer_id)
    coupon = found[0] if found else None
    refusal = _refusal(coupon, customer_id=customer_id, now=timezone.now())
    if refusal is not None:
        raise refusal
    return coupon


def _redemption_event(*, transaction_number: str, amount: Decimal | None, till_username: str) -> dict:
    """The outbox event of a coupon used at a till (kind ``redemption``, ``"of": "coupon"``), but
    for its ``customer`` and ``coupon`` (id, code, poolId), which each way of writing it adds."""
    return {"of": "coupon", "transactionNumber": transaction_number, "amount": amount, "till": till_username}


def _params(*, org_id: int, code: str, transaction_number: str, amount: Decimal | None, now) -> dict:
    return {
        "now": connection.ops.adapt_datetimefield_value(now),
        "number": transaction_number,
        "amount": amount,
        "org": org_id,
        "code": code,
    }


def _with_event(params: dict, *, org_id: int, event: dict) -> dict:
    row = event_row(org_id=org_id, kind=EventKind.REDEMPTION, payload=event)
    return {**params, "event_id": row["event_id"], "event_kind": row["kind"], "event_payload": row["payload"]}


def _redeem(*, org_id: int, code: str, customer, params: dict, event: dict) -> tuple | None:
    """(coupon id, pool id) of the coupon redeemed with its event written, or None (nothing written)."""
    statement = sql.TILL_REDEEM_WITH_EVENT.get(connection.vendor)
    if statement is not None:
        with connection.cursor() as cursor:
            cursor.execute(statement, _with_event(params, org_id=org_id, event=event))
            found = cursor.fetchone()
        if found is None:
            return None
        events_written(event_pks=[found[2]])
        return found[:2]
    with transaction.atomic(), connection.cursor() as cursor:  # the same in two statements (SQLite)
        cursor.execute(sql.TILL_REDEEM, params)
        found = cursor.fetchone()
        if found is not None:
            event.update(customer=customer_ref(customer), coupon={"id": found[0], "code": code, "poolId": found[1]})
            event_emit(org_id=org_id, kind=EventKind.REDEMPTION, payload=event)
    return found


def _redeemed(*, org_id: int, code: str, holder_id: int, transaction_number: str, amount, now) -> Coupon:
    return Coupon(
        id=None, org_id=org_id, pool_id=None, code=code, holder_id=holder_id, status=Coupon.Status.REDEEMED,
        redeemed_at=now, redeemed_transaction_number=transaction_number, redeemed_amount=amount,
    )  # fmt: skip


def coupon_redeem_at_till(
    *, org_id: int, code: str, customer, transaction_number: str, amount: Decimal | None, till_username: str = ""
) -> CouponTillRedeemed:
    """Mark the customer's coupon REDEEMED with the till's transaction, and write its outbox event
    (``redemption``, ``"of": "coupon"``) in the same transaction (one statement on PostgreSQL). The
    same code and transaction number again answers the first redemption (``replayed``, no event);
    otherwise a ``CouponNotUsable`` says why not, having changed nothing."""
    now = timezone.now()
    customer_id = customer.pk
    params = _params(org_id=org_id, code=code, transaction_number=transaction_number, amount=amount, now=now)
    params["holder"] = customer_id
    event = _redemption_event(transaction_number=transaction_number, amount=amount, till_username=till_username)
    row = _redeem(org_id=org_id, code=code, customer=customer, params=params, event=event)
    if row is not None:
        coupon = _redeemed(
            org_id=org_id,
            code=code,
            holder_id=customer_id,
            transaction_number=transaction_number,
            amount=amount,
            now=now,
        )
        coupon.id, coupon.pool_id = row
        return CouponTillRedeemed(coupon=coupon, transaction_number=transaction_number, replayed=False)
    found = _candidates(org_id=org_id, code=code, customer_id=customer_id)
    coupon = found[0] if found else None
    if (
        coupon is not None
        and coupon.holder_id == customer_id
        and coupon.status == Coupon.Status.REDEEMED
        and coupon.redeemed_transaction_number == transaction_number
    ):
        return CouponTillRedeemed(coupon=coupon, transaction_number=transaction_number, replayed=True)
    raise _refusal(coupon, customer_id=customer_id, now=now) or CouponAlreadyRedeemed("the coupon was just redeemed")


def coupon_redeem_by_identifier(
    *,
    org_id: int,
    mobile: str | None,
    email: str | None,
    external_id: str | None,
    code: str,
    transaction_number: str,
    amount: Decimal | None,
    till_username: str = "",
) -> CouponTillRedeemed:
    """``POST /v1.1/coupon/redeem``: the customer named by the first identifier given, and its
    coupon redeemed as ``coupon_redeem_at_till`` does. In one round trip where it can
    (``sql.TILL_REDEEM_BY_CUSTOMER``: the customer's lookup, the redemption and its event in one
    statement); when that one writes nothing, the customer is looked up and
    ``coupon_redeem_at_till`` answers (a replay) or says why not. ``CouponNotHeld`` for an unknown
    customer, ``CouponUnknown`` for an empty code."""
    key = customer_lookup_key(mobile=mobile, email=email, external_id=external_id)
    statement = sql.TILL_REDEEM_BY_CUSTOMER.get(connection.vendor)
    if statement is not None and key is not None and code:
        now = timezone.now()
        params = _params(org_id=org_id, code=code, transaction_number=transaction_number, amount=amount, now=now)
        event = _redemption_event(transaction_number=transaction_number, amount=amount, till_username=till_username)
        with connection.cursor() as cursor:
            cursor.execute(
                statement.format(column=key[0]), {**_with_event(params, org_id=org_id, event=event), "key": key[1]}
            )
            row = cursor.fetchone()
        if row is not None:
            events_written(event_pks=[row[2]])
            coupon = _redeemed(
                org_id=org_id,
                code=code,
                holder_id=row[3],
                transaction_number=transaction_number,
                amount=amount,
                now=now,
            )
            coupon.id, coupon.pool_id = row[0], row[1]
            return CouponTillRedeemed(coupon=coupon, transaction_number=transaction_number, replayed=False)
    customer = customer_by_key(org_id=org_id, key=key) if key is not None else None
    if customer is None:
        raise CouponNotHeld("customer not found")
    if not code:
        raise CouponUnknown("code is required")
    return coupon_redeem_at_till(
        org_id=org_id,
        code=code,
        customer=customer,
        transaction_number=transaction_number,
        amount=amount,
        till_username=till_username,
    )


def coupons_void_for_revocation(*, org_id: int, pool_id: int | None, codes: list[str], holder_id: int) -> int:
    """Void the coupons an issue handed out (``coupons_void_issued``: one conditional UPDATE); how
    many were voided. Raises ``CouponAlreadyRedeemed`` when one of them was used at a till: the
    caller's transaction must then roll back (nothing is revoked)."""
    if not codes:
        return 0
    voided = coupons_void_issued(org_id=org_id, holder_id=holder_id, pool_id=pool_id, codes=codes)
    redeemed = Coupon.objects.filter(
        org_id=org_id, pool_id=pool_id, code__in=codes, holder_id=holder_id, status=Coupon.Status.REDEEMED
    )
    if voided < len(codes) and redeemed.exists():
        raise CouponAlreadyRedeemed("a coupon of this issue was redeemed at a till")
    return voided
