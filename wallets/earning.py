"""Earning rewards: conversion events paid by campaign rules, and the review life cycle.

The only writer of an earned reward's review status and of coupon hand-outs for earned rewards
(through ``coupons.services``). A conversion creates all its rewards in one transaction; its
``tskey`` is claimed by a unique constraint (``core.idempotency.keys_claim``: a concurrent repeat
waits for the first and then answers what it answered); a rule's ``per_user`` limit is one upsert
on ``RuleUsage`` that refuses past the limit (the row lock serialises racers).
Lock order everywhere: the tskey claim, rule usages in rule id order, earned rewards by
``earned_at, id`` (as Redeem Rewards), then coupons (SKIP LOCKED: never waited for).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from core.errors import DomainError
from core.idempotency import keys_claim
from core.money import MONEY_PLACES, ZERO
from coupons.errors import PoolExhausted
from coupons.selectors import campaign_pool_ids
from coupons.services import coupons_disburse
from events.outbox import customer_ref, events_emit, events_written
from orgs.errors import NotEligible, UnknownUser, UnknownUserKey
from orgs.models import Campaign, Customer, EventKind
from orgs.selectors import (
    campaign_is_eligible,
    campaign_named,
    customer_key,
    customer_segment_ids,
    growth_hack_named,
)

from . import sql
from .errors import AlreadyRedeemed, TransactionValueRequired, UnknownReward
from .models import CampaignRule, ConversionEvent, EarnedReward, RuleSide
from .selectors import rules_for_event

AUTOMATIC_COUPONS = (Campaign.CouponDistribution.BY_EVENT, Campaign.CouponDistribution.BY_ORDER)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class ConversionInput:
    event_name: str
    transaction_value: Decimal | None = None
    transaction_unit: str = ""
    extra_info: str = ""
    tskey: str | None = None
    campaign_code: str | None = None
    growth_hack: str | None = None  # the name as sent (checked after the user)


@dataclass(frozen=True)
class RewardLine:
    """One reward a conversion created, as its answer lists it (kept for repeats of the tskey)."""

    code: str
    campaign_code: str
    beneficiary: str
    user_key: str
    amount: Decimal | None
    review_status: str
    redeemed: bool

    def stored(self) -> dict:
        return {**self.__dict__, "amount": None if self.amount is None else str(self.amount)}

    @classmethod
    def from_stored(cls, data: dict) -> RewardLine:
        return cls(**{**data, "amount": None if data["amount"] is None else Decimal(data["amount"])})


@dataclass(frozen=True)
class ConversionResult:
    rewards: list[RewardLine]
    replayed: bool = False


def share_of(*, side: RuleSide, transaction_value: Decimal | None) -> Decimal | None:
    """What one rule side pays: its fixed amount, or its percent of the value half-up to cents,
    never above its cap. None for a coupon side."""
    if side.coupon:
        return None
    if side.amount is not None:
        return side.amount
    amount = (transaction_value * side.percent / HUNDRED).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)
    return min(amount, side.cap) if side.cap is not None else amount


_USAGE_TAKE = """
    INSERT INTO wallets_ruleusage (org_id, rule_id, customer_id, count) VALUES (%s, %s, %s, 1)
    ON CONFLICT (rule_id, customer_id) DO UPDATE SET count = wallets_ruleusage.count + 1
     WHERE wallets_ruleusage.count < %s
    RETURNING count
"""


@dataclass(frozen=True)
class Party:
    """The user of a conversion, or its referrer, as the rules and the events need them: read in
    the call's first statement, never a model."""

    pk: int
    org_id: int
    external_id: str
    email: str | None
    mobile: str | None
    user_key: uuid.UUID
    name: str
    blocked: bool
    segment_ids: frozenset[int]
    referrer_id: int | None = None


@dataclass(frozen=True)
class _Parties:
    customer: Party
    referrer: Party | None
    conversion_id: int | None  # allocated in the same statement (the one-statement path)


@dataclass
class _Planned:
    number: int  # its place in the plan: the reward's code is av-<conversion>-<number>
    rule: CampaignRule
    beneficiary: str
    who: Party
    amount: Decimal | None

    @property
    def review_status(self) -> str:
        return EarnedReward.Review.UNDER_REVIEW if self.rule.review_days > 0 else EarnedReward.Review.APPROVED


def conversion_register(*, org_id: int, kind: str, value: str, conversion: ConversionInput) -> ConversionResult:
    """Record a conversion event of the org's user with this identifier and create what the
    matching rules pay, at once.

    Checks, in the contract's order: the user (``UnknownUserKey`` / ``UnknownUser``), the growth
    hack (``UnknownGrowthHack``; ``conversion.growth_hack`` is the name as sent), the campaign
    named (``UnknownCampaign``), the user's eligibility for it and not blocked (``NotEligible``),
    a transaction value when a matching rule pays a percentage (``TransactionValueRequired``).
    A repeat of a ``tskey`` answers the first call's answer, whatever its body. Each active
    campaign the user is eligible for whose rule matches pays: the referrer and the friend
    (Word_of_Mouth, only when the user has a referrer), or the user (Loyalty_Program); within the
    rule's ``per_user``. A refusal writes nothing.

    On PostgreSQL a call is two round trips: one read (the user, the referrer, their segments,
    the conversion's id) and one call of ``wallets_conversion_register`` (migration 0009), which
    claims the tskey, takes the rules' usages, writes the rewards, the answer and the events in
    its one transaction. Coupons handed out at once, and other databases, go step by step
    (``_register_stepwise``), with the same outcome.
    """
    statements = sql.CONVERSION.get(connection.vendor)
    parties = _parties(org_id=org_id, kind=kind, value=value, statement=statements and statements["parties"])
    customer = parties.customer
    try:
        rules = _rules(customer=customer, conversion=conversion)
    except DomainError:
        if conversion.tskey is not None:  # a repeat answers as the first call did, whatever its body
            earlier = _replay_if_taken(customer=customer, conversion=conversion)
            if earlier is not None:
                return earlier
        raise
    now = timezone.now()
    planned = _plan(parties=parties, rules=rules, conversion=conversion)
    if statements and parties.conversion_id is not None and not any(_hands_out_coupon(p) for p in planned):
        return _register_in_one_statement(
            parties=parties, planned=planned, conversion=conversion, now=now, statement=statements["register"]
        )
    return _register_stepwise(customer=customer, planned=planned, conversion=conversion, now=now)


def _parties(*, org_id: int, kind: str, value: str, statement: str | None) -> _Parties:
    """The user (``UnknownUserKey`` / ``UnknownUser`` if none) and its referrer, with their segments."""
    key = customer_key(kind=kind, value=value)
    row = None
    if key is not None and statement is not None:
        with connection.cursor() as cursor:
            cursor.execute(statement.format(column=key[0]), {"org": org_id, "value": key[1]})
            row = cursor.fetchone()
        if row is not None:
            customer = Party(*row[:8], frozenset(row[9]), referrer_id=row[8])
            referrer = Party(row[8], org_id, *row[10:16], frozenset(row[16])) if row[8] is not None else None
            return _Parties(customer=customer, referrer=referrer, conversion_id=row[17])
    elif key is not None:
        found = Customer.objects.filter(org_id=org_id, **{key[0]: key[1]}).first()
        if found is not None:
            referrer = Customer.objects.filter(pk=found.referrer_id).first() if found.referrer_id else None
            return _Parties(customer=_party(found), referrer=referrer and _party(referrer), conversion_id=None)
    raise (UnknownUserKey if kind == "user_key" else UnknownUser)(identifier=value)


def _party(customer: Customer) -> Party:
    shown = (getattr(customer, name) for name in ("pk", "org_id", "external_id", "email", "mobile", "user_key"))
    segments = frozenset(customer_segment_ids(customer=customer))
    return Party(*shown, customer.name, customer.blocked, segments, referrer_id=customer.referrer_id)


def _rules(*, customer: Party, conversion: ConversionInput) -> list[CampaignRule]:
    """The rules that may pay for this event (the process's cached copy): the checks after the user."""
    growth_hack = growth_hack_named(conversion.growth_hack) if conversion.growth_hack is not None else None
    code = conversion.campaign_code
    campaign = campaign_named(org_id=customer.org_id, code=code) if code is not None else None
    if customer.blocked or (
        campaign is not None
        and not campaign_is_eligible(campaign=campaign, customer=customer, segment_ids=customer.segment_ids)
    ):
        raise NotEligible(campaign=conversion.campaign_code)
    rules = [
        rule
        for rule in rules_for_event(org_id=customer.org_id, event_name=conversion.event_name)
        if (campaign is None or rule.campaign_id == campaign.pk)
        and (growth_hack is None or rule.campaign.growth_hack == growth_hack)
    ]
    if conversion.transaction_value is None and any(
        side is not None and side.percent is not None
        for rule in rules
        for side in (rule.side(name) for name in CampaignRule.SIDES)
    ):
        raise TransactionValueRequired(event=conversion.event_name)
    return rules


def _replay_if_taken(*, customer: Party, conversion: ConversionInput) -> ConversionResult | None:
    """A call refused by its checks still answers the first call's answer when its tskey is taken
    (waiting for a concurrent first call): the claim, rolled back at once if it was free."""
    with transaction.atomic():
        if _claim(customer=customer, conversion=conversion, now=timezone.now()) is None:
            return _replayed(customer=customer, tskey=conversion.tskey)
        transaction.set_rollback(True)
    return None


def _replayed(*, customer: Party, tskey: str) -> ConversionResult:
    answer = (
        ConversionEvent.objects.filter(org_id=customer.org_id, customer_id=customer.pk, tskey=tskey)
        .values_list("answer", flat=True)
        .get()
    )
    return ConversionResult(rewards=[RewardLine.from_stored(r) for r in answer or []], replayed=True)


def _claim(*, customer: Party, conversion: ConversionInput, now) -> int | None:
    """The event's row, claimed with its tskey (the one idempotency helper): its id, or None when
    an earlier call of this user holds the tskey (a concurrent one is waited for)."""
    columns = ["org_id", "customer_id", "event_name", "transaction_value", "transaction_unit", "extra_info"]
    values = [customer.org_id, customer.pk, conversion.event_name, conversion.transaction_value]
    values += [conversion.transaction_unit, conversion.extra_info, conversion.tskey, now]
    claimed = keys_claim(
        table=ConversionEvent._meta.db_table,
        columns=[*columns, "tskey", "created_at"],
        rows=[values],
        unique=["org_id", "customer_id", "tskey"],
        returning=["id"],
    )
    return claimed[0][0] if claimed else None


def _plan(*, parties: _Parties, rules: list[CampaignRule], conversion: ConversionInput) -> list[_Planned]:
    """What each rule pays to whom if its usage allows, numbered in rule order."""
    customer, referrer = parties.customer, parties.referrer
    planned: list[_Planned] = []
    for rule in rules:
        campaign = rule.campaign
        if not campaign_is_eligible(campaign=campaign, customer=customer, segment_ids=customer.segment_ids):
            continue
        if campaign.growth_hack == Campaign.GrowthHack.WORD_OF_MOUTH:
            if referrer is None:
                continue
            sides = [("friend", customer)]
            if campaign_is_eligible(campaign=campaign, customer=referrer, segment_ids=referrer.segment_ids):
                sides.insert(0, ("referrer", referrer))
        else:
            sides = [("user", customer)]
        for name, who in sides:
            side = rule.side(name)
            if side is None:
                continue
            amount = share_of(side=side, transaction_value=conversion.transaction_value)
            if amount is not None and amount <= ZERO:
                continue  # a percentage of a tiny value: nothing to earn
            planned.append(_Planned(len(planned) + 1, rule=rule, beneficiary=name, who=who, amount=amount))
    return planned


def _hands_out_coupon(plan: _Planned) -> bool:
    return (
        plan.amount is None
        and plan.review_status == EarnedReward.Review.APPROVED
        and plan.rule.campaign.coupon_distribution in AUTOMATIC_COUPONS
    )


def _paid_rules(planned: list[_Planned]) -> list[CampaignRule]:
    """The rules of the plan, each once, in id order: the order their usages are locked in."""
    return sorted({plan.rule.pk: plan.rule for plan in planned}.values(), key=lambda rule: rule.pk)


@dataclass(frozen=True)
class _Created:
    plan: _Planned
    code: str
    coupon: object = None  # coupons.models.Coupon handed out at once (step by step only)

    def line(self) -> RewardLine:
        return RewardLine(
            code=self.code,
            campaign_code=self.plan.rule.campaign.code,
            beneficiary=self.plan.beneficiary,
            user_key=str(self.plan.who.user_key),
            amount=self.plan.amount,
            review_status=self.plan.review_status,
            redeemed=self.coupon is not None,
        )


def _register_in_one_statement(
    *, parties: _Parties, planned: list[_Planned], conversion: ConversionInput, now, statement: str
) -> ConversionResult:
    """The claim, the usages, the rewards, the answer and the events in one call of the database
    function (its own transaction: a refusal by the tskey writes nothing more)."""
    customer, conversion_id = parties.customer, parties.conversion_id
    created = [_Created(plan=plan, code=f"av-{conversion_id}-{plan.number}") for plan in planned]
    rules = _paid_rules(planned)
    rewards = [
        {
            "rule": c.plan.rule.pk,
            "campaign": c.plan.rule.campaign_id,
            "customer": c.plan.who.pk,
            "amount": c.plan.amount,
            "review": c.plan.review_status,
            "review_until": now + timedelta(days=c.plan.rule.review_days) if c.plan.rule.review_days else None,
            "beneficiary": c.plan.beneficiary,
            "code": c.code,
        }
        for c in created
    ]
    answer = [[c.plan.rule.pk, c.line().stored()] for c in created] if conversion.tskey is not None else None
    events = []
    for rule_id, payload in _conversion_payloads(
        customer=customer, conversion=conversion, conversion_id=conversion_id, created=created, now=now
    ):
        events.append({"rule": rule_id, "event_id": uuid.uuid4(), "kind": EventKind.CONVERSION, "payload": payload})
    params = [
        conversion_id, customer.org_id, customer.pk, conversion.event_name, conversion.transaction_value,
        conversion.transaction_unit, conversion.extra_info, conversion.tskey, now,
        [rule.pk for rule in rules], [rule.per_user for rule in rules],
        _json(rewards), None if answer is None else _json(answer), _json(events),
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        claimed, paid, event_pks = cursor.fetchone()
    if not claimed:
        return _replayed(customer=customer, tskey=conversion.tskey)
    events_written(event_pks=list(event_pks or []))
    paid = set(paid or [])
    return ConversionResult(rewards=[c.line() for c in created if c.plan.rule.pk in paid])


def _json(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder)


def _register_stepwise(
    *, customer: Party, planned: list[_Planned], conversion: ConversionInput, now
) -> ConversionResult:
    """The same step by step, in one transaction: for other databases, and for coupons handed out
    at once (taken from the pools with SKIP LOCKED through ``coupons_disburse``)."""
    with transaction.atomic():
        conversion_id = _claim(customer=customer, conversion=conversion, now=now)
        if conversion_id is None:
            return _replayed(customer=customer, tskey=conversion.tskey)
        paid = {rule.pk for rule in _paid_rules(planned) if _usage_take(rule=rule, customer=customer)}
        rewards = [
            EarnedReward(
                org_id=customer.org_id,
                code=f"av-{conversion_id}-{plan.number}",
                campaign=plan.rule.campaign,
                customer_id=plan.who.pk,
                amount=plan.amount,
                earned_at=now,
                review_status=plan.review_status,
                review_until=now + timedelta(days=plan.rule.review_days) if plan.rule.review_days else None,
                beneficiary=plan.beneficiary,
                conversion_id=conversion_id,
                rule=plan.rule,
            )
            for plan in planned
            if plan.rule.pk in paid
        ]
        if rewards:
            EarnedReward.objects.bulk_create(rewards)
            _coupons_hand_out(rewards=rewards, now=now)
        by_code = {reward.code: reward for reward in rewards}
        created = [
            _Created(plan=plan, code=code, coupon=by_code[code].coupon if by_code[code].coupon_id else None)
            for plan in planned
            if (code := f"av-{conversion_id}-{plan.number}") in by_code
        ]
        lines = [c.line() for c in created]
        if conversion.tskey is not None:
            ConversionEvent.objects.filter(pk=conversion_id).update(answer=[line.stored() for line in lines])
        payloads = _conversion_payloads(
            customer=customer, conversion=conversion, conversion_id=conversion_id, created=created, now=now
        )
        events_emit(events=[(customer.org_id, EventKind.CONVERSION, payload) for _, payload in payloads])
    return ConversionResult(rewards=lines)


def _usage_take(*, rule: CampaignRule, customer: Party) -> bool:
    """Count one more event of ``customer`` paid under ``rule``; False (nothing written) at its limit."""
    with connection.cursor() as cursor:
        cursor.execute(_USAGE_TAKE, [customer.org_id, rule.pk, customer.pk, rule.per_user])
        return cursor.fetchone() is not None


def _coupons_hand_out(*, rewards: list[EarnedReward], now) -> list[EarnedReward]:
    """Approved, unredeemed coupon rewards of campaigns that hand coupons out themselves get one
    coupon each from the campaign's pools (lowest pool id first); none left: they wait for stock.
    Returns the rewards that got one."""
    served = []
    for reward in rewards:
        campaign = reward.campaign
        if (
            reward.amount is not None
            or reward.coupon_id is not None
            or reward.status != EarnedReward.Status.UNREDEEMED
            or reward.review_status != EarnedReward.Review.APPROVED
            or campaign.coupon_distribution not in AUTOMATIC_COUPONS
        ):
            continue
        for pool_id in campaign_pool_ids(org_id=reward.org_id, campaign_id=campaign.pk):
            try:
                [coupon] = coupons_disburse(pool_id=pool_id, org_id=reward.org_id, holder_id=reward.customer_id)
            except PoolExhausted:
                continue
            reward.coupon, reward.status, reward.redeemed_at = coupon, EarnedReward.Status.REDEEMED, now
            EarnedReward.objects.filter(pk=reward.pk).update(coupon=coupon, status=reward.status, redeemed_at=now)
            served.append(reward)
            break
    return served


# --- events --------------------------------------------------------------------------------------


def _reward_fields(
    *, code, rule_id, beneficiary, who, campaign, amount, review_status, redeemed, earned_at, coupon, conversion
) -> dict:
    """An earned reward as events show it (webhooks in AppVirality's shape are rendered from it)."""
    return {
        "rewarddtlid": code,
        "ruleId": rule_id,
        "beneficiary": beneficiary,
        "customer": {**customer_ref(who, user_key=True), "name": who.name},
        "campaign": {
            "id": campaign.code,
            "name": campaign.name,
            "growthHack": campaign.growth_hack,
            "rewardType": campaign.reward_type,
            "rewardUnit": campaign.reward_unit,
        },
        "amount": amount,
        "reviewStatus": review_status,
        "redeemed": redeemed,
        "earnedAt": earned_at,
        "coupon": {"code": coupon.code, "expiresAt": coupon.expires_at} if coupon else None,
        "conversion": conversion,
    }


def reward_payload(reward: EarnedReward, *, conversion: ConversionEvent | None = None) -> dict:
    """An earned reward as events show it (webhooks in AppVirality's shape are rendered from it)."""
    return _reward_fields(
        code=reward.code,
        rule_id=reward.rule_id,
        beneficiary=reward.beneficiary,
        who=reward.customer,
        campaign=reward.campaign,
        amount=reward.amount,
        review_status=reward.review_status,
        redeemed=reward.status == EarnedReward.Status.REDEEMED,
        earned_at=reward.earned_at,
        coupon=reward.coupon if reward.coupon_id else None,
        conversion=(
            {"id": conversion.pk, "eventName": conversion.event_name, "extraInfo": conversion.extra_info}
            if conversion is not None
            else None
        ),
    )


def _conversion_payloads(
    *, customer: Party, conversion: ConversionInput, conversion_id: int, created: list[_Created], now
) -> list[tuple[int, dict]]:
    """One event per campaign that paid (a campaign has one rule per event name: per rule), with
    every reward created in exactly one: (rule id, payload)."""
    by_rule: dict[int, list[_Created]] = {}
    for c in created:
        by_rule.setdefault(c.plan.rule.pk, []).append(c)
    seen = {"id": conversion_id, "eventName": conversion.event_name, "extraInfo": conversion.extra_info}
    payloads = []
    for rule_id, group in by_rule.items():
        rewards = [
            _reward_fields(
                code=c.code,
                rule_id=rule_id,
                beneficiary=c.plan.beneficiary,
                who=c.plan.who,
                campaign=c.plan.rule.campaign,
                amount=c.plan.amount,
                review_status=c.plan.review_status,
                redeemed=c.coupon is not None,
                earned_at=now,
                coupon=c.coupon,
                conversion=seen,
            )
            for c in group
        ]
        payload = {
            "conversion": {
                "id": conversion_id,
                "eventName": conversion.event_name,
                "extraInfo": conversion.extra_info,
                "transactionValue": conversion.transaction_value,
                "transactionUnit": conversion.transaction_unit,
                "tskey": conversion.tskey,
            },
            "customer": customer_ref(customer, user_key=True),
            "campaign": rewards[0]["campaign"],
            "rewards": rewards,
        }
        payloads.append((rule_id, payload))
    return payloads


# --- the review life cycle -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewChange:
    code: str
    review_status: str  # an EarnedReward.Review value
    comment: str | None = None


def rewards_review(*, org_id: int, changes: list[ReviewChange], actor: str, staff_user=None) -> list[EarnedReward]:
    """Set the review status of several rewards, all or none (AppVirality ``changerewardstatus``,
    the admin's review queue).

    ``UnknownReward`` when any id is not an earned reward of this org; ``AlreadyRedeemed`` when
    any is consumed, in part or fully (it can no longer change). The rewards are locked in
    Redeem Rewards' order first, so a review racing a redemption goes wholly before or after it.
    Every change is kept in the reward's history (who: ``actor``, and ``staff_user``); an approved
    coupon reward gets its coupon at once; every changed reward emits a ``reward_status`` event.
    """
    wanted = {change.code: change for change in changes}
    with transaction.atomic():
        rewards = list(
            EarnedReward.objects.select_for_update(of=("self",))
            .select_related("campaign", "customer", "conversion", "coupon")
            .filter(org_id=org_id, code__in=list(wanted))
            .order_by("earned_at", "id")
        )
        if len(rewards) < len(wanted):
            raise UnknownReward(missing=sorted(set(wanted) - {reward.code for reward in rewards}))
        consumed = [r.code for r in rewards if r.status == EarnedReward.Status.REDEEMED or r.redeemed_amount > 0]
        if consumed:
            raise AlreadyRedeemed(codes=consumed)
        _review_apply(rewards=rewards, decide=lambda reward: wanted[reward.code], actor=actor, staff_user=staff_user)
    return rewards


def _review_apply(*, rewards: list[EarnedReward], decide, actor: str, staff_user=None) -> None:
    """Apply the decided change to each locked reward; history, coupons and events for the changed ones."""
    now = timezone.now()
    changed: list[tuple[EarnedReward, str]] = []
    for reward in rewards:
        change: ReviewChange = decide(reward)
        before = reward.review_status
        reward.review_status = change.review_status
        if change.comment is not None:
            reward.review_comment = change.comment[:500]
        if change.review_status != EarnedReward.Review.UNDER_REVIEW or before != EarnedReward.Review.UNDER_REVIEW:
            reward.review_until = None  # a re-check by hand has no end: the job leaves it to staff
        reward.reviewed_by, reward.reviewed_at = actor[:150], now
        if before != change.review_status:
            changed.append((reward, before))
    bulk_update_with_history(
        rewards,
        EarnedReward,
        ["review_status", "review_comment", "review_until", "reviewed_by", "reviewed_at"],
        default_user=staff_user,
        default_change_reason=actor[:100],
    )
    _coupons_hand_out(rewards=[reward for reward, _ in changed], now=now)
    events_emit(
        events=[
            (
                reward.org_id,
                EventKind.REWARD_STATUS,
                {
                    "reward": reward_payload(reward, conversion=reward.conversion),
                    "from": before,
                    "to": reward.review_status,
                    "comment": reward.review_comment,
                    "actor": actor,
                },
            )
            for reward, before in changed
        ]
    )


REVIEW_PERIOD_ENDED = "review period ended"
_APPROVAL = ReviewChange(code="", review_status=EarnedReward.Review.APPROVED)


def _approve(_reward: EarnedReward) -> ReviewChange:
    return _APPROVAL


def rewards_review_release(*, now=None, batch: int = 500) -> dict:
    """The scheduled job: approve rewards still under review whose review period has ended (never
    suspicious ones: staff decide those), then hand coupons to approved rewards waiting for stock.
    Batches of ``batch`` rows, each in its own short transaction, skipping rows others hold."""
    now = now or timezone.now()
    approved = served = 0
    while True:
        with transaction.atomic():
            due = list(
                EarnedReward.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("campaign", "customer", "conversion")
                .filter(review_status=EarnedReward.Review.UNDER_REVIEW, review_until__lte=now)
                .order_by("review_until", "id")[:batch]
            )
            if due:
                _review_apply(rewards=due, decide=_approve, actor=REVIEW_PERIOD_ENDED)
                approved += len(due)
        if len(due) < batch:
            break
    with transaction.atomic():
        waiting = list(
            EarnedReward.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("campaign")
            .filter(
                status=EarnedReward.Status.UNREDEEMED,
                review_status=EarnedReward.Review.APPROVED,
                coupon__isnull=True,
                rule__isnull=False,
                amount__isnull=True,
                campaign__coupon_distribution__in=AUTOMATIC_COUPONS,
            )
            .order_by("earned_at", "id")[:batch]
        )
        served = len(_coupons_hand_out(rewards=waiting, now=now))
    return {"approved": approved, "coupons": served}
