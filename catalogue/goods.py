"""What a local reward hands out besides points: a cart promotion (within its per-customer limit)
or coupons of its series (``coupons.services.coupons_disburse``)."""

from __future__ import annotations

from typing import Any

from coupons.errors import PoolExhausted
from coupons.services import coupons_disburse
from orgs.models import Customer

from . import selectors
from .errors import PromotionLimitReached, RewardNotIssued
from .models import CatalogueReward
from .resolve import Line


def _take_promotion(line: Line, *, pending: int = 0) -> None:
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
        raise promotion_limit_reached(line, held=held)


def promotion_limit_reached(line: Line, *, held: int) -> PromotionLimitReached:
    """The refusal of a cart promotion the customer already holds ``held`` times (its limit)."""
    promotion = line.reward.promotion
    return PromotionLimitReached(
        f"customer holds cart promotion {promotion.code} {held} time(s), the limit is {promotion.max_per_customer}"
    )


def coupons_short(line: Line) -> RewardNotIssued:
    """The refusal of a coupon reward whose series has fewer free coupons than the line wants."""
    return RewardNotIssued(f"coupon series {line.reward.coupon_pool_id} has too few coupons")


def goods_take(line: Line, *, pending_promotions: dict | None = None) -> dict[str, Any]:
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
            raise coupons_short(line) from exc
        return {
            "coupon_codes": [
                {"code": c.code, "expiry": c.expires_at.strftime("%Y-%m-%d %H:%M:%S") if c.expires_at else None}
                for c in coupons
            ]
        }
    return {}


def promotion_holders_lock(lines: list[Line], *, at_least: int = 2) -> None:
    """Lock, in id order, every customer whose cart-promotion limit the call checks: two calls
    paying from customers of two orgs in opposite orders then wait instead of deadlocking.
    ``at_least``: the fewest holders worth a statement (one alone is locked by its own check, unless
    the caller locks wallets before that check: then 1, so customers come before wallets)."""
    holders = promotion_holders(lines)
    if len(holders) >= at_least:
        list(Customer.objects.select_for_update().filter(pk__in=holders).order_by("pk").values_list("pk", flat=True))


def promotion_holders(lines: list[Line]) -> list[int]:
    """The customers (ids, sorted) whose cart-promotion limit the call checks."""
    return sorted(
        {
            line.payer.customer.pk
            for line in lines
            if line.reward.type == CatalogueReward.Type.CART_PROMOTION
            and line.reward.promotion.max_per_customer is not None
        }
    )
