"""Whether a customer can be issued a reward now: one rule for Issue Reward and the catalogue
reads (``GET /v1.1/user/rewards``)."""

from __future__ import annotations

from .errors import NoActiveCard, OutsideSegment, RewardNotIssued, RewardUnavailable
from .models import CatalogueReward


def customer_refusal(*, reward: CatalogueReward, customer, segments: set[int], now) -> RewardNotIssued | None:
    """Why ``customer`` (from ``customer_for_issue``: ``has_cards``, ``has_active_card``) cannot
    be issued ``reward`` (from ``rewards_for_issue``) now, or None. ``segments``: the customer's
    segments among the reward's."""
    if (
        not reward.enabled
        or (reward.starts_at and reward.starts_at > now)
        or (reward.ends_at and reward.ends_at <= now)
    ):
        return RewardUnavailable(f"reward {reward.pk} is disabled or outside its dates")
    if reward.segment_ids and not reward.segment_ids & segments:
        return OutsideSegment(f"customer is not in a segment of reward {reward.pk}")
    if customer.has_cards and not customer.has_active_card:
        return NoActiveCard("customer has no ACTIVE card or label")
    if reward.type == CatalogueReward.Type.CART_PROMOTION and not reward.promotion.active:
        return RewardUnavailable(f"cart promotion {reward.promotion.code} is inactive")
    return None
