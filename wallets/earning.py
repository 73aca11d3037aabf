"""Earned rewards: what a rule side pays, coupons handed out for earned rewards, their events, and
the review life cycle (conversion events themselves: ``wallets.conversions``).

The only writer of an earned reward's review status and of coupon hand-outs for earned rewards
(through ``coupons.services``). Lock order everywhere: the tskey claim, rule usages in rule id
order, earned rewards by ``earned_at, id`` (as Redeem Rewards), then coupons (SKIP LOCKED: never
waited for).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from core.money import MONEY_PLACES
from coupons.errors import PoolExhausted
from coupons.selectors import campaign_pool_ids
from coupons.services import coupons_disburse
from events.outbox import customer_ref, events_emit
from orgs.models import Campaign, EventKind

from .errors import AlreadyRedeemed, UnknownReward
from .models import ConversionEvent, EarnedReward, RuleSide

AUTOMATIC_COUPONS = (Campaign.CouponDistribution.BY_EVENT, Campaign.CouponDistribution.BY_ORDER)
HUNDRED = Decimal(100)


def share_of(*, side: RuleSide, transaction_value: Decimal | None) -> Decimal | None:
    """What one rule side pays: its fixed amount, or its percent of the value half-up to cents,
    never above its cap. None for a coupon side."""
    if side.coupon:
        return None
    if side.amount is not None:
        return side.amount
    amount = (transaction_value * side.percent / HUNDRED).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)
    return min(amount, side.cap) if side.cap is not None else amount


def coupons_hand_out(*, rewards: list[EarnedReward], now) -> list[EarnedReward]:
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


def reward_fields(
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
    return reward_fields(
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
    coupons_hand_out(rewards=[reward for reward, _ in changed], now=now)
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
        served = len(coupons_hand_out(rewards=waiting, now=now))
    return {"approved": approved, "coupons": served}
