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

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from core.idempotency import keys_claim
from core.money import MONEY_PLACES, ZERO
from coupons.errors import PoolExhausted
from coupons.selectors import campaign_pool_ids
from coupons.services import coupons_disburse
from events.outbox import customer_ref, events_emit
from orgs.errors import NotEligible, UnknownCampaign
from orgs.models import Campaign, Customer, EventKind
from orgs.selectors import campaign_by_code, campaign_is_eligible, customer_segment_ids

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
    growth_hack: str | None = None  # a Campaign.GrowthHack value


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


@dataclass
class _Planned:
    rule: CampaignRule
    beneficiary: str
    customer: Customer
    amount: Decimal | None


def conversion_register(*, customer: Customer, conversion: ConversionInput) -> ConversionResult:
    """Record a conversion event of ``customer`` and create what the matching rules pay, at once.

    Checks, in the contract's order: the campaign named (``UnknownCampaign``), the user's
    eligibility for it and not blocked (``NotEligible``), a transaction value when a matching
    rule pays a percentage (``TransactionValueRequired``). Each active campaign the user is
    eligible for whose rule matches pays: the referrer and the friend (Word_of_Mouth, only when
    the user has a referrer), or the user (Loyalty_Program); within the rule's ``per_user``.
    A refusal writes nothing (the tskey claim goes with the rolled-back transaction).
    """
    now = timezone.now()
    with transaction.atomic():
        conversion_id = _claim(customer=customer, conversion=conversion, now=now)
        if conversion_id is None:
            earlier = ConversionEvent.objects.get(org_id=customer.org_id, customer=customer, tskey=conversion.tskey)
            return ConversionResult(rewards=[RewardLine.from_stored(r) for r in earlier.answer or []], replayed=True)
        campaign = None
        if conversion.campaign_code is not None:
            campaign = campaign_by_code(org_id=customer.org_id, code=conversion.campaign_code)
            if campaign is None:
                raise UnknownCampaign(campaign=conversion.campaign_code)
        if customer.blocked or (
            campaign is not None and not campaign_is_eligible(campaign=campaign, customer=customer)
        ):
            raise NotEligible(campaign=conversion.campaign_code)
        rules = [
            rule
            for rule in rules_for_event(org_id=customer.org_id, event_name=conversion.event_name)
            if (campaign is None or rule.campaign_id == campaign.pk)
            and (conversion.growth_hack is None or rule.campaign.growth_hack == conversion.growth_hack)
        ]
        if conversion.transaction_value is None and any(
            side is not None and side.percent is not None
            for rule in rules
            for side in (rule.side(name) for name in CampaignRule.SIDES)
        ):
            raise TransactionValueRequired(event=conversion.event_name)
        planned = _plan(customer=customer, rules=rules, conversion=conversion)
        rewards = _create(customer=customer, planned=planned, conversion_id=conversion_id, now=now)
        lines = [_line(reward) for reward in rewards]
        if conversion.tskey is not None:
            ConversionEvent.objects.filter(pk=conversion_id).update(answer=[line.stored() for line in lines])
        _conversion_events(customer=customer, conversion=conversion, conversion_id=conversion_id, rewards=rewards)
    return ConversionResult(rewards=lines)


def _claim(*, customer: Customer, conversion: ConversionInput, now) -> int | None:
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


def _plan(*, customer: Customer, rules: list[CampaignRule], conversion: ConversionInput) -> list[_Planned]:
    referrer = None
    if customer.referrer_id is not None and any(
        rule.campaign.growth_hack == Campaign.GrowthHack.WORD_OF_MOUTH for rule in rules
    ):
        referrer = Customer.objects.filter(pk=customer.referrer_id).first()
    segments: dict[int, set[int]] = {}

    def eligible(campaign: Campaign, who: Customer) -> bool:
        if campaign.eligible_segment_id is not None and who.pk not in segments:
            segments[who.pk] = customer_segment_ids(customer=who)
        return campaign_is_eligible(campaign=campaign, customer=who, segment_ids=segments.get(who.pk, set()))

    planned: list[_Planned] = []
    for rule in rules:
        campaign = rule.campaign
        if not eligible(campaign, customer):
            continue
        if campaign.growth_hack == Campaign.GrowthHack.WORD_OF_MOUTH:
            if referrer is None:
                continue
            sides = [("friend", customer)]
            if eligible(campaign, referrer):
                sides.insert(0, ("referrer", referrer))
        else:
            sides = [("user", customer)]
        paid = []
        for name, who in sides:
            side = rule.side(name)
            if side is None:
                continue
            amount = share_of(side=side, transaction_value=conversion.transaction_value)
            if amount is not None and amount <= ZERO:
                continue  # a percentage of a tiny value: nothing to earn
            paid.append(_Planned(rule=rule, beneficiary=name, customer=who, amount=amount))
        if paid and _usage_take(rule=rule, customer=customer):
            planned += paid
    return planned


def _usage_take(*, rule: CampaignRule, customer: Customer) -> bool:
    """Count one more event of ``customer`` paid under ``rule``; False (nothing written) at its limit."""
    with connection.cursor() as cursor:
        cursor.execute(_USAGE_TAKE, [customer.org_id, rule.pk, customer.pk, rule.per_user])
        return cursor.fetchone() is not None


def _create(*, customer: Customer, planned: list[_Planned], conversion_id: int, now) -> list[EarnedReward]:
    rewards = []
    for number, plan in enumerate(planned, 1):
        in_review = plan.rule.review_days > 0
        rewards.append(
            EarnedReward(
                org_id=customer.org_id,
                code=f"av-{conversion_id}-{number}",
                campaign=plan.rule.campaign,
                customer=plan.customer,
                amount=plan.amount,
                earned_at=now,
                review_status=EarnedReward.Review.UNDER_REVIEW if in_review else EarnedReward.Review.APPROVED,
                review_until=now + timedelta(days=plan.rule.review_days) if in_review else None,
                beneficiary=plan.beneficiary,
                conversion_id=conversion_id,
                rule=plan.rule,
            )
        )
    if rewards:
        EarnedReward.objects.bulk_create(rewards)
        _coupons_hand_out(rewards=rewards, now=now)
    return rewards


def _line(reward: EarnedReward) -> RewardLine:
    return RewardLine(
        code=reward.code,
        campaign_code=reward.campaign.code,
        beneficiary=reward.beneficiary,
        user_key=str(reward.customer.user_key),
        amount=reward.amount,
        review_status=reward.review_status,
        redeemed=reward.status == EarnedReward.Status.REDEEMED,
    )


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


def reward_payload(reward: EarnedReward, *, conversion: ConversionEvent | None = None) -> dict:
    """An earned reward as events show it (webhooks in AppVirality's shape are rendered from it)."""
    campaign, who = reward.campaign, reward.customer
    coupon = reward.coupon if reward.coupon_id else None
    return {
        "rewarddtlid": reward.code,
        "ruleId": reward.rule_id,
        "beneficiary": reward.beneficiary,
        "customer": {**customer_ref(who, user_key=True), "name": who.name},
        "campaign": {
            "id": campaign.code,
            "name": campaign.name,
            "growthHack": campaign.growth_hack,
            "rewardType": campaign.reward_type,
            "rewardUnit": campaign.reward_unit,
        },
        "amount": reward.amount,
        "reviewStatus": reward.review_status,
        "redeemed": reward.status == EarnedReward.Status.REDEEMED,
        "earnedAt": reward.earned_at,
        "coupon": {"code": coupon.code, "expiresAt": coupon.expires_at} if coupon else None,
        "conversion": (
            {"id": conversion.pk, "eventName": conversion.event_name, "extraInfo": conversion.extra_info}
            if conversion is not None
            else None
        ),
    }


def _conversion_events(
    *, customer: Customer, conversion: ConversionInput, conversion_id: int, rewards: list[EarnedReward]
) -> None:
    """One event per campaign that paid: every reward created is in exactly one."""
    event = ConversionEvent(
        pk=conversion_id, event_name=conversion.event_name, extra_info=conversion.extra_info, customer=customer
    )
    by_campaign: dict[int, list[EarnedReward]] = {}
    for reward in rewards:
        by_campaign.setdefault(reward.campaign_id, []).append(reward)
    events_emit(
        events=[
            (
                customer.org_id,
                EventKind.CONVERSION,
                {
                    "conversion": {
                        "id": conversion_id,
                        "eventName": conversion.event_name,
                        "extraInfo": conversion.extra_info,
                        "transactionValue": conversion.transaction_value,
                        "transactionUnit": conversion.transaction_unit,
                        "tskey": conversion.tskey,
                    },
                    "customer": customer_ref(customer, user_key=True),
                    "campaign": reward_payload(group[0])["campaign"],
                    "rewards": [reward_payload(reward, conversion=event) for reward in group],
                },
            )
            for group in by_campaign.values()
        ]
    )


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
