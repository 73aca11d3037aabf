"""Redeem Rewards, one call: the application service behind ``POST /v2_0/redeemrewards``.

``redemption_call`` takes the call as typed input (``RedeemIn``, parsed by the adapter
``appvirality/wire.py``) and owns what happens around the rules: the transaction, the
Idempotency-Key claim and replay, the lookups (the user, the campaign, the growth hack) and the
call record (``RedemptionCall``). The rules themselves are in ``wallets/redemption.py``. It knows
no AppVirality status code or body: it hands the outcome (a ``Redeemed``, a ``Replayed`` answer
or a ``DomainError``) to the adapter's ``render``, and records and stores the answer it gets.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from core.errors import DomainError
from core.idempotency import keys_claim
from orgs.errors import UnknownCampaign, UnknownUser, UnknownUserKey
from orgs.models import Customer, Org
from orgs.selectors import campaign_by_code, customer_find, growth_hack_named

from .errors import IdempotencyKeyReused
from .models import IdempotencyKey, RedemptionCall
from .redemption import (
    PoolRedemption,
    Redemption,
    rewards_redeem_by_amount,
    rewards_redeem_by_ids,
    rewards_redeem_from_pool,
)

IDEMPOTENCY_TTL = timedelta(hours=24)
SUMMARY_MAX_CHARS = 4000


@dataclass(frozen=True)
class RedeemIn:
    """One Redeem Rewards call, parsed."""

    identifier_kind: str  # "user_key" | "external_id" | "email"
    identifier: str
    mode: str  # RedemptionCall.Mode
    reward_ids: list[str] | None = None
    amount: Decimal | None = None
    pool_id: int | None = None
    campaign_code: str | None = None
    growth_hack: str | None = None  # the name as sent; checked after the user
    summary: dict = field(default_factory=dict)  # what the call record keeps of it (no credentials)


@dataclass(frozen=True)
class IdempotencyIn:
    key: str
    body_digest: str  # of the raw body: the same key with another body is refused


@dataclass(frozen=True)
class Redeemed:
    """What a call redeemed: credits (``redemption``) or one coupon (``pool``)."""

    customer: Customer
    redemption: Redemption | None = None
    pool: PoolRedemption | None = None


@dataclass(frozen=True)
class Replayed:
    """The answer stored for an Idempotency-Key, given again."""

    http_status: int
    body: dict


@dataclass(frozen=True)
class Answer:
    """What the adapter answered: recorded on the call and stored under its Idempotency-Key."""

    http_status: int
    status_code: int
    body: dict


Render = Callable[[Redeemed | Replayed | DomainError], Answer]


def redemption_call(
    *,
    org: Org,
    request: RedeemIn | DomainError,
    sent: dict,
    idempotency: IdempotencyIn | None,
    render: Render,
) -> Answer:
    """Answer and record one authenticated call, in one transaction. ``request`` is the parsed
    call, or the error its parsing raised (answered and recorded like any refusal); ``sent`` is
    the request as sent, without credentials (recorded when it was not parsed or is replayed)."""
    with transaction.atomic():
        claim_id = None
        if idempotency is not None:
            claim_id, earlier = idempotency_claim(
                org_id=org.pk, key=idempotency.key, body_digest=idempotency.body_digest
            )
            if earlier is not None:
                same_body = earlier.body_digest == idempotency.body_digest
                outcome = Replayed(earlier.http_status, earlier.response) if same_body else IdempotencyKeyReused()
                answer = render(outcome)
                _record(org=org, request=None, sent=sent, answer=answer, key=earlier.key, replayed=same_body)
                return answer
        reference = uuid.uuid4()  # the call's; on the ledger entries it makes
        found = _Found()
        if isinstance(request, DomainError):
            outcome = request
        else:
            try:
                outcome = _redeem(org=org, request=request, reference=reference, found=found)
            except DomainError as error:
                outcome = error
        answer = render(outcome)
        _record(
            org=org,
            request=request if isinstance(request, RedeemIn) else None,
            sent=sent,
            answer=answer,
            key=idempotency.key if idempotency else "",
            customer=found.customer,
            done=outcome if isinstance(outcome, Redeemed) else None,
            reference=reference,
        )
        if claim_id is not None:
            IdempotencyKey.objects.filter(pk=claim_id).update(http_status=answer.http_status, response=answer.body)
    return answer


@dataclass
class _Found:
    customer: Customer | None = None


def _redeem(*, org: Org, request: RedeemIn, reference: uuid.UUID, found: _Found) -> Redeemed:
    """The lookups in the contract's order (user, growth hack, campaign), then the mode's rules."""
    customer = customer_find(org_id=org.pk, kind=request.identifier_kind, value=request.identifier)
    if customer is None:
        raise UnknownUserKey() if request.identifier_kind == "user_key" else UnknownUser()
    found.customer = customer
    growth_hack = growth_hack_named(request.growth_hack) if request.growth_hack is not None else None
    campaign = None
    if request.campaign_code is not None:
        campaign = campaign_by_code(org_id=org.pk, code=request.campaign_code)
        if campaign is None:
            raise UnknownCampaign(campaign=request.campaign_code)
    filters = {"customer": customer, "campaign": campaign, "growth_hack": growth_hack}
    if request.mode == RedemptionCall.Mode.POOL:
        return Redeemed(customer, pool=rewards_redeem_from_pool(pool_id=request.pool_id, **filters))
    ledger_reference = f"appvirality-redeem:{reference.hex}"
    if request.mode == RedemptionCall.Mode.IDS:
        redemption = rewards_redeem_by_ids(codes=request.reward_ids, reference=ledger_reference, **filters)
    else:
        redemption = rewards_redeem_by_amount(amount=request.amount, reference=ledger_reference, **filters)
    return Redeemed(customer, redemption=redemption)


def _record(
    *,
    org: Org,
    request: RedeemIn | None,
    sent: dict,
    answer: Answer,
    key: str,
    replayed: bool = False,
    customer: Customer | None = None,
    done: Redeemed | None = None,
    reference: uuid.UUID | None = None,
) -> RedemptionCall:
    text = json.dumps(request.summary if request else sent, default=str)  # request values may be Decimal
    summary = json.loads(text) if len(text) <= SUMMARY_MAX_CHARS else {"truncated": True, "size": len(text)}
    redemption, pool = (done.redemption, done.pool) if done else (None, None)
    reward_codes = redemption.reward_codes if redemption else ([pool.reward_code] if pool else [])
    return redemption_call_record(
        org=org,
        customer=customer,
        mode=request.mode if request else "",
        user_identifier=request.identifier if request else "",
        request_summary=summary,
        status_code=answer.status_code,
        http_status=answer.http_status,
        response=answer.body,
        amount=redemption.amount if redemption else None,
        reward_codes=reward_codes,
        reward_amounts={code: str(take) for code, take in redemption.taken.items()} if redemption else {},
        coupon_id=pool.coupon.pk if pool else None,
        ledger_entry=redemption.ledger_entry if redemption else None,
        reference=reference or uuid.uuid4(),
        idempotency_key=key,
        replayed=replayed,
    )


def redemption_call_record(**fields) -> RedemptionCall:
    return RedemptionCall.objects.create(**fields)


def idempotency_claim(*, org_id: int, key: str, body_digest: str) -> tuple[int | None, IdempotencyKey | None]:
    """Claim ``key`` for the current transaction: ``(id, None)`` when this call goes ahead,
    ``(None, earlier)`` when an earlier call (within 24 hours) owns it.

    A concurrent call with the same key waits on the unique index until the
    first commits, then sees its stored answer: the same key runs once.
    """
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    claimed = keys_claim(
        table=IdempotencyKey._meta.db_table,
        columns=("org_id", "key", "body_digest", "created_at"),
        rows=[(org_id, key, body_digest, adapt(now))],
        unique=("org_id", "key"),
        returning=("id",),
        renew=("created_at < %s", adapt(now - IDEMPOTENCY_TTL)),  # an expired key is claimed anew
        cleared=("http_status", "response"),
    )
    if claimed:
        return claimed[0][0], None
    return None, IdempotencyKey.objects.get(org_id=org_id, key=key)
