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
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.errors import DomainError
from core.idempotency import keys_claim
from core.statements import statement_rows
from events.outbox import events_written
from orgs.errors import UnknownCampaign, UnknownUser, UnknownUserKey
from orgs.models import Customer, EventKind, Org
from orgs.selectors import campaign_by_code, customer_find, customer_key, growth_hack_named

from . import sql
from .errors import IdempotencyKeyReused
from .models import IdempotencyKey, RedemptionCall
from .redemption import (
    PoolRedemption,
    Redemption,
    pool_for_one_statement,
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
    the request as sent, without credentials (recorded when it was not parsed or is replayed).

    On PostgreSQL a call by amount or by pool without filters is first tried as one statement
    (``_redeem_in_one_statement``); when it would not succeed, it runs step by step here."""
    if isinstance(request, RedeemIn) and one_statement_fits(request):
        answer = _redeem_in_one_statement(org=org, request=request, idempotency=idempotency, render=render)
        if answer is not None:
            return answer
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
    summary = json.loads(_summary_text(request.summary if request else sent))
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


def _summary_text(summary: dict) -> str:
    """The request summary as the call record keeps it (JSON text): cut when it is too long."""
    text = json.dumps(summary, default=str)  # request values may be Decimal
    return text if len(text) <= SUMMARY_MAX_CHARS else json.dumps({"truncated": True, "size": len(text)})


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


# --- The same call as one statement (PostgreSQL) --------------------------------------------------


class Slot(str):
    """A value only the one statement knows (the coupon drawn, the codes consumed, the balance),
    standing in for it while the answer is rendered before the statement runs. Formatted like the
    value it stands for (``f"{balance:.2f}"``, ``expires_at.isoformat()``), it stays itself: the
    statement puts the value in its place, as the migration of ``wallets_redeem_call`` describes.
    """

    MARK = "\x00"  # no request text holds a NUL (core.request_body refuses it)

    def __new__(cls, name: str):
        return super().__new__(cls, cls.MARK + name)

    def __format__(self, spec: str) -> str:
        return self

    def isoformat(self) -> str:
        return self


@dataclass(frozen=True)
class _DrawnCoupon:
    """What an answer may show of the coupon the statement draws."""

    code: str
    pool_id: int
    expires_at: object
    pk: object = None


@dataclass(frozen=True)
class _Entry:
    balance_after: object


# The slots' forms in the rendered answer (JSON text) that the statement fills, per mode.
_SLOTS = {
    RedemptionCall.Mode.POOL: ('"\\u0000coupon_code"', '"\\u0000coupon_expires_at"', '"\\u0000reward_code"'),
    RedemptionCall.Mode.AMOUNT: ('["\\u0000reward_codes"]', '"\\u0000balance"'),
}


def one_statement_fits(request: RedeemIn) -> bool:
    """Whether the call may be tried as one statement: PostgreSQL, by amount or by pool, without a
    campaign or growth hack filter (those, ids and every refusal run step by step)."""
    return (
        request.mode in _SLOTS
        and request.campaign_code is None
        and request.growth_hack is None
        and connection.vendor == "postgresql"
        and settings.REDEEM_ONE_STATEMENT
    )


@lru_cache(maxsize=1024)
def _template_of(render: Render, mode: str, amount: Decimal | None, pool_id: int | None) -> Answer | None:
    """The answer of a success, rendered with slots; None if the renderer did not keep every slot
    where the statement can fill it (then the call runs step by step). What it holds besides the
    slots is all the call says (the amount, or the pool), so it is rendered once per process for
    each (equal amounts render alike: ``money`` writes two decimals)."""
    if mode == RedemptionCall.Mode.POOL:
        coupon = _DrawnCoupon(Slot("coupon_code"), pool_id, Slot("coupon_expires_at"))
        outcome = Redeemed(None, pool=PoolRedemption(coupon=coupon, reward_code=Slot("reward_code")))
    else:
        redemption = Redemption(amount, [Slot("reward_codes")], _Entry(Slot("balance")), {})
        outcome = Redeemed(None, redemption=redemption)
    answer = render(outcome)
    text = json.dumps(answer.body)
    if text.count("\\u0000") != sum(text.count(form) for form in _SLOTS[mode]):
        return None
    return Answer(answer.http_status, answer.status_code, text)


def _redeem_in_one_statement(
    *, org: Org, request: RedeemIn, idempotency: IdempotencyIn | None, render: Render
) -> Answer | None:
    """The whole call as one statement (``wallets_redeem_call``), in autocommit when no
    transaction is open: the answer, or None when it would not succeed, having written nothing."""
    key = customer_key(kind=request.identifier_kind, value=request.identifier)
    if key is None:
        return None
    pool = (None, None)
    if request.mode == RedemptionCall.Mode.POOL:
        pool = pool_for_one_statement(org_id=org.pk, pool_id=request.pool_id)
        if pool is None:
            return None
    template = _template_of(render, request.mode, request.amount, request.pool_id)
    if template is None:
        return None
    now = timezone.now()
    rows = statement_rows(
        sql.REDEEM_CALL,
        [
            org.pk,
            request.mode,
            key[0],
            str(key[1]),
            request.amount,
            request.pool_id,
            *pool,
            idempotency.key if idempotency else None,
            idempotency.body_digest if idempotency else None,
            now - IDEMPOTENCY_TTL,
            now,
            _summary_text(request.summary),
            request.identifier,
            template.http_status,
            template.status_code,
            template.body,
            EventKind.REDEMPTION,
        ],
        declined=sql.REDEEM_CALL_DECLINED,
    )
    if not rows:
        return None
    [(_, event_pk, text)] = rows
    events_written(event_pks=[event_pk])  # after commit: now, in autocommit
    return Answer(template.http_status, template.status_code, json.loads(text))
