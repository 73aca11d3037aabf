"""Earned rewards: the one module that changes their status (redeemed, in whole or in part, and
given back by a reversal). Redeem Rewards by reward ids, by amount (into the credit wallet) and by
pool (one coupon for one reward): "redeem by pool" is decided in ``rewards_redeem_from_pool``.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from core.errors import OperationRefused
from core.money import ZERO, to_money
from core.transactions import joined_transaction
from coupons.errors import PoolExhausted, UnknownPool
from coupons.models import Coupon, CouponPool
from coupons.selectors import pool_for_redemption
from coupons.services import coupons_disburse
from events.outbox import customer_ref, event_emit
from orgs.errors import NotEligible
from orgs.models import Campaign, Customer, EventKind
from orgs.selectors import campaign_is_eligible, customer_segment_ids

from . import sql
from .errors import AlreadyRedeemed, AmountTooLarge, ModeMismatch, NothingToRedeem, RewardsNotFound
from .models import EarnedReward, LedgerEntry, Wallet
from .services import wallet_credit_customer


@dataclass(frozen=True)
class Redemption:
    amount: Decimal
    reward_codes: list[str]
    ledger_entry: LedgerEntry
    taken: dict[str, Decimal]  # code -> amount taken from that reward by this redemption

    @property
    def balance(self) -> Decimal:
        return self.ledger_entry.balance_after


def _campaign_filter(*, customer: Customer, campaign: Campaign | None, growth_hack: str | None) -> Q:
    """The rewards a call may touch: this user's approved ones (under review, rejected or
    suspicious rewards are not there for a redemption), narrowed by campaign and growth hack."""
    condition = Q(org_id=customer.org_id, customer_id=customer.pk, review_status=EarnedReward.Review.APPROVED)
    if campaign is not None:
        condition &= Q(campaign_id=campaign.pk)
    if growth_hack is not None:
        condition &= Q(campaign__growth_hack=growth_hack)
    return condition


def _require_eligible(*, customer: Customer, campaigns) -> None:
    segment_ids = None
    for campaign in campaigns:
        if campaign.eligible_segment_id is not None and segment_ids is None:
            segment_ids = customer_segment_ids(customer=customer)
        if not campaign_is_eligible(campaign=campaign, customer=customer, segment_ids=segment_ids):
            raise NotEligible(campaign=campaign.code)


def _require_not_blocked(customer: Customer) -> None:
    """A blocked user is eligible for no campaign: 69 in every mode, not "nothing to redeem"."""
    if customer.blocked:
        raise NotEligible(blocked=True)


def _locked_rewards(condition: Q):
    return (
        EarnedReward.objects.select_for_update(of=("self",))
        .select_related("campaign")
        .filter(condition)
        .order_by("earned_at", "id")
    )


def _credit(
    *, customer: Customer, rewards: list[EarnedReward], taken: dict[str, Decimal], amount: Decimal, reference: str
) -> Redemption:
    if len(rewards) == 1:
        [reward] = rewards
        EarnedReward.objects.filter(pk=reward.pk).update(
            redeemed_amount=reward.redeemed_amount, status=reward.status, redeemed_at=reward.redeemed_at
        )
    else:
        EarnedReward.objects.bulk_update(rewards, ["redeemed_amount", "status", "redeemed_at"])
    codes = [reward.code for reward in rewards]
    entry = wallet_credit_customer(
        customer=customer,
        kind=Wallet.Kind.CREDITS,
        amount=amount,
        entry_kind=LedgerEntry.Kind.REDEMPTION,
        reference=reference,
        memo=("rewards " + ", ".join(codes))[:255],
    )
    event_emit(org_id=customer.org_id, kind=EventKind.REDEMPTION, payload=_redemption_event(customer, codes, entry))
    return Redemption(amount=amount, reward_codes=codes, ledger_entry=entry, taken=taken)


def _redemption_event(customer: Customer, codes: list[str], entry: LedgerEntry) -> dict:
    return {
        "customer": customer_ref(customer, user_key=True),
        "amount": entry.delta,
        "rewardCodes": codes,
        "wallet": {"id": entry.wallet_id, "kind": Wallet.Kind.CREDITS, "balance": entry.balance_after},
        "ledgerEntry": entry.pk,
        "reference": entry.reference,
    }


@joined_transaction()
def rewards_redeem_by_ids(
    *,
    customer: Customer,
    codes: list[str],
    campaign: Campaign | None = None,
    growth_hack: str | None = None,
    reference: str = "",
) -> Redemption:
    """Redeem the named earned rewards (all or none) into the user's credit wallet.

    Checks, in the contract's order: eligibility of every campaign involved,
    that they are wallet-type rewards, that every id is this user's (after the
    filters), that none is redeemed already. Locks the rewards in id order.
    """
    codes = list(dict.fromkeys(codes))
    _require_not_blocked(customer)
    if campaign is not None:
        _require_eligible(customer=customer, campaigns=[campaign])
    rewards = list(
        _locked_rewards(
            _campaign_filter(customer=customer, campaign=campaign, growth_hack=growth_hack) & Q(code__in=codes)
        )
    )
    _require_eligible(customer=customer, campaigns={reward.campaign for reward in rewards})
    if any(reward.campaign.reward_type != Campaign.RewardType.WALLET for reward in rewards):
        raise ModeMismatch()
    if len(rewards) < len(codes):
        raise RewardsNotFound(missing=sorted(set(codes) - {reward.code for reward in rewards}))
    if any(reward.status == EarnedReward.Status.REDEEMED for reward in rewards):
        raise AlreadyRedeemed(codes=[reward.code for reward in rewards if reward.status == "REDEEMED"])
    now = timezone.now()
    taken = {reward.code: reward.remaining for reward in rewards}
    amount = sum(taken.values(), ZERO)
    for reward in rewards:
        reward.redeemed_amount, reward.status, reward.redeemed_at = reward.amount, EarnedReward.Status.REDEEMED, now
    return _credit(customer=customer, rewards=rewards, taken=taken, amount=amount, reference=reference)


@joined_transaction()
def rewards_redeem_by_amount(
    *,
    customer: Customer,
    amount: Decimal,
    campaign: Campaign | None = None,
    growth_hack: str | None = None,
    reference: str = "",
) -> Redemption:
    """Credit exactly ``amount``, consuming the user's unredeemed wallet rewards oldest first.

    The last reward consumed may be consumed in part and keeps its remainder.
    Without a campaign, rewards of campaigns the user is not eligible for are
    left out; with one, an ineligible campaign is refused.
    """
    amount = to_money(amount)
    _require_not_blocked(customer)
    if campaign is not None:
        _require_eligible(customer=customer, campaigns=[campaign])
        if campaign.reward_type != Campaign.RewardType.WALLET:
            raise ModeMismatch()
    condition = _campaign_filter(customer=customer, campaign=campaign, growth_hack=growth_hack) & Q(
        status=EarnedReward.Status.UNREDEEMED, campaign__reward_type=Campaign.RewardType.WALLET
    )
    rewards = list(_locked_rewards(condition))
    if campaign is None:
        needs_segments = any(reward.campaign.eligible_segment_id is not None for reward in rewards)
        segment_ids = customer_segment_ids(customer=customer) if needs_segments else set()
        rewards = [
            reward
            for reward in rewards
            if campaign_is_eligible(campaign=reward.campaign, customer=customer, segment_ids=segment_ids)
        ]
    available = sum((reward.remaining for reward in rewards), ZERO)
    if not available:
        raise NothingToRedeem()
    if amount > available:
        raise AmountTooLarge(requested=amount, available=available)
    now, left, consumed, taken = timezone.now(), amount, [], {}
    for reward in rewards:
        if not left:
            break
        take = min(left, reward.remaining)
        reward.redeemed_amount += take
        left -= take
        if reward.remaining == 0:
            reward.status, reward.redeemed_at = EarnedReward.Status.REDEEMED, now
        consumed.append(reward)
        taken[reward.code] = take
    return _credit(customer=customer, rewards=consumed, taken=taken, amount=amount, reference=reference)


@dataclass(frozen=True)
class PoolRedemption:
    coupon: Coupon
    reward_code: str


@joined_transaction()
def rewards_redeem_from_pool(
    *, customer: Customer, pool_id: int, campaign: Campaign | None = None, growth_hack: str | None = None
) -> PoolRedemption:
    """AppVirality "User will choose": one coupon-type reward of the user buys one coupon of the pool.

    Checks in the contract's order: eligibility (69), the pool (30), that the
    pool's campaign hands out coupons the user chooses (103), an unredeemed
    reward of the user in that campaign (43, oldest first, locked), a coupon (49).
    Refuses before writing anything.
    """
    _require_not_blocked(customer)
    if campaign is not None:
        _require_eligible(customer=customer, campaigns=[campaign])
    pool = pool_for_redemption(org_id=customer.org_id, pool_id=pool_id)
    if pool is None:
        raise UnknownPool(pool_id=pool_id)
    pool_campaign = pool.campaign
    if campaign is None and pool_campaign is not None:
        _require_eligible(customer=customer, campaigns=[pool_campaign])
    if (
        pool_campaign is None
        or pool_campaign.coupon_distribution != Campaign.CouponDistribution.USER_WILL_CHOOSE
        or (campaign is not None and campaign.pk != pool_campaign.pk)
    ):
        raise ModeMismatch(pool_id=pool_id)
    if growth_hack is not None and pool_campaign.growth_hack != growth_hack:
        raise NothingToRedeem(pool_id=pool_id)
    now = timezone.now()
    statement = sql.REDEEM_FROM_POOL.get(connection.vendor)  # the deliberate two-table statement
    if statement is None:
        return _redeem_from_pool_stepwise(customer=customer, pool=pool, now=now)
    params = {
        "org": customer.org_id,
        "customer": customer.pk,
        "campaign": pool_campaign.pk,
        "pool": pool.pk,
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        reward_code, coupon_id, code, expires_at, spent = cursor.fetchone()
    if reward_code is None:
        raise NothingToRedeem(pool_id=pool_id)
    if coupon_id is None:
        raise PoolExhausted(pool_id=pool_id)
    if spent != 1:  # cannot happen short of a broken statement; never hand out a coupon for free
        raise RuntimeError(f"pool {pool_id}: coupon {coupon_id} taken without spending reward {reward_code}")
    coupon = Coupon(
        id=coupon_id,
        org_id=pool.org_id,
        pool_id=pool.pk,
        code=code,
        status=Coupon.Status.ISSUED,
        expires_at=expires_at,
        holder_id=customer.pk,
        issued_at=now,
    )
    _pool_redemption_event(customer=customer, coupon=coupon, reward_code=reward_code)
    return PoolRedemption(coupon=coupon, reward_code=reward_code)


def pool_for_one_statement(*, org_id: int, pool_id: int) -> tuple[int, int | None] | None:
    """(campaign id, its eligible segment id) of a pool a redemption by pool can take in one
    statement (``wallets_redeem_call``): a known pool of a "User will choose" campaign that is
    active and not ended. None when ``rewards_redeem_from_pool`` must decide (and refuse) instead.
    The same cached pool as that path; what depends on the user is checked by the statement."""
    pool = pool_for_redemption(org_id=org_id, pool_id=pool_id)
    campaign = pool.campaign if pool is not None else None
    if (
        campaign is None
        or campaign.coupon_distribution != Campaign.CouponDistribution.USER_WILL_CHOOSE
        or not campaign.active
        or (campaign.ends_at is not None and campaign.ends_at <= timezone.now())
    ):
        return None
    return campaign.pk, campaign.eligible_segment_id


def _pool_redemption_event(*, customer: Customer, coupon: Coupon, reward_code: str) -> None:
    payload = {
        "customer": customer_ref(customer, user_key=True),
        "rewardCodes": [reward_code],
        "coupon": {"id": coupon.pk, "code": coupon.code, "poolId": coupon.pool_id},
    }
    event_emit(org_id=customer.org_id, kind=EventKind.REDEMPTION, payload=payload)


def _redeem_from_pool_stepwise(*, customer: Customer, pool: CouponPool, now) -> PoolRedemption:
    """The same as the one statement, step by step, for databases without data-modifying CTEs."""
    reward = (
        EarnedReward.objects.select_for_update()
        .filter(
            org_id=customer.org_id,
            customer_id=customer.pk,
            campaign_id=pool.campaign_id,
            status=EarnedReward.Status.UNREDEEMED,
            review_status=EarnedReward.Review.APPROVED,
        )
        .order_by("earned_at", "id")
        .first()
    )
    if reward is None:
        raise NothingToRedeem(pool_id=pool.pk)
    [coupon] = coupons_disburse(pool_id=pool.pk, org_id=pool.org_id, holder_id=customer.pk)
    EarnedReward.objects.filter(pk=reward.pk).update(status=EarnedReward.Status.REDEEMED, redeemed_at=now)
    _pool_redemption_event(customer=customer, coupon=coupon, reward_code=reward.code)
    return PoolRedemption(coupon=coupon, reward_code=reward.code)


# --- Given back by a reversal (wallets.reversal) -------------------------------------------------


def rewards_give_back(*, org_id: int, customer_id: int, taken: dict[str, Decimal]) -> None:
    """Give each earned reward back what a redemption took from it (``code -> amount``): it is
    UNREDEEMED again. Locks the rewards in the redemption's order; refuses (``OperationRefused``)
    having written nothing when one is gone or has less redeemed than it would give back."""
    rewards = list(_locked_rewards(Q(org_id=org_id, customer_id=customer_id, code__in=list(taken))))
    if len(rewards) != len(taken):
        raise OperationRefused("some of the call's earned rewards no longer exist")
    for reward in rewards:
        back = taken[reward.code]
        if reward.redeemed_amount < back:
            raise OperationRefused(f"reward {reward.code} has only {reward.redeemed_amount} redeemed, not {back}")
        reward.redeemed_amount -= back
        reward.status, reward.redeemed_at = EarnedReward.Status.UNREDEEMED, None
    EarnedReward.objects.bulk_update(rewards, ["redeemed_amount", "status", "redeemed_at"])


def reward_locked_redeemed(*, org_id: int, customer_id: int, code: str) -> EarnedReward:
    """The redeemed reward ``code`` of a pool redemption, locked (before its coupon is voided)."""
    reward = _locked_rewards(Q(org_id=org_id, customer_id=customer_id, code=code)).first()
    if reward is None or reward.status != EarnedReward.Status.REDEEMED:
        raise OperationRefused(f"reward {code} is not redeemed")
    return reward


def reward_unredeem(*, reward: EarnedReward) -> None:
    """A coupon-type reward whose coupon was voided is UNREDEEMED again."""
    EarnedReward.objects.filter(pk=reward.pk).update(status=EarnedReward.Status.UNREDEEMED, redeemed_at=None)
