"""Reads of coupon pools: the pool a redemption draws from, and their stock."""

from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from core.local_cache import LocalCache
from orgs.models import Campaign, Customer

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


def campaign_pool_ids(*, org_id: int, campaign_id: int) -> list[int]:
    """The pools of a campaign, lowest id first (where its coupons are handed out from); cached as the pools."""
    key = ("campaign-pools", org_id, campaign_id)
    ids = _pools_cache.get(key)
    if ids is None:
        ids = list(
            CouponPool.objects.filter(org_id=org_id, campaign_id=campaign_id)
            .order_by("id")
            .values_list("id", flat=True)
        )
        _pools_cache.set(key, ids)
    return ids


def user_coupons(*, customer: Customer) -> list[Coupon]:
    """The coupons this user holds and may still use (issued, not expired), newest first, with
    their pools and campaigns."""
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    return list(
        Coupon.objects.filter(unexpired, org_id=customer.org_id, holder_id=customer.pk, status=Coupon.Status.ISSUED)
        .select_related("pool__campaign")
        .order_by("-issued_at", "-id")
    )


@dataclass(frozen=True)
class ChoosablePools:
    campaign: Campaign
    pools: list[CouponPool]  # each with ``available``: its available, unexpired coupons


def choosable_pools(*, customer: Customer, campaign: Campaign | None = None) -> list[ChoosablePools]:
    """The "User will choose" pools of the campaigns this user is eligible for, by campaign code
    then pool id, each with its count of coupons still available (one grouped query)."""
    from orgs.selectors import campaign_is_eligible, customer_segment_ids  # orgs.selectors reads pools too

    unexpired = Q(coupons__expires_at__isnull=True) | Q(coupons__expires_at__gt=timezone.now())
    pools = (
        CouponPool.objects.filter(
            org_id=customer.org_id, campaign__coupon_distribution=Campaign.CouponDistribution.USER_WILL_CHOOSE
        )
        .filter(Q(campaign_id=campaign.pk) if campaign is not None else Q())
        .select_related("campaign")
        .annotate(available=Count("coupons", filter=Q(coupons__status=Coupon.Status.AVAILABLE) & unexpired))
        .order_by("campaign__code", "id")
    )
    segment_ids = None
    grouped: dict[int, ChoosablePools] = {}
    for pool in pools:
        if pool.campaign.eligible_segment_id is not None and segment_ids is None:
            segment_ids = customer_segment_ids(customer=customer)
        if not campaign_is_eligible(campaign=pool.campaign, customer=customer, segment_ids=segment_ids or set()):
            continue
        grouped.setdefault(pool.campaign_id, ChoosablePools(campaign=pool.campaign, pools=[])).pools.append(pool)
    return list(grouped.values())
