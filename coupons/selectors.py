"""Reads of coupon pools: the pool a redemption draws from, and their stock."""

from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from core.local_cache import LocalCache

from .models import Coupon, CouponPool

# Pools with their campaign as a redemption reads them, kept per process for
# CATALOGUE_CACHE_SECONDS, like the catalogue: a change saved through the ORM clears this
# process's copy at once (signals, ``apps.py``), other processes see it within the TTL.
_pools_cache = LocalCache(ttl_setting="CATALOGUE_CACHE_SECONDS")


def pools_cache_clear(**_signal_kwargs) -> None:
    _pools_cache.clear()


def pool_for_redemption(*, org_id: int, pool_id: int) -> CouponPool | None:
    """The org's pool with its ``campaign``, or None. Treat it as read-only: later calls of
    this process may share it. Unknown pools are not remembered (a new pool works at once)."""
    pool = _pools_cache.get((org_id, pool_id))
    if pool is None:
        pool = CouponPool.objects.select_related("campaign").filter(org_id=org_id, pk=pool_id).first()
        if pool is not None:
            _pools_cache.set((org_id, pool_id), pool)
    return pool


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
