"""Earning rules, the review life cycle and their books, at the service level."""

import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from backoffice.scenario import ScenarioError, scenario_load
from coupons.models import Coupon, CouponPool
from orgs.models import Campaign, Customer, WebhookEndpoint
from tests.processes import sql
from wallets.conversions import ConversionInput, conversion_register
from wallets.earning import rewards_review_release, share_of
from wallets.models import CampaignRule, ConversionEvent, EarnedReward, RuleSide
from wallets.reconciliation import reconciliation_run

pytestmark = pytest.mark.django_db
O2 = 4000876


@given(
    value=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999999999.99"), places=2),
    percent=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100"), places=2),
    cap=st.one_of(st.none(), st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000"), places=2)),
)
def test_a_percentage_is_exact_half_up_to_cents_and_never_above_its_cap(value, percent, cap):
    paid = share_of(side=RuleSide(amount=None, percent=percent, cap=cap, coupon=False), transaction_value=value)
    exact = (value * percent / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert isinstance(paid, Decimal) and paid.as_tuple().exponent == -2
    assert paid == (min(exact, cap) if cap is not None else exact)


def test_half_a_cent_rounds_up():
    side = RuleSide(amount=None, percent=Decimal("10"), cap=None, coupon=False)
    assert share_of(side=side, transaction_value=Decimal("0.05")) == Decimal("0.01")  # 0.005 -> 0.01
    assert share_of(side=side, transaction_value=Decimal("123.45")) == Decimal("12.35")  # 12.345 -> 12.35


@pytest.mark.usefixtures("conversion_path")
def test_the_review_job_approves_rewards_whose_period_ended_but_never_suspicious_ones(demo):
    ravi = Customer.objects.get(org_id=O2, external_id="ext-ravi")
    for tskey in ("a", "b"):
        conversion_register(
            org_id=O2,
            kind="external_id",
            value=ravi.external_id,
            conversion=ConversionInput(event_name="Transaction", transaction_value=Decimal("100"), tskey=tskey),
        )
    first, second = EarnedReward.objects.filter(campaign__code="shop-cashback").order_by("id")
    EarnedReward.objects.filter(pk=second.pk).update(review_status="SUSPICIOUS")
    assert rewards_review_release()["approved"] == 0  # not yet due
    EarnedReward.objects.filter(pk__in=[first.pk, second.pk]).update(review_until=timezone.now() - timedelta(seconds=1))
    assert rewards_review_release()["approved"] == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.review_status, first.reviewed_by, second.review_status) == (
        "APPROVED",
        "review period ended",
        "SUSPICIOUS",
    )
    assert first.history.first().history_change_reason == "review period ended"


def test_the_review_job_is_scheduled():
    from django_celery_beat.models import PeriodicTask

    from core.schedules import schedules_install

    schedules_install()
    assert PeriodicTask.objects.get(task="wallets.rewards_review_release").interval.every == 60


def test_a_consumed_reward_that_is_not_approved_is_refused_by_the_database(demo):
    with pytest.raises(IntegrityError, match="earnedreward_consumed_is_approved"), transaction.atomic():
        sql("UPDATE wallets_earnedreward SET review_status = 'REJECTED', redeemed_amount = 1 WHERE code = 'rd-1001'")


@pytest.mark.usefixtures("conversion_path")
def test_reconciliation_finds_a_coupon_handed_out_for_a_reward_to_someone_else(demo):
    campaign = Campaign.objects.create(
        org_id=O2, code="by-event", growth_hack="Loyalty_Program", reward_type="COUPONS", coupon_distribution="BY_EVENT"
    )
    CampaignRule.objects.create(org_id=O2, campaign=campaign, event="Install", user_coupon=True)
    pool = CouponPool.objects.create(id=9101, org_id=O2, name="Install gift", campaign=campaign)
    Coupon.objects.create(org_id=O2, pool=pool, code="GIFT-1")
    Customer.objects.get(org_id=O2, external_id="ext-ravi")
    conversion_register(
        org_id=O2, kind="external_id", value="ext-ravi", conversion=ConversionInput(event_name="install")
    )
    assert reconciliation_run().open_findings == []  # the reward is the coupon's record
    meena = Customer.objects.get(org_id=O2, external_id="ext-meena")
    Coupon.objects.filter(code="GIFT-1").update(holder=meena)
    assert [f.check_name for f in reconciliation_run().open_findings] == ["earned_reward_coupon"]


@pytest.mark.usefixtures("conversion_path")
def test_reconciliation_finds_a_rule_usage_that_disagrees_with_the_rewards(demo):
    Customer.objects.create(
        org_id=O2, external_id="friend", referrer=Customer.objects.get(org_id=O2, external_id="ext-ravi")
    )
    conversion_register(org_id=O2, kind="external_id", value="friend", conversion=ConversionInput(event_name="Signup"))
    assert reconciliation_run().open_findings == []
    sql("UPDATE wallets_ruleusage SET count = 0")
    assert [f.check_name for f in reconciliation_run().open_findings] == ["rule_usage"]


def test_the_demo_scenario_has_referrals_and_rules(demo):
    asha = Customer.objects.get(org_id=O2, external_id="ext_id98543198")
    assert asha.referral_code == "ASHA2026" and asha.referees.filter(external_id="ext-meena").exists()
    signup = CampaignRule.objects.get(campaign__code="refer-a-friend", event="Signup")
    assert (signup.referrer_amount, signup.friend_amount, signup.per_user) == (Decimal("5.00"), Decimal("2.50"), 1)
    assert Campaign.objects.get(org_id=O2, code="refer-a-friend").reward_unit == "INR"


def test_scenario_files_take_review_statuses_webhooks_and_pool_attributes(demo_document):
    org = demo_document["orgs"][0]
    org["customers"][1] |= {"registered_at": "2026-01-02T03:04:05Z", "name": "Ravi"}
    org["earned_rewards"][0] |= {"status": "UNDER_REVIEW", "review_until": "2026-12-31T00:00:00Z"}
    org["earned_rewards"][1] |= {"status": "SUSPICIOUS"}
    org["coupon_pools"][0] |= {
        "details": "A coffee",
        "image": "https://img.example.com/c.png",
        "value": "3.50",
        "unit": "EUR",
    }
    org["webhooks"] = [
        {"url": "https://hooks.example.com/av", "secret": "s", "format": "appvirality", "securekey": "k"}
    ]
    scenario_load(document=demo_document)
    assert EarnedReward.objects.get(code="rd-1001").review_status == "UNDER_REVIEW"
    assert EarnedReward.objects.get(code="rd-1001").review_until.year == 2026
    assert EarnedReward.objects.get(code="rd-1002").review_status == "SUSPICIOUS"
    assert EarnedReward.objects.get(code="rd-1003").review_status == "APPROVED"  # no status: approved
    assert Customer.objects.get(org_id=O2, external_id="ext-ravi").registered_at.isoformat().startswith("2026-01-02")
    assert (CouponPool.objects.get(pk=531).value, CouponPool.objects.get(pk=531).unit) == (Decimal("3.50"), "EUR")
    assert WebhookEndpoint.objects.get(org_id=O2).format == "appvirality"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda org: org["customers"][2].update(referrer="nobody"), "unknown customer"),
        (lambda org: org["customers"][2].update(referrer="ext-meena"), "cannot refer themself"),
        (lambda org: org["customers"][1].update(referral_code="asha2026"), "duplicate referral code"),
        (lambda org: org["campaigns"][0]["rules"].append({"event": "SIGNUP"}), "duplicate rule for event"),
        (lambda org: org["campaigns"][0]["rules"].append({"event": "x", "user": {"amount": "1.00"}}), "pays referrer"),
        (lambda org: org["campaigns"][0]["rules"].append({"event": "y", "friend": {"coupon": True}}), "COUPONS"),
        (lambda org: org["earned_rewards"][0].update(id="av-1-1"), "conversion events"),
        (lambda org: org["earned_rewards"][0].update(review_until="2026-12-31T00:00:00Z"), "review period"),
    ],
)
def test_scenario_files_refuse_bad_referrals_and_rules(demo_document, change, message):
    change(demo_document["orgs"][0])
    with pytest.raises(ScenarioError, match=message):
        scenario_load(document=demo_document)
    assert not Customer.objects.exists()


def test_customer_360_shows_the_referral_tree_and_review_statuses(demo, admin_client):
    asha = Customer.objects.get(org_id=O2, external_id="ext_id98543198")
    meena = Customer.objects.get(org_id=O2, external_id="ext-meena")
    EarnedReward.objects.filter(code="rd-1002").update(review_status="SUSPICIOUS", reviewed_by="AppVirality app 1")
    page = admin_client.get(reverse("admin:orgs_customer_360", args=[asha.pk])).content.decode()
    assert "ASHA2026" in page and "ext-meena" in page and "Suspicious" in page
    assert "ext_id98543198" in admin_client.get(reverse("admin:orgs_customer_360", args=[meena.pk])).content.decode()


def test_the_admin_review_actions_go_through_the_service_with_who_and_when(demo, admin_client, admin_user):
    url = reverse("admin:wallets_earnedreward_changelist")
    ids = list(EarnedReward.objects.filter(code__in=["rd-1001", "rd-1002"]).values_list("pk", flat=True))
    response = admin_client.post(url, {"action": "review_rejected", "_selected_action": ids})
    assert response.status_code == 302
    rejected = EarnedReward.objects.get(code="rd-1001")
    assert (rejected.review_status, rejected.reviewed_by) == ("REJECTED", f"staff {admin_user.username}")
    assert rejected.history.first().history_user == admin_user
    queue = admin_client.get(url, {"queue": "review"})
    assert queue.status_code == 200 and list(queue.context["cl"].result_list) == []
    EarnedReward.objects.filter(code="rd-1001").update(review_status="SUSPICIOUS")
    assert [r.code for r in admin_client.get(url, {"queue": "review"}).context["cl"].result_list] == ["rd-1001"]


def test_customer_360_shows_the_conversion_event_each_reward_was_earned_by(demo, admin_client):
    from tests.appvirality.conftest import KEYS

    def post(verb, body):
        return admin_client.post(f"/v2_0/{verb}", {**KEYS, **body}, content_type="application/json").json()

    assert post("updateuserinfo", {"UserIdInstore": "new-1", "referrercode": "ASHA2026"})["statuscode"] == 1
    answer = post("registerconversionevent", {"UserIdInstore": "new-1", "eventName": "Signup", "tskey": "sig-1"})
    assert answer["statuscode"] == 1 and len(answer["rewards"]) == 2, answer
    event = ConversionEvent.objects.get(tskey="sig-1")
    link = reverse("admin:wallets_conversionevent_change", args=[event.pk])
    for customer, whose in (
        (event.customer, ""),
        (Customer.objects.get(org_id=O2, external_id="ext_id98543198"), " of new-1"),
    ):
        page = admin_client.get(reverse("admin:orgs_customer_360", args=[customer.pk])).content.decode()
        [cell] = [c for c in re.findall(r'<td class="conversion">(.*?)</td>', page) if c != "-"]
        assert cell == f'<a href="{link}">Signup sig-1</a>{whose}', cell
