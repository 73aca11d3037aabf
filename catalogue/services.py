"""Writes of the Issue Reward API (Capillary ``POST /v1.1/user/rewards/issue/``).

``rewards_issue`` follows the contract's processing order (docs/contracts/issue-rewards.md):

1. resolve and validate the whole call (customer, group, rewards, payment configs, points,
   custom fields, requestIds): any problem fails the call, nothing issued;
2. *isRedeemable*: the points of all rewards, summed per paying wallet, must be there. Checked
   first on the balances read in step 1 (a quick refusal), then again under the paying wallets'
   row locks, in the transaction that pays (``_issue_together``: in each wallet's debit
   statement; ``_issue_each``: a locked read less the points open vendor calls hold), so a call
   that would fail the check alone fails it in a race too, issuing nothing. Lock order, on
   every path: requestId claims, then customers of limited promotions, then wallets by id
   (see ``_issue_each``);
3. each reward is issued on its own (partial issual): one database transaction records the
   issue and takes its points through ``wallets.services.wallet_post``, so points move only
   for what was issued. A vendor reward calls the vendor first, outside any transaction and
   holding no lock, then takes the points; if they went meanwhile, the voucher is recorded as
   a ``VendorException`` for staff, never as a negative balance.

A ``requestId`` is claimed by inserting its ``IssueRequest`` row: a concurrent copy waits on
the unique index until the first commits, then answers with the first result.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from core.errors import AlreadyReversed, OperationRefused, staff_reason
from core.money import ZERO, to_money
from coupons.errors import PoolExhausted
from coupons.models import Coupon
from coupons.services import coupons_disburse
from events.outbox import customer_ref, event_emit, events_emit
from orgs.credentials import Caller
from orgs.errors import OutOfScope
from orgs.models import Customer, EventKind
from wallets.errors import InsufficientBalance
from wallets.models import LedgerEntry, Wallet
from wallets.services import Posting, wallet_post, wallet_post_many

from . import selectors
from .errors import (
    CustomerNotFound,
    GroupNotFound,
    InsufficientPoints,
    InvalidIssueRequest,
    InvalidValidationCode,
    NoActiveCard,
    NotGroupMember,
    OutsideSegment,
    PaymentConfigInvalid,
    PaymentConfigRequired,
    PointsGone,
    PromotionLimitReached,
    RequestIdConflict,
    RequestIdTaken,
    RewardNotIssued,
    RewardUnavailable,
    VendorFailed,
    VendorUnanswered,
)
from .models import (
    CatalogueReward,
    IssueRequest,
    PaymentConfig,
    RewardIssue,
    RewardIssueRevocation,
    ValidationCode,
    VendorCall,
    VendorException,
)

SUCCESS = {"success": True, "code": 200, "message": "Reward issued successfully"}
PARTIAL = {"success": True, "code": 8010, "message": "Reward issued partially"}
FAILED = {"success": False, "code": 8003, "message": "fail to issue reward"}
_REFERENCE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PENDING_POLL_SECONDS = 0.05


# --- the call, as the API hands it over ------------------------------------------------------


@dataclass(frozen=True)
class GroupRef:
    """user_group2: any non-null field makes the call a group loyalty redemption."""

    group_id: int | None = None
    external_id: str | None = None
    primary_user_id: str | None = None

    @property
    def given(self) -> bool:
        return self.group_id is not None or self.external_id is not None or self.primary_user_id is not None


@dataclass(frozen=True)
class RewardLineIn:
    reward_id: int
    quantity: int
    requested_quantity: int
    org_id: int | None = None
    params: Any = None
    payment_config_id: int | None = None
    redemption_value: Decimal | None = None
    points: Decimal | None = None
    custom_fields: dict | None = None
    fulfillment_status: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class OrgDetailIn:
    org_id: int
    params: Any = None
    notes: str | None = None
    group: GroupRef = GroupRef()


@dataclass(frozen=True)
class IssueCallIn:
    rewards: list[RewardLineIn]
    mobile: str | None = None
    email: str | None = None
    external_id: str | None = None
    transaction_number: str | None = None
    notes: str | None = None
    event_log_id: str | None = None
    brand: str | None = None
    validation_code: str | None = None
    group: GroupRef = GroupRef()
    org_details: list[OrgDetailIn] = field(default_factory=list)


@dataclass(frozen=True)
class IssueOutcome:
    http_status: int
    body: dict


# --- resolved lines ---------------------------------------------------------------------------


@dataclass
class _Payer:
    org_id: int
    customer: Customer
    group: Any  # CustomerGroup or None
    wallet_id: int | None
    balance: Decimal

    @property
    def key(self) -> tuple:
        return ("group", self.group.pk) if self.group is not None else ("customer", self.customer.pk)


@dataclass
class _Line:
    index: int
    item: RewardLineIn
    org_id: int
    reward: CatalogueReward
    config: PaymentConfig | None
    points: Decimal
    redemption_value: Decimal | None
    payer: _Payer
    notes: str
    params: Any
    payload_hash: str
    request_key: str | None
    failure: RewardNotIssued | None = None
    replay: RewardIssue | None = None
    seen_before: bool = False


class _RequestIdTaken(Exception):
    """Another call holds this requestId (its IssueRequest row exists)."""


# --- step 1: resolve -------------------------------------------------------------------------


def _cost(*, reward: CatalogueReward, config: PaymentConfig | None, item: RewardLineIn, index: int):
    """(points, total redemption value) of a reward line."""
    if config is None:
        return ZERO, None
    if config.mode == PaymentConfig.Mode.POINTS:
        points = config.points * item.quantity
        value = points
    elif item.points is not None:
        points = item.points
        value = item.points * config.conversion_ratio
    elif item.redemption_value is not None:
        value = item.redemption_value * item.quantity
        points = (value / config.conversion_ratio).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        if points <= 0:
            raise InvalidIssueRequest(f"rewards[{index}].paymentConfig.redemptionValue: worth less than one point")
    else:
        raise InvalidIssueRequest(
            f"rewards[{index}].paymentConfig: redemptionValue or points is required for a CONV_RATIO reward"
        )
    try:
        return to_money(points), value.normalize()
    except ValueError as exc:
        raise InvalidIssueRequest(f"rewards[{index}]: the reward would cost too many points") from exc


def _payment_config(*, reward: CatalogueReward, item: RewardLineIn, index: int) -> PaymentConfig | None:
    if item.payment_config_id is not None:
        config = reward.configs.get(item.payment_config_id)
        if config is None:
            raise PaymentConfigInvalid(
                f"rewards[{index}].paymentConfig.id: {item.payment_config_id} is not a payment config of reward "
                f"{reward.pk}"
            )
        return config
    if len(reward.configs) > 1:
        raise PaymentConfigRequired(f"rewards[{index}].paymentConfig.id: reward {reward.pk} has several")
    return next(iter(reward.configs.values()), None)


def _payers(*, call: IssueCallIn, org_ids: list[int], details: dict[int, OrgDetailIn]) -> dict[int, _Payer]:
    payers = {}
    for org_id in org_ids:
        customer = selectors.customer_for_issue(
            org_id=org_id, mobile=call.mobile, email=call.email, external_id=call.external_id
        )
        if customer is None:
            raise CustomerNotFound(f"customer not found in org {org_id}")
        detail = details.get(org_id)
        ref = detail.group if detail is not None and detail.group.given else call.group
        if not ref.given:
            payers[org_id] = _Payer(org_id, customer, None, customer.wallet_id, customer.wallet_balance or ZERO)
            continue
        group = selectors.group_for_issue(
            org_id=org_id,
            customer_id=customer.pk,
            group_id=ref.group_id,
            external_id=ref.external_id,
            primary_user_id=ref.primary_user_id,
        )
        if group is None:
            raise GroupNotFound(f"loyalty group not found in org {org_id}")
        if not group.is_member:
            raise NotGroupMember(f"customer is not a member of loyalty group {group.pk}")
        payers[org_id] = _Payer(org_id, customer, group, group.wallet_id, group.wallet_balance or ZERO)
    return payers


def _eligibility(*, reward: CatalogueReward, payer: _Payer, segments: set[int], now) -> RewardNotIssued | None:
    if (
        not reward.enabled
        or (reward.starts_at and reward.starts_at > now)
        or (reward.ends_at and reward.ends_at <= now)
    ):
        return RewardUnavailable(f"reward {reward.pk} is disabled or outside its dates")
    if reward.segment_ids and not reward.segment_ids & segments:
        return OutsideSegment(f"customer is not in a segment of reward {reward.pk}")
    if payer.customer.has_cards and not payer.customer.has_active_card:
        return NoActiveCard("customer has no ACTIVE card or label")
    if reward.type == CatalogueReward.Type.CART_PROMOTION and not reward.promotion.active:
        return RewardUnavailable(f"cart promotion {reward.promotion.code} is inactive")
    return None


def _payload_hash(*, line_org: int, payer: _Payer, item: RewardLineIn, config, points: Decimal) -> str:
    payload = {
        "org": line_org,
        "customer": payer.customer.pk,
        "group": payer.group.pk if payer.group is not None else None,
        "reward": item.reward_id,
        "quantity": item.quantity,
        "config": config.pk if config is not None else None,
        "points": str(points),
        "customFields": item.custom_fields,
        "fulfillment": item.fulfillment_status,
        "params": item.params,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def request_key(request_id: str) -> str:
    return hashlib.sha256(request_id.encode()).hexdigest()


def _customer_segments(payer: _Payer, *, rewards: dict[int, CatalogueReward]) -> set[int]:
    """The customer's segments among those of the org's rewards (no query when none has any)."""
    wanted = {s for reward in rewards.values() if reward.org_id == payer.org_id for s in reward.segment_ids}
    if not wanted:
        return set()
    return selectors.customer_segment_ids(customer_id=payer.customer.pk, segment_ids=wanted)


def _resolve(*, caller: Caller, scope: frozenset[int], call: IssueCallIn) -> list[_Line]:
    details: dict[int, OrgDetailIn] = {}
    for i, detail in enumerate(call.org_details):
        if detail.org_id in details:
            raise InvalidIssueRequest(f"orgLevelDetails[{i}].orgId: org {detail.org_id} is listed twice")
        details[detail.org_id] = detail
    default_org = call.org_details[0].org_id if len(call.org_details) == 1 else caller.org_id
    line_orgs = [item.org_id or default_org for item in call.rewards]
    outside = (set(line_orgs) | set(details)) - scope
    if outside:
        raise OutOfScope(f"org {min(outside)} is outside the data scope of this call")
    request_ids = [item.request_id for item in call.rewards if item.request_id is not None]
    if len(set(request_ids)) < len(request_ids):
        raise RequestIdConflict("each reward needs its own requestId")

    rewards = selectors.rewards_for_issue(reward_ids=[item.reward_id for item in call.rewards])
    payers = _payers(call=call, org_ids=list(dict.fromkeys(line_orgs)), details=details)
    custom_fields: dict[int, set[str]] = {}
    statuses: dict[int, set[str]] = {}
    if any(item.custom_fields or item.fulfillment_status for item in call.rewards):
        custom_fields, statuses = selectors.org_definitions(org_ids=set(line_orgs))
    segments = {org_id: _customer_segments(payer, rewards=rewards) for org_id, payer in payers.items()}

    now = timezone.now()
    lines = []
    for index, (item, org_id) in enumerate(zip(call.rewards, line_orgs, strict=True)):
        reward = rewards.get(item.reward_id)
        if reward is None or reward.org_id != org_id:
            raise InvalidIssueRequest(f"rewards[{index}].rewardId: reward {item.reward_id} not found in org {org_id}")
        config = _payment_config(reward=reward, item=item, index=index)
        points, value = _cost(reward=reward, config=config, item=item, index=index)
        if item.custom_fields:
            unknown = set(item.custom_fields) - custom_fields[org_id]
            if unknown:
                raise InvalidIssueRequest(f"rewards[{index}].customFields: {sorted(unknown)[0]!r} is not defined")
        if item.fulfillment_status is not None and item.fulfillment_status not in statuses[org_id]:
            raise InvalidIssueRequest(
                f"rewards[{index}].fulfillmentDetails.status: {item.fulfillment_status!r} is not defined"
            )
        payer = payers[org_id]
        detail = details.get(org_id)
        lines.append(
            _Line(
                index=index,
                item=item,
                org_id=org_id,
                reward=reward,
                config=config,
                points=points,
                redemption_value=value,
                payer=payer,
                notes=(detail.notes if detail is not None and detail.notes is not None else call.notes) or "",
                params=item.params if item.params is not None else (detail.params if detail is not None else None),
                payload_hash=_payload_hash(line_org=org_id, payer=payer, item=item, config=config, points=points),
                request_key=request_key(item.request_id) if item.request_id is not None else None,
                failure=_eligibility(reward=reward, payer=payer, segments=segments[org_id], now=now),
            )
        )
    return lines


def _match_seen_requests(lines: list[_Line]) -> None:
    seen = selectors.issue_requests_find(keys=[(ln.org_id, ln.request_key) for ln in lines if ln.request_key])
    for line in lines:
        request = seen.get((line.org_id, line.request_key))
        if request is None:
            continue
        if request.payload_hash != line.payload_hash:
            raise RequestIdConflict(f"rewards[{line.index}].requestId was used before for another reward payload")
        line.seen_before = True
        if request.state == IssueRequest.State.DONE:
            line.replay = request.issue_found


# --- step 2: isRedeemable --------------------------------------------------------------------


def _check_redeemable(lines: list[_Line]) -> None:
    needed: dict[tuple, Decimal] = {}
    payers: dict[tuple, _Payer] = {}
    for line in lines:
        if not line.seen_before:
            needed[line.payer.key] = needed.get(line.payer.key, ZERO) + line.points
            payers[line.payer.key] = line.payer
    for key, points in needed.items():
        if points > payers[key].balance:
            payer = payers[key]
            whose = f"group {payer.group.pk}" if payer.group is not None else "customer"
            raise InsufficientPoints(
                f"insufficient points in org {payer.org_id}: {whose} has {_points_text(payer.balance)}, "
                f"the rewards cost {_points_text(points)}"
            )


def _points_by_wallet(lines: list[_Line]) -> dict[int, Decimal]:
    """The points the call's isRedeemable check needs from each paying wallet."""
    needed: dict[int, Decimal] = {}
    for line in lines:
        if not line.seen_before and line.points > 0 and line.payer.wallet_id is not None:
            needed[line.payer.wallet_id] = needed.get(line.payer.wallet_id, ZERO) + line.points
    return needed


_OPEN_VENDOR_CALLS = (VendorCall.State.PENDING, VendorCall.State.ANSWERED)


def _lock_payers(lines: list[_Line], *, paying_only: bool = True) -> None:
    """Lock the wallets that pay for ``lines`` (with ``paying_only``, those of the lines the points
    check counts: costing points, not seen before), in the caller's transaction, in wallet id
    order, and set each payer's balance to what it may spend now: its balance less the points
    held by open vendor calls (PENDING or ANSWERED: their partner is being called, their points
    not yet taken). Read after the lock, so a hold written by a call that had the lock is seen."""
    payers = {
        line.payer.wallet_id: line.payer
        for line in lines
        if line.payer.wallet_id is not None and not (paying_only and (line.points <= 0 or line.seen_before))
    }
    if not payers:
        return
    balances = dict(
        Wallet.objects.select_for_update().filter(pk__in=payers).order_by("pk").values_list("pk", "balance")
    )
    held = dict(
        VendorCall.objects.filter(wallet_id__in=payers, state__in=_OPEN_VENDOR_CALLS)
        .values("wallet_id")
        .annotate(points=Sum("points"))
        .values_list("wallet_id", "points")
    )
    for wallet_id, payer in payers.items():
        payer.balance = balances.get(wallet_id, ZERO) - held.get(wallet_id, ZERO)


def _check_line_points(line: _Line) -> None:
    """One reward issued on its own (a requestId another call held, then let go): its points must be
    there now, under the wallet's lock."""
    if line.points <= 0:
        return
    _lock_payers([line], paying_only=False)
    if line.payer.wallet_id is None or line.points > line.payer.balance:
        raise PointsGone("insufficient points: spent by another call meanwhile")


# --- step 3: issue each reward ---------------------------------------------------------------


def _points_reference() -> str:
    return "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(10))


_CLAIM_SQL = (
    "INSERT INTO catalogue_issuerequest (org_id, request_key, request_id, payload_hash, state, created_at) "
    "VALUES {values} ON CONFLICT (org_id, request_key) DO NOTHING RETURNING org_id, request_key, id"
)
_CLAIM_ROW = "(%s, %s, %s, %s, %s, %s)"


def _claim(line: _Line, *, state: str) -> int | None:
    """Insert the requestId's row; a concurrent holder makes this wait for its commit. Raises
    ``_RequestIdTaken`` if the row exists."""
    if line.request_key is None:
        return None
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL.format(values=_CLAIM_ROW),
            [line.org_id, line.request_key, line.item.request_id, line.payload_hash, state, now],
        )
        row = cursor.fetchone()
    if row is None:
        raise _RequestIdTaken
    return row[2]


def _release(claim_pk: int | None) -> None:
    if claim_pk is not None:
        IssueRequest.objects.filter(pk=claim_pk, state=IssueRequest.State.PENDING).delete()


def _pay(line: _Line, *, reference: str) -> None:
    """Take the line's points from the paying wallet (row-locked by the conditional UPDATE)."""
    if line.points <= 0:
        return
    if line.payer.wallet_id is None:
        raise PointsGone("insufficient points")
    wallet = Wallet(pk=line.payer.wallet_id, org_id=line.org_id)
    try:
        wallet_post(
            wallet=wallet,
            delta=-line.points,
            kind=LedgerEntry.Kind.ISSUE,
            reference=reference,
            memo=f"reward {line.reward.pk} x{line.item.quantity}",
        )
    except InsufficientBalance as exc:
        raise PointsGone("insufficient points: spent by another call meanwhile") from exc


def _take_promotion(line: _Line, *, pending: int = 0) -> None:
    """Per-customer limit of a cart promotion; the customer's row lock serialises concurrent calls.
    ``pending``: units of this promotion taken earlier in the same transaction, not yet recorded."""
    promotion = line.reward.promotion
    if promotion.max_per_customer is None:
        return
    Customer.objects.select_for_update().filter(pk=line.payer.customer.pk).values_list("pk").first()
    held = pending + selectors.promotion_units_held(
        org_id=line.org_id, customer_id=line.payer.customer.pk, promotion_id=promotion.pk
    )
    if held + line.item.quantity > promotion.max_per_customer:
        raise PromotionLimitReached(
            f"customer holds cart promotion {promotion.code} {held} time(s), the limit is {promotion.max_per_customer}"
        )


def _take_goods(line: _Line, *, pending_promotions: dict | None = None) -> dict[str, Any]:
    """What a local reward hands out besides points: a cart promotion (within its limit) or
    coupons of its series. Refuses with ``RewardNotIssued`` having written nothing; returns the
    issue record's fields."""
    if line.reward.type == CatalogueReward.Type.CART_PROMOTION:
        key = (line.payer.customer.pk, line.reward.promotion_id)
        pending = pending_promotions.get(key, 0) if pending_promotions is not None else 0
        _take_promotion(line, pending=pending)
        if pending_promotions is not None:
            pending_promotions[key] = pending + line.item.quantity
        return {"promotion": line.reward.promotion}
    if line.reward.type == CatalogueReward.Type.COUPON:
        try:
            coupons = coupons_disburse(
                pool_id=line.reward.coupon_pool_id,
                org_id=line.org_id,
                holder_id=line.payer.customer.pk,
                count=line.item.quantity,
            )
        except PoolExhausted as exc:
            raise RewardNotIssued(f"coupon series {line.reward.coupon_pool_id} has too few coupons") from exc
        return {
            "coupon_codes": [
                {"code": c.code, "expiry": c.expires_at.strftime("%Y-%m-%d %H:%M:%S") if c.expires_at else None}
                for c in coupons
            ]
        }
    return {}


def _issue_row(line: _Line, ctx: _CallContext, *, reference: str, claim_pk: int | None, **details) -> RewardIssue:
    return RewardIssue(
        org_id=line.org_id,
        points_reference_id=reference,
        customer=line.payer.customer,
        group=line.payer.group,
        group_loyalty_redemption=line.payer.group is not None,
        reward=line.reward,
        payment_config=line.config,
        till_username=ctx.caller.till_username or "",
        requested_quantity=line.item.requested_quantity,
        quantity=line.item.quantity,
        points=line.points,
        redemption_value=line.redemption_value,
        custom_fields=line.item.custom_fields,
        fulfillment_status=line.item.fulfillment_status or "",
        request_id=line.item.request_id,
        idempotency_id=claim_pk,
        event_log_id=ctx.call.event_log_id,
        transaction_number=ctx.call.transaction_number or "",
        notes=line.notes,
        brand=ctx.call.brand or "",
        **details,
    )


def _record(line: _Line, ctx: _CallContext, *, reference: str, claim_pk: int | None, **details) -> RewardIssue:
    issue = _issue_row(line, ctx, reference=reference, claim_pk=claim_pk, **details)
    issue.save(force_insert=True)
    _issue_event(issue, customer=line.payer.customer)
    return issue


@dataclass(frozen=True)
class _CallContext:
    caller: Caller
    call: IssueCallIn


def _issue_local(line: _Line, ctx: _CallContext) -> RewardIssue:
    """POINTS_ONLY, COUPON, CART_PROMOTION, issued on its own: everything in one transaction, locks
    in the order of ``_issue_each`` (requestId, customer, wallet)."""
    reference = _points_reference()
    with transaction.atomic():
        claim_pk = _claim(line, state=IssueRequest.State.DONE)
        details = _take_goods(line)
        _check_line_points(line)
        _pay(line, reference=reference)
        return _record(line, ctx, reference=reference, claim_pk=claim_pk, **details)


def _issue_vendor(line: _Line, ctx: _CallContext) -> RewardIssue:
    """VENDOR, issued on its own: claim the requestId, check its points under the wallet's lock and
    record the pending call (which holds them), then ``_vendor_call_finish``."""
    with transaction.atomic():
        claim_pk = _claim(line, state=IssueRequest.State.PENDING)
        _check_line_points(line)
        call = _vendor_call_open(line, ctx, claim_pk=claim_pk)
    return _vendor_call_finish(line, ctx, call)


def _vendor_call_finish(line: _Line, ctx: _CallContext, call: VendorCall) -> RewardIssue:
    """Call the vendor of an opened (committed, PENDING) call with no transaction open, record its
    voucher, then pay and record (``vendor_call_settle``).

    Each step commits on its own, so a process that dies after the vendor's answer leaves an
    ANSWERED ``VendorCall`` that ``vendor_calls_recover`` settles (points taken, or flagged)."""
    claim_pk = call.claim_id
    try:
        context, answer = vendor_voucher_request(line=line, call=ctx.call)
    except BaseException as exc:
        # a refusal, or a failure before sending, left no voucher; anything else (a timeout, a
        # lost connection, the worker stopped mid-call) may have: a retry is then flagged
        unknown = not isinstance(exc, VendorFailed) or isinstance(exc, VendorUnanswered)
        VendorCall.objects.filter(pk=call.pk).update(
            state=VendorCall.State.FAILED,
            settled_at=timezone.now(),
            partner_may_hold_voucher=unknown,
            note=str(exc)[:255] if isinstance(exc, VendorFailed) else type(exc).__name__,
        )
        _release(claim_pk)
        raise
    _test_crash_point("vendor_answer_unrecorded")
    voucher = str(context["voucher"])[:255]
    VendorCall.objects.filter(pk=call.pk, state__in=[VendorCall.State.PENDING, VendorCall.State.ABANDONED]).update(
        state=VendorCall.State.ANSWERED,
        voucher=voucher,
        vendor_details=context,
        vendor_answer=answer,
        answered_at=timezone.now(),
    )
    if call.retry_of_id is not None:  # staff see which voucher the retry got
        VendorException.objects.filter(vendor_call=call.pk, kind=VendorException.Kind.MAYBE_TWICE).update(
            voucher=voucher, vendor_answer=answer
        )
    _test_crash_point("after_vendor")
    return vendor_call_settle(call_pk=call.pk, reward=line.reward, config=line.config)


def _test_crash_point(name: str) -> None:
    """Test-only: ``REWARDS_TEST_CRASH_AT=<name>`` kills the process here (tests of recovery)."""
    if os.environ.get("REWARDS_TEST_CRASH_AT") == name:
        os._exit(137)


def _vendor_call_open(line: _Line, ctx: _CallContext, *, claim_pk: int | None) -> VendorCall:
    now = timezone.now()
    grace = line.reward.vendor_timeout_ms / 1000 + settings.VENDOR_RECOVERY_MARGIN_SECONDS
    record = {
        "till_username": ctx.caller.till_username or "",
        "request_id": line.item.request_id,
        "event_log_id": ctx.call.event_log_id,
        "transaction_number": ctx.call.transaction_number or "",
        "notes": line.notes,
        "brand": ctx.call.brand or "",
        "custom_fields": line.item.custom_fields,
        "fulfillment_status": line.item.fulfillment_status or "",
    }
    earlier, flag = _vendor_call_earlier(line)
    call = VendorCall.objects.create(
        org_id=line.org_id,
        customer_id=line.payer.customer.pk,
        group_id=line.payer.group.pk if line.payer.group is not None else None,
        wallet_id=line.payer.wallet_id,
        reward_id=line.reward.pk,
        payment_config_id=line.config.pk if line.config is not None else None,
        claim_id=claim_pk,
        request_key=line.request_key or "",
        requested_quantity=line.item.requested_quantity,
        quantity=line.item.quantity,
        points=line.points,
        redemption_value=line.redemption_value,
        record=record,
        stale_after=now + timedelta(seconds=grace),
        retry_of=earlier,
        staff_flag=flag,
    )
    if earlier is not None:
        VendorException.objects.create(
            org_id=call.org_id,
            kind=VendorException.Kind.MAYBE_TWICE,
            vendor_call=call,
            customer_id=call.customer_id,
            group_id=call.group_id,
            reward_id=call.reward_id,
            quantity=call.quantity,
            points=call.points,
            reason=flag,
            request_id=line.item.request_id,
            transaction_number=record["transaction_number"],
        )
    return call


def _vendor_call_earlier(line: _Line) -> tuple[VendorCall | None, str]:
    """The latest earlier call of the line's requestId that may have left a voucher at the partner
    (``partner_may_hold_voucher``), and the staff flag of the retry that calls the partner again."""
    if line.request_key is None:
        return None, ""
    earlier = (
        VendorCall.objects.filter(org_id=line.org_id, request_key=line.request_key, partner_may_hold_voucher=True)
        .order_by("-pk")
        .first()
    )
    if earlier is None:
        return None, ""
    voucher = f" (voucher {earlier.voucher})" if earlier.voucher else ""
    flag = (
        f"requestId retried after vendor call {earlier.pk} was {earlier.state}{voucher}: a voucher may exist at the "
        "partner for it; two vouchers if the partner does not de-duplicate requestIds"
    )
    return earlier, flag[:255]


_SETTLE_SQL = (
    "UPDATE catalogue_vendorcall SET state = 'DONE', settled_at = %s WHERE id = %s AND state = 'ANSWERED' RETURNING id"
)


def vendor_call_settle(*, call_pk: int, reward: CatalogueReward | None = None, config=None) -> RewardIssue:
    """Pay for and record the voucher of an ANSWERED vendor call, once (its row lock decides).

    Raises ``PointsGone`` when the points went meanwhile: the call is FLAGGED and the voucher
    recorded as a ``VendorException`` for staff. Raises ``RewardNotIssued`` when the call is not
    ANSWERED (settled by someone else)."""
    call = VendorCall.objects.get(pk=call_pk)
    reference = _points_reference()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(_SETTLE_SQL, [connection.ops.adapt_datetimefield_value(timezone.now()), call_pk])
                if cursor.fetchone() is None:
                    settled = VendorCall.objects.filter(pk=call_pk, issue__isnull=False).values_list("issue", flat=True)
                    if settled:  # the recovery job settled it while this call was slow: its issue
                        return _with_details(RewardIssue.objects.get(pk=settled[0]), reward, config)
                    raise RewardNotIssued(f"vendor call {call_pk} is {call.state}, not waiting to be paid")
            if call.points > 0:
                if call.wallet_id is None:
                    raise InsufficientBalance(wallet_id=None, delta=-call.points)
                wallet_post(
                    wallet=Wallet(pk=call.wallet_id, org_id=call.org_id),
                    delta=-call.points,
                    kind=LedgerEntry.Kind.ISSUE,
                    reference=reference,
                    memo=f"reward {call.reward_id} x{call.quantity}",
                )
            issue = RewardIssue(
                org_id=call.org_id,
                points_reference_id=reference,
                customer_id=call.customer_id,
                group_id=call.group_id,
                group_loyalty_redemption=call.group_id is not None,
                reward_id=call.reward_id,
                payment_config_id=call.payment_config_id,
                requested_quantity=call.requested_quantity,
                quantity=call.quantity,
                points=call.points,
                redemption_value=call.redemption_value,
                voucher=call.voucher,
                vendor_details=call.vendor_details,
                idempotency_id=call.claim_id,
                **call.record,
            )
            issue.save(force_insert=True)
            VendorCall.objects.filter(pk=call_pk).update(issue=issue)
            if call.claim_id is not None:
                IssueRequest.objects.filter(pk=call.claim_id).update(state=IssueRequest.State.DONE)
            _issue_event(issue, customer=call.customer)
    except InsufficientBalance as exc:
        _vendor_call_flag(call, reason="insufficient points: spent by another call meanwhile")
        raise PointsGone("insufficient points: spent by another call meanwhile") from exc
    return _with_details(issue, reward, config)


def _with_details(issue: RewardIssue, reward: CatalogueReward | None, config) -> RewardIssue:
    """The issue with the reward and payment config the caller holds already (no reads for the answer)."""
    if reward is not None:
        issue.reward = reward
    if config is not None:
        issue.payment_config = config
    return issue


def _vendor_call_flag(call: VendorCall, *, reason: str) -> None:
    with transaction.atomic():
        if not VendorCall.objects.filter(pk=call.pk, state=VendorCall.State.ANSWERED).update(
            state=VendorCall.State.FLAGGED, settled_at=timezone.now(), note=reason[:255], partner_may_hold_voucher=True
        ):
            return
        VendorException.objects.create(
            org_id=call.org_id,
            vendor_call_id=call.pk,
            customer_id=call.customer_id,
            group_id=call.group_id,
            reward_id=call.reward_id,
            quantity=call.quantity,
            points=call.points,
            voucher=call.voucher,
            vendor_answer=call.vendor_answer if call.vendor_answer is not None else {},
            reason=reason[:255],
            request_id=call.record.get("request_id"),
            transaction_number=call.record.get("transaction_number") or "",
        )
        _release(call.claim_id)


def vendor_calls_recover(*, now=None) -> dict:
    """Settle vendor calls left open past ``stale_after`` by a process that died.

    ANSWERED (the partner's voucher is recorded): take the points and record the issue, or flag
    it for staff (``VendorException``) when the points are gone. PENDING (no answer recorded, so
    no voucher was recorded): ABANDONED, and its requestId released for a retry, which is flagged
    for staff (the partner may have issued a voucher to the dead call).
    """
    now = now or timezone.now()
    stale = list(
        VendorCall.objects.filter(
            state__in=[VendorCall.State.PENDING, VendorCall.State.ANSWERED], stale_after__lt=now
        ).values_list("pk", "state", "claim_id")
    )
    outcome = {"completed": 0, "flagged": 0, "abandoned": 0}
    for pk, state, claim_pk in stale:
        if state == VendorCall.State.PENDING:
            with transaction.atomic():
                if VendorCall.objects.filter(pk=pk, state=VendorCall.State.PENDING).update(
                    state=VendorCall.State.ABANDONED,
                    settled_at=now,
                    note="no vendor answer recorded",
                    partner_may_hold_voucher=True,  # it died mid-call: the partner may have answered
                ):
                    _release(claim_pk)
                    outcome["abandoned"] += 1
            continue
        try:
            vendor_call_settle(call_pk=pk)
            outcome["completed"] += 1
        except PointsGone:
            outcome["flagged"] += 1
        except RewardNotIssued:
            pass  # settled meanwhile by the call itself
    return outcome


def _issue_event(issue: RewardIssue, *, customer: Customer) -> None:
    event_emit(org_id=issue.org_id, kind=EventKind.ISSUE, payload=_issue_payload(issue, customer=customer))


def _issue_payload(issue: RewardIssue, *, customer: Customer) -> dict:
    return {
        "transactionId": issue.pk,
        "rewardId": issue.reward_id,
        "customer": customer_ref(customer),
        "groupId": issue.group_id,
        "quantity": issue.quantity,
        "points": issue.points,
        "pointsReferenceId": issue.points_reference_id,
        "requestId": issue.request_id,
        "transactionNumber": issue.transaction_number,
        "couponCodes": [c["code"] for c in issue.coupon_codes],
        "promotionId": issue.promotion_id,
        "voucher": issue.voucher or None,
    }


class _OneByOne(Exception):
    """The one-transaction path met what the reward-by-reward path handles: a requestId seen
    before or held by a concurrent call, or points spent meanwhile. Raised inside the
    transaction, so nothing of it stays."""


def _claim_all(lines: list[_Line], *, taken_ok: bool = False) -> dict[int, int]:
    """Claim every line's requestId in one statement (sorted by key, so two calls claiming the
    same ids wait for each other instead of deadlocking); {line index: claim id}. A requestId
    held by another call raises ``_OneByOne``, or with ``taken_ok`` is left out of the answer.
    A VENDOR line's claim is PENDING (held across the partner call), the others' DONE."""
    keyed = sorted((line for line in lines if line.request_key is not None), key=lambda ln: (ln.org_id, ln.request_key))
    if not keyed:
        return {}
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = []
    for line in keyed:
        state = IssueRequest.State.PENDING if _is_vendor(line) else IssueRequest.State.DONE
        params += [line.org_id, line.request_key, line.item.request_id, line.payload_hash, state, now]
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL.format(values=", ".join([_CLAIM_ROW] * len(keyed))), params)
        claimed = {(org_id, key): pk for org_id, key, pk in cursor.fetchall()}
    if len(claimed) < len(keyed) and not taken_ok:
        raise _OneByOne
    return {
        line.index: claimed[(line.org_id, line.request_key)]
        for line in keyed
        if (line.org_id, line.request_key) in claimed
    }


def _is_vendor(line: _Line) -> bool:
    return line.reward.type == CatalogueReward.Type.VENDOR


def _lock_promotion_holders(lines: list[_Line], *, at_least: int = 2) -> None:
    """Lock, in id order, every customer whose cart-promotion limit the call checks: two calls
    paying from customers of two orgs in opposite orders then wait instead of deadlocking.
    ``at_least``: the fewest holders worth a statement (one alone is locked by its own check, unless
    the caller locks wallets before that check: then 1, so customers come before wallets)."""
    holders = sorted(
        {
            line.payer.customer.pk
            for line in lines
            if line.reward.type == CatalogueReward.Type.CART_PROMOTION
            and line.reward.promotion.max_per_customer is not None
        }
    )
    if len(holders) >= at_least:
        list(Customer.objects.select_for_update().filter(pk__in=holders).order_by("pk").values_list("pk", flat=True))


def _points_short(lines: list[_Line]) -> None:
    """A debit refused: raise ``InsufficientPoints`` with the balances as they are now (locked)."""
    _lock_payers(lines)
    _check_redeemable(lines)


def _issue_together(lines: list[_Line], ctx: _CallContext) -> list[dict]:
    """Issue a call of local rewards (no vendor) in one transaction: claim the requestIds, hand
    out each reward's coupons or promotion (a reward that cannot have them fails alone, having
    written nothing but its claim, which goes), then one debit per paying wallet with one
    ledger entry per reward, then the issue records. Same outcome as issuing reward by reward,
    in a fraction of the round trips. Each wallet's debit refuses unless the points of the whole
    call are there (``require``: isRedeemable under the lock, in the same statement); then the
    call fails with ``InsufficientPoints``, nothing written. Raises ``_OneByOne`` (nothing
    written) for the rare cases the reward-by-reward path handles."""
    results: dict[int, dict] = {}
    todo = []
    for line in lines:
        if line.failure is not None:
            results[line.index] = failure_result(line, line.failure, ctx)
        else:
            todo.append(line)
    with transaction.atomic():
        claims = _claim_all(todo)
        _lock_promotion_holders(todo)
        goods: dict[int, dict] = {}
        pending_promotions: dict[tuple, int] = {}
        for line in todo:
            try:
                goods[line.index] = _take_goods(line, pending_promotions=pending_promotions)
            except RewardNotIssued as exc:
                results[line.index] = failure_result(line, exc, ctx)
                if line.index in claims:  # the reward was not issued: its requestId stays free
                    IssueRequest.objects.filter(pk=claims.pop(line.index)).delete()
        issued = [line for line in todo if line.index in goods]
        references = {line.index: _points_reference() for line in issued}
        paying: dict[int, list[_Line]] = {}
        for line in issued:
            if line.points > 0:
                if line.payer.wallet_id is None:
                    raise _OneByOne
                paying.setdefault(line.payer.wallet_id, []).append(line)
        # isRedeemable under the lock: each wallet's debit (or, if nothing of it was issued, a
        # locked read) refuses unless the points of the whole call are there, in wallet id order
        needed = _points_by_wallet(lines)
        for wallet_id in sorted(paying.keys() | needed.keys()):
            wallet_lines = paying.get(wallet_id)
            if not wallet_lines:
                enough = Wallet.objects.select_for_update().filter(pk=wallet_id, balance__gte=needed[wallet_id])
                if enough.values_list("pk", flat=True).first() is None:
                    _points_short(lines)  # raises, unless the points came back meanwhile
                continue
            postings = [
                Posting(
                    delta=-line.points,
                    kind=LedgerEntry.Kind.ISSUE,
                    reference=references[line.index],
                    memo=f"reward {line.reward.pk} x{line.item.quantity}",
                )
                for line in wallet_lines
            ]
            try:
                wallet_post_many(
                    wallet=Wallet(pk=wallet_id, org_id=wallet_lines[0].org_id),
                    postings=postings,
                    require=needed.get(wallet_id),
                )
            except InsufficientBalance as exc:
                _points_short(lines)
                raise _OneByOne from exc
        issues = RewardIssue.objects.bulk_create(
            [
                _issue_row(
                    line, ctx, reference=references[line.index], claim_pk=claims.get(line.index), **goods[line.index]
                )
                for line in issued
            ]
        )
        events_emit(
            events=[
                (issue.org_id, EventKind.ISSUE, _issue_payload(issue, customer=line.payer.customer))
                for line, issue in zip(issued, issues, strict=True)
            ]
        )
    for line, issue in zip(issued, issues, strict=True):
        results[line.index] = issue_result(issue)
    return [results[line.index] for line in lines]


def _issue_each(lines: list[_Line], ctx: _CallContext) -> list[dict]:
    """Issue the call reward by reward (vendor rewards, validation codes, requestIds seen before),
    with its isRedeemable check made under the paying wallets' locks.

    Lock order (every issue path takes its locks in this order, inside one transaction, so two
    calls wait for each other instead of deadlocking): the requestId claims (``IssueRequest``
    rows, in one statement sorted by org and key), then the customers whose cart-promotion limits
    the call checks (sorted by customer id), then the paying wallets (``wallets_wallet`` rows,
    sorted by wallet id, across orgs, group wallets included); coupons come last and are never
    waited for (SKIP LOCKED). Under the wallets' locks the points of the whole call are checked
    (balance less the points held by open vendor calls) and the local rewards are issued, each in
    its own savepoint (one failing does not undo the others); a VENDOR reward's ``VendorCall`` is
    opened PENDING in that transaction, holding its points, so the next call sees them as spent.
    The locks go with the commit, before any vendor is called; the partner's voucher is then paid
    from the held points (``vendor_call_settle``, as before). A requestId another call holds is
    left to ``_issue_line`` after the commit (it waits for that call without holding a lock).
    """
    results: dict[int, dict] = {}
    todo = []
    for line in lines:
        if line.failure is not None:
            results[line.index] = failure_result(line, line.failure, ctx)
        elif line.replay is not None:
            results[line.index] = issue_result(line.replay)
        else:
            todo.append(line)
    opened: list[tuple[_Line, VendorCall]] = []
    with transaction.atomic():
        claims = _claim_all(todo, taken_ok=True)
        held_elsewhere = [line for line in todo if line.request_key is not None and line.index not in claims]
        for line in held_elsewhere:
            line.seen_before = True  # its requestId is another call's: that call pays for it
        _lock_promotion_holders(todo, at_least=1)
        _lock_payers(lines)
        _check_redeemable(lines)
        for line in todo:
            if line in held_elsewhere:
                continue
            claim_pk = claims.get(line.index)
            if _is_vendor(line):
                opened.append((line, _vendor_call_open(line, ctx, claim_pk=claim_pk)))
                continue
            reference = _points_reference()
            try:
                with transaction.atomic():
                    details = _take_goods(line)
                    _pay(line, reference=reference)
                    issue = _record(line, ctx, reference=reference, claim_pk=claim_pk, **details)
                results[line.index] = issue_result(issue)
            except RewardNotIssued as exc:
                results[line.index] = failure_result(line, exc, ctx)
                if claim_pk is not None:  # the reward was not issued: its requestId stays free
                    IssueRequest.objects.filter(pk=claim_pk).delete()
    for line, call in opened:
        try:
            results[line.index] = issue_result(_vendor_call_finish(line, ctx, call))
        except RewardNotIssued as exc:
            results[line.index] = failure_result(line, exc, ctx)
    for line in held_elsewhere:
        results[line.index] = _issue_line(line, ctx)
    return [results[line.index] for line in lines]


def _issue_line(line: _Line, ctx: _CallContext) -> dict:
    if line.failure is not None:
        return failure_result(line, line.failure, ctx)
    if line.replay is not None:
        return issue_result(line.replay)
    deadline = time.monotonic() + line.reward.vendor_timeout_ms / 1000 + 5
    issue_once = _issue_vendor if line.reward.type == CatalogueReward.Type.VENDOR else _issue_local
    while True:
        try:
            return issue_result(issue_once(line, ctx))
        except RewardNotIssued as exc:
            return failure_result(line, exc, ctx)
        except _RequestIdTaken:
            request = IssueRequest.objects.filter(org_id=line.org_id, request_key=line.request_key).first()
            if request is not None and request.payload_hash != line.payload_hash:
                return failure_result(line, RequestIdTaken("requestId was used meanwhile for another payload"), ctx)
            if request is not None and request.state == IssueRequest.State.DONE:
                return issue_result(selectors.reward_issue_with_details(request_pk=request.pk))
            if time.monotonic() > deadline:
                return failure_result(line, RewardNotIssued("a call with this requestId is still being issued"), ctx)
            if request is not None:  # PENDING: the other call is waiting for its vendor
                time.sleep(_PENDING_POLL_SECONDS)
            # else the other call failed and let the requestId go: try to issue it here


# --- vendor ----------------------------------------------------------------------------------

_vendor_client: httpx.Client | None = None


def _client() -> httpx.Client:
    global _vendor_client
    if _vendor_client is None:
        _vendor_client = httpx.Client(follow_redirects=False, trust_env=False)
    return _vendor_client


def _dig(document: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(document, dict):
            document = document.get(part)
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return None
    return document


# Errors raised before the request could reach the vendor; any other means it may have.
_VENDOR_NOT_REACHED = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
)


def vendor_voucher_request(*, line: _Line, call: IssueCallIn) -> tuple[dict, Any]:
    """POST to the reward's vendor; (context values by name, the answer) when it answered HTTP 200
    with a non-empty voucher at ``context_map["voucher"]``, else ``VendorFailed``."""
    reward = line.reward
    customer = line.payer.customer
    payload = {
        "rewardId": reward.pk,
        "rewardName": reward.name,
        "orgId": line.org_id,
        "quantity": line.item.quantity,
        "requestId": line.item.request_id,
        "transactionNumber": call.transaction_number,
        "customer": {"externalId": customer.external_id, "mobile": customer.mobile, "email": customer.email},
        "params": line.params,
    }
    try:
        response = _client().post(reward.vendor_url, json=payload, timeout=reward.vendor_timeout_ms / 1000)
    except (*_VENDOR_NOT_REACHED, httpx.InvalidURL, ValueError) as exc:
        raise VendorFailed(f"vendor {reward.vendor_name or reward.vendor_url} failed: {type(exc).__name__}") from exc
    except httpx.HTTPError as exc:  # sent, or partly: the vendor may have acted on it
        raise VendorUnanswered(
            f"vendor {reward.vendor_name or reward.vendor_url} did not answer: {type(exc).__name__}"
        ) from exc
    if response.status_code != 200:
        raise VendorFailed(f"vendor {reward.vendor_name} answered HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError as exc:
        raise VendorFailed(f"vendor {reward.vendor_name} answered no JSON") from exc
    context_map = reward.vendor_context_map if isinstance(reward.vendor_context_map, dict) else {}
    context = {name: _dig(answer, str(path)) for name, path in context_map.items()}
    voucher = context.get("voucher")
    if isinstance(voucher, bool) or not isinstance(voucher, (str, int)) or not str(voucher).strip():
        raise VendorFailed(f"vendor {reward.vendor_name} answered no voucher")
    return context, answer


# --- validation codes ------------------------------------------------------------------------


def _code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def validation_code_issue(*, customer: Customer) -> tuple[str, int]:
    """A 6-digit single-use code that lets the customer's points be spent; (code, seconds valid)."""
    ttl = settings.VALIDATION_CODE_TTL_SECONDS
    code = f"{secrets.randbelow(1_000_000):06d}"
    ValidationCode.objects.create(
        org_id=customer.org_id,
        customer=customer,
        code_digest=_code_digest(code),
        expires_at=timezone.now() + timedelta(seconds=ttl),
    )
    return code, ttl


def _validation_code_consume(*, code: str | None, lines: list[_Line]) -> None:
    if not code:
        raise InvalidValidationCode("validationCode is required unless skip_validation=true")
    owners = Q()
    for payer in {id(line.payer): line.payer for line in lines}.values():
        owners |= Q(org_id=payer.org_id, customer_id=payer.customer.pk)
    now = timezone.now()
    usable = ValidationCode.objects.filter(owners, code_digest=_code_digest(code), used_at__isnull=True)
    pk = usable.filter(expires_at__gt=now).values_list("pk", flat=True).first()
    if pk is None or not ValidationCode.objects.filter(pk=pk, used_at__isnull=True).update(used_at=now):
        raise InvalidValidationCode("validationCode is wrong, used or expired")


# --- the call --------------------------------------------------------------------------------


def rewards_issue(*, caller: Caller, scope: frozenset[int], call: IssueCallIn, skip_validation: bool) -> IssueOutcome:
    """Issue the call's rewards (see the module's docstring). Raises ``IssueError`` / ``OutOfScope``
    when the call fails as a whole; per-reward failures are in the outcome."""
    lines = _resolve(caller=caller, scope=scope, call=call)
    ctx = _CallContext(caller=caller, call=call)
    # Fast path: one transaction, requestIds claimed rather than looked up first. Not for vendor
    # rewards (no transaction around a partner call), nor with a validation code (spent only
    # once every check of the whole call has passed, which here ends inside the transaction).
    if skip_validation and not any(line.reward.type == CatalogueReward.Type.VENDOR for line in lines):
        try:
            _check_redeemable(lines)
            return _outcome(_issue_together(lines, ctx))
        except InsufficientPoints:
            if not any(line.request_key for line in lines):
                raise
            # replayed rewards cost no points: check again once the seen requestIds are known
        except _OneByOne:
            pass  # a requestId seen before or held by another call, or points spent meanwhile
    _match_seen_requests(lines)
    _check_redeemable(lines)  # refuses early; checked again under the wallets' locks
    if not skip_validation:
        _validation_code_consume(code=call.validation_code, lines=lines)
    return _outcome(_issue_each(lines, ctx))


def _outcome(results: list[dict]) -> IssueOutcome:
    issued = sum(1 for r in results if r["status"]["success"])
    if issued == len(results):
        return IssueOutcome(200, {"status": SUCCESS, "rewards": results})
    if issued:
        return IssueOutcome(200, {"status": PARTIAL, "rewards": results})
    if all(r["status"]["code"] == PointsGone.code for r in results):
        status = {
            "success": False,
            "code": InsufficientPoints.code,
            "message": "insufficient points",
            "partnerError": {
                "codes": [InsufficientPoints.partner_code],
                "messages": [r["status"]["message"] for r in results],
            },
        }
        return IssueOutcome(400, {"status": status, "rewards": results})
    return IssueOutcome(400, {"status": FAILED, "rewards": results})


# --- the answer of one reward ----------------------------------------------------------------


def _points_text(points: Decimal) -> str:
    """Points as the seed writes them: "2", or "2.50" when not whole."""
    return str(int(points)) if points == points.to_integral_value() else str(points.quantize(Decimal("0.01")))


def json_number(value: Decimal | None):
    """A ratio or value as a JSON number, as the seed has them. Exact: these have at most 15
    significant digits, which a double's shortest representation reproduces digit for digit."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _config_out(config: PaymentConfig | None) -> dict | None:
    if config is None:
        return None
    if config.mode == PaymentConfig.Mode.CONV_RATIO:
        return {"paymentMode": config.mode, "id": config.pk, "conversionRatio": json_number(config.conversion_ratio)}
    return {"paymentMode": config.mode, "id": config.pk, "points": json_number(config.points)}


def issue_result(issue: RewardIssue) -> dict:
    """The response entry of an issued reward, the same on a replay."""
    reward, points = issue.reward, _points_text(issue.points)
    intouch = None
    if issue.coupon_codes:
        first = issue.coupon_codes[0]
        intouch = {"pointsRedeemed": points, "couponCode": first["code"], "codeExpiry": first["expiry"]}
        if len(issue.coupon_codes) > 1:
            intouch["couponCodes"] = [c["code"] for c in issue.coupon_codes]
    promotions = []
    if issue.promotion_id is not None:
        promotions = [{"promotionId": issue.promotion.code, "pointsRedeemed": points}]
    vendor = []
    if reward.type == CatalogueReward.Type.VENDOR:
        vendor = [{**issue.vendor_details, "pointsRedeemed": points, "offer_name": reward.vendor_name}]
    return {
        "status": SUCCESS,
        "orgId": issue.org_id,
        "transactionId": issue.pk,
        "rewardId": issue.reward_id,
        "requestedQuantity": issue.requested_quantity,
        "quantity": issue.quantity,
        "pointsReferenceId": issue.points_reference_id,
        "pointsReferenceIds": [issue.points_reference_id],
        "eventLogId": issue.event_log_id,
        "requestId": issue.request_id,
        "intouch": intouch,
        "promotions": promotions,
        "vendor": vendor,
        "restrictions": None,
        "paymentConfig": _config_out(issue.payment_config),
        "fulfillmentDetails": {"status": issue.fulfillment_status} if issue.fulfillment_status else None,
        "customFields": issue.custom_fields or None,
        "redemptionDetails": {
            "redemptionType": reward.redemption_type,
            "totalRedemptionValue": json_number(issue.redemption_value),
        },
    }


def failure_result(line: _Line, error: RewardNotIssued, ctx: _CallContext) -> dict:
    return {
        "status": {"success": False, "code": error.code, "message": str(error)},
        "orgId": line.org_id,
        "transactionId": None,
        "rewardId": line.reward.pk,
        "requestedQuantity": line.item.requested_quantity,
        "quantity": 0,
        "pointsReferenceId": None,
        "pointsReferenceIds": [],
        "eventLogId": ctx.call.event_log_id,
        "requestId": line.item.request_id,
        "intouch": None,
        "promotions": [],
        "vendor": [],
        "restrictions": None,
        "paymentConfig": _config_out(line.config),
        "fulfillmentDetails": None,
        "customFields": None,
        "redemptionDetails": None,
    }


# --- Back office: revoking an issued reward --------------------------------------------------


def reward_issue_revoke(*, reward_issue_id: int, reason: str, staff_user) -> RewardIssueRevocation:
    """Revoke an issued reward (Capillary's revoke), in one transaction: status CANCELLED, its
    points refunded to the wallet that paid (a REVERSAL ledger entry), its coupons voided.

    Revoking twice is impossible: the status moves ISSUED -> CANCELLED in one conditional
    UPDATE (a concurrent second revocation finds no ISSUED row), and the revocation record is
    unique per issue. A vendor voucher cannot be taken back from the vendor: it is recorded
    as revoked, and staff settle with the vendor.
    """
    reason = staff_reason(reason)
    with transaction.atomic():
        issue = RewardIssue.objects.select_related("reward").filter(pk=reward_issue_id).first()
        if issue is None:
            raise OperationRefused(f"no issued reward {reward_issue_id}")
        cancelled = RewardIssue.objects.filter(pk=issue.pk, status=RewardIssue.Status.ISSUED).update(
            status=RewardIssue.Status.CANCELLED
        )
        if not cancelled:
            raise AlreadyReversed(f"issued reward {issue.pk} has been revoked already")
        entry = None
        if issue.points > 0:
            owner = {"group_id": issue.group_id} if issue.group_id else {"customer_id": issue.customer_id}
            wallet = Wallet.objects.filter(org_id=issue.org_id, kind=Wallet.Kind.POINTS, **owner).first()
            if wallet is None:
                raise OperationRefused("the wallet that paid for this reward no longer exists")
            entry = wallet_post(
                wallet=wallet,
                delta=issue.points,
                kind=LedgerEntry.Kind.REVERSAL,
                reference=f"revoke:{issue.points_reference_id}",
                memo=f"reward {issue.reward_id} x{issue.quantity} revoked"[:255],
            )
        voided = 0
        codes = [item["code"] for item in issue.coupon_codes or [] if isinstance(item, dict) and "code" in item]
        if codes:
            voided = Coupon.objects.filter(
                org_id=issue.org_id,
                pool_id=issue.reward.coupon_pool_id,
                code__in=codes,
                holder_id=issue.customer_id,
                status=Coupon.Status.ISSUED,
            ).update(status=Coupon.Status.VOID)
        revocation = RewardIssueRevocation.objects.create(
            org_id=issue.org_id,
            issue=issue,
            reason=reason,
            staff_user=staff_user,
            staff_username=staff_user.get_username(),
            points=issue.points,
            ledger_entry=entry,
            coupons_voided=voided,
        )
        payload = {
            "of": "issue",
            "revocationId": revocation.pk,
            "transactionId": issue.pk,
            "pointsReferenceId": issue.points_reference_id,
            "rewardId": issue.reward_id,
            "customerId": issue.customer_id,
            "groupId": issue.group_id,
            "points": issue.points,
            "couponsVoided": voided,
            "ledgerEntry": entry.pk if entry is not None else None,
            "reason": reason,
            "staff": staff_user.get_username(),
        }
        event_emit(org_id=issue.org_id, kind=EventKind.REVERSAL, payload=payload)
        return revocation
