"""Reads of coupon pools: their stock."""

from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from .models import Coupon


@dataclass(frozen=True)
class Stock:
    available: int = 0  # AVAILABLE and not past its expiry
    issued: int = 0
    expired: int = 0  # EXPIRED, or AVAILABLE but past its expiry


def pool_stock(*, pool_ids: list[int]) -> dict[int, Stock]:
    """The stock of each pool, in one grouped query over those pools' coupons only."""
    if not pool_ids:
        return {}
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    rows = (
        Coupon.objects.filter(pool_id__in=pool_ids)
        .order_by()
        .values("pool_id")
        .annotate(
            available=Count("id", filter=Q(status=Coupon.Status.AVAILABLE) & unexpired),
            issued=Count("id", filter=Q(status=Coupon.Status.ISSUED)),
            expired=Count(
                "id", filter=Q(status=Coupon.Status.EXPIRED) | (Q(status=Coupon.Status.AVAILABLE) & ~unexpired)
            ),
        )
    )
    stock = {pool_id: Stock() for pool_id in pool_ids}
    for row in rows:
        stock[row["pool_id"]] = Stock(available=row["available"], issued=row["issued"], expired=row["expired"])
    return stock


def available_by_pool() -> dict[int, int]:
    """Available, unexpired coupons per pool (pools without any are absent): the partial index
    ``coupon_available`` holds exactly the AVAILABLE rows."""
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    rows = (
        Coupon.objects.filter(unexpired, status=Coupon.Status.AVAILABLE)
        .order_by()
        .values("pool_id")
        .annotate(n=Count("id"))
    )
    return {row["pool_id"]: row["n"] for row in rows}
