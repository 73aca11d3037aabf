"""getuserbalance on PostgreSQL: the function of wallets migration 0011 answers what
``wallets.sql.USER_BALANCE`` (SQLite's statement, the specification) answers, for every user,
identifier and filter of a data set that covers each rule: review statuses, partial and full
redemptions, COUPONS campaigns, eligibility (blocked, inactive, ended, segment), another org."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orgs.models import Campaign, Customer, CustomerSegment, Org, Segment
from wallets import sql
from wallets.models import EarnedReward
from wallets.selectors import user_balance

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
O2 = 4000876
KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}


@pytest.fixture
def rewards(demo):
    """The demo's O2 rewards, and more: an ended and an inactive campaign, a blocked user, a user
    without rewards, partly and fully redeemed rewards, every review status, a user of another org
    with the same store id."""
    now = timezone.now()
    ended = Campaign.objects.create(
        org_id=O2, code="ended", name="Ended", growth_hack="Word_of_Mouth", reward_type="WALLET", ends_at=now
    )
    paused = Campaign.objects.create(
        org_id=O2, code="paused", growth_hack="Loyalty_Program", reward_type="WALLET", active=False, reward_unit="Pts"
    )
    later = Campaign.objects.create(
        org_id=O2, code="later", growth_hack="Loyalty_Program", reward_type="WALLET", ends_at=now + timedelta(days=1)
    )
    gold = Campaign.objects.get(org_id=O2, code="gold-only")
    referral = Campaign.objects.get(org_id=O2, code="refer-a-friend")
    blocked = Customer.objects.create(org_id=O2, external_id="blocked-1", email="blocked@example.com", blocked=True)
    Customer.objects.create(org_id=O2, external_id="nothing-1", email="nothing@example.com")
    meena = Customer.objects.get(org_id=O2, external_id="ext-meena")
    CustomerSegment.objects.create(org_id=O2, customer=meena, segment=Segment.objects.get(org_id=O2, name="GOLD"))
    other = Org.objects.exclude(pk=O2).first()
    Customer.objects.create(org_id=other.pk, external_id="ext-meena")
    lines = [
        (meena, ended, "4.00", "0.00", "APPROVED"),
        (meena, referral, "2.00", "0.00", "APPROVED"),
        (meena, paused, "3.25", "1.25", "APPROVED"),
        (meena, later, "7.10", "7.10", "APPROVED"),
        (meena, gold, "1.01", "0.00", "UNDER_REVIEW"),
        (meena, gold, "9.99", "0.00", "SUSPICIOUS"),
        (meena, later, "2.50", "0.00", "REJECTED"),
        (blocked, later, "6.00", "0.00", "APPROVED"),
        (blocked, gold, "0.50", "0.00", "UNDER_REVIEW"),
    ]
    for n, (customer, campaign, amount, redeemed, review) in enumerate(lines):
        EarnedReward.objects.create(
            org_id=O2,
            code=f"bal-{n}",
            campaign=campaign,
            customer=customer,
            amount=Decimal(amount),
            redeemed_amount=Decimal(redeemed),
            status="REDEEMED" if redeemed == amount else "UNREDEEMED",
            review_status=review,
            earned_at=now - timedelta(days=1),
        )


def outcome(**call):
    try:
        return user_balance(org_id=O2, **call)
    except Exception as error:  # the domain error is part of the answer
        return type(error), error.args


def test_the_function_answers_what_the_statement_answers(rewards, monkeypatch):
    users = list(Customer.objects.filter(org_id=O2).order_by("pk"))
    identifiers = [("external_id", u.external_id) for u in users]
    identifiers += [("email", u.email) for u in users if u.email] + [("email", "ASHA@Example.com")]
    identifiers += [("user_key", str(u.user_key)) for u in users]
    identifiers += [("external_id", "nobody"), ("user_key", "not-a-uuid"), ("user_key", "00000000-0000-4000-8000-0")]
    filters = [(None, None), ("gold-only", None), ("later", "Loyalty_Program"), ("later", "Word_of_Mouth")]
    filters += [(None, "word_of_mouth"), (None, "Referral"), ("nope", None), (None, "Viral"), ("ended", "Viral")]
    calls = [
        {"kind": kind, "value": value, "campaign_code": code, "growth_hack": hack}
        for kind, value in identifiers
        for code, hack in filters
    ]
    function = [outcome(**call) for call in calls]
    monkeypatch.setattr(sql, "USER_BALANCE_CALL", {})
    statement = [outcome(**call) for call in calls]
    assert function == statement
    # the data set reaches each case: amounts in every field, not eligible, every error
    shown = [answer for answer in function if not isinstance(answer, tuple)]
    assert any(a.amounts.claimed and a.amounts.under_review and a.amounts.pending for a in shown)
    assert any(c.amounts.total and not c.amounts.pending for a in shown for h in a.growth_hacks for c in h.campaigns)
    errors = {answer[0].__name__ for answer in function if isinstance(answer, tuple)}
    assert errors == {"UnknownUser", "UnknownUserKey", "UnknownCampaign", "UnknownGrowthHack"}


def test_meena_in_numbers(rewards):
    # approved: refer-a-friend 2.00, ended 4.00 (not eligible), paused 3.25 with 1.25 redeemed (not
    # eligible), later 7.10 redeemed in full; gold-only 1.01 under review; suspicious and rejected nowhere
    balance = user_balance(org_id=O2, kind="external_id", value="ext-meena")
    assert (balance.amounts.total, balance.amounts.claimed, balance.amounts.pending, balance.amounts.under_review) == (
        Decimal("16.35"),
        Decimal("8.35"),
        Decimal("2.00"),
        Decimal("1.01"),
    )
    codes = [c.code for h in balance.growth_hacks for c in h.campaigns]
    assert codes == ["ended", "refer-a-friend", "gold-only", "later", "paused"]


def test_balance_path_selects_the_path_it_names(balance_path, demo, client, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    body = json.dumps({**KEYS, "UserIdInstore": "ext-ravi"})
    client.post("/v2_0/getuserbalance", data=body, content_type="application/json")  # credentials cached
    with CaptureQueriesContext(connection) as queries:
        answer = client.post("/v2_0/getuserbalance", data=body, content_type="application/json").json()
    assert answer["statuscode"] == 1 and answer["userBalance"]["growthHacks"]
    [statement] = [q["sql"] for q in queries.captured_queries]
    assert ("wallets_user_balance(" in statement) == (balance_path == "function")


def test_the_function_refuses_a_column_it_does_not_know(demo):
    with pytest.raises(Exception, match="not a customer identifier"), transaction.atomic():
        connection.cursor().execute(sql.USER_BALANCE_CALL["postgresql"], (O2, "name", "x", timezone.now(), None, None))
