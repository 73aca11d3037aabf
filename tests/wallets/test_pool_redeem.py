"""rewards_redeem_from_pool: one statement on PostgreSQL, step by step elsewhere; the same rules."""

from datetime import timedelta

import pytest
from django.utils import timezone

from coupons.errors import PoolExhausted
from coupons.models import Coupon
from orgs.models import Customer
from wallets import sql
from wallets.errors import NothingToRedeem
from wallets.models import EarnedReward
from wallets.redemption import rewards_redeem_from_pool as coupon_redeem_from_pool

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["one statement", "stepwise"])
def path(request, monkeypatch):
    if request.param == "stepwise":
        monkeypatch.setattr(sql, "REDEEM_FROM_POOL", {})
    return request.param


@pytest.fixture
def asha(demo):
    return Customer.objects.get(org_id=4000876, external_id="ext_id98543198")


def test_spends_the_oldest_reward_on_one_coupon(path, asha):
    EarnedReward.objects.create(
        org_id=asha.org_id,
        code="rd-newer",
        campaign_id=EarnedReward.objects.get(code="rd-2001").campaign_id,
        customer=asha,
        earned_at=timezone.now(),
    )
    done = coupon_redeem_from_pool(customer=asha, pool_id=531)
    assert done.reward_code == "rd-2001"
    stored = Coupon.objects.get(pk=done.coupon.pk)
    assert (stored.code, stored.status, stored.holder_id) == (done.coupon.code, "ISSUED", asha.pk)
    assert EarnedReward.objects.get(code="rd-2001").status == "REDEEMED"
    assert EarnedReward.objects.get(code="rd-newer").status == "UNREDEEMED"


def test_no_reward_left_is_nothing_to_redeem(path, asha):
    coupon_redeem_from_pool(customer=asha, pool_id=531)
    with pytest.raises(NothingToRedeem):
        coupon_redeem_from_pool(customer=asha, pool_id=531)
    assert Coupon.objects.filter(pool_id=531, status="ISSUED").count() == 1


def test_an_exhausted_pool_spends_no_reward(path, asha):
    Coupon.objects.filter(pool_id=531).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(PoolExhausted):
        coupon_redeem_from_pool(customer=asha, pool_id=531)
    assert EarnedReward.objects.get(code="rd-2001").status == "UNREDEEMED"
    assert not Coupon.objects.filter(pool_id=531, status="ISSUED").exists()


def test_a_pool_or_campaign_change_saved_through_the_orm_applies_to_the_next_redemption(asha):
    from coupons.models import CouponPool
    from orgs.errors import NotEligible

    coupon_redeem_from_pool(customer=asha, pool_id=531)  # the pool and its campaign are remembered now
    campaign = CouponPool.objects.select_related("campaign").get(pk=531).campaign
    campaign.active = False
    campaign.save()
    with pytest.raises(NotEligible):
        coupon_redeem_from_pool(customer=asha, pool_id=531)


def test_a_change_made_elsewhere_applies_within_catalogue_cache_seconds(asha, settings):
    """Another process's change (an UPDATE that sends no signal) is seen once the TTL is over."""
    import time

    from orgs.errors import NotEligible
    from orgs.models import Campaign

    settings.CATALOGUE_CACHE_SECONDS = 1
    for code in ("rd-second", "rd-third"):
        EarnedReward.objects.create(
            org_id=asha.org_id,
            code=code,
            campaign_id=EarnedReward.objects.get(code="rd-2001").campaign_id,
            customer=asha,
            earned_at=timezone.now(),
        )
    coupon_redeem_from_pool(customer=asha, pool_id=531)
    Campaign.objects.filter(coupon_pools__pk=531).update(active=False)
    coupon_redeem_from_pool(customer=asha, pool_id=531)  # still the remembered, active campaign
    time.sleep(1.1)
    with pytest.raises(NotEligible):
        coupon_redeem_from_pool(customer=asha, pool_id=531)
