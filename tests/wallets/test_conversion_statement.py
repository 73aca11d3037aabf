"""registerconversionevent's round trips on PostgreSQL (the database function of wallets migration
0009) and the same outcome step by step (SQLite's way): the tskey, the per_user limits, the
answer kept for repeats and the events, on both paths (``conversion_path``)."""

import json
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orgs.errors import NotEligible
from orgs.models import Campaign, Customer, CustomerSegment, OutboxEvent, Segment
from wallets.conversions import ConversionInput, conversion_register
from wallets.models import CampaignRule, ConversionEvent, EarnedReward, RuleUsage

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
O2 = 4000876
KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}


def post(client, verb: str, body: dict) -> dict:
    response = client.post(f"/v2_0/{verb}", data=json.dumps({**KEYS, **body}), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def friend(demo):
    return Customer.objects.create(
        org_id=O2, external_id="friend-1", referrer=Customer.objects.get(org_id=O2, external_id="ext-ravi")
    )


def test_a_referral_signup_is_one_statement(client, friend, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    # the app's credentials and the Signup rules, cached (ravi has no referrer: paid nothing)
    assert (
        post(client, "registerconversionevent", {"UserIdInstore": "ext-ravi", "eventName": "Signup"})["rewards"] == []
    )
    with CaptureQueriesContext(connection) as queries:
        answer = post(client, "registerconversionevent", {"UserIdInstore": "friend-1", "eventName": "Signup"})
    assert len(answer["rewards"]) == 2
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 1, statements
    assert "wallets_conversion_call(" in statements[0]


def test_getuserbalance_is_one_statement(client, friend, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    post(client, "getuserbalance", {"UserIdInstore": "ext-ravi"})
    with CaptureQueriesContext(connection) as queries:
        answer = post(client, "getuserbalance", {"UserIdInstore": "ext-ravi", "growthHack": "Word_of_Mouth"})
    assert answer["statuscode"] == 1 and answer["userBalance"]["growthHacks"]
    assert len(queries.captured_queries) == 1


def register(external_id: str, **fields):
    return conversion_register(
        org_id=O2, kind="external_id", value=external_id, conversion=ConversionInput(event_name="Signup", **fields)
    )


@pytest.mark.usefixtures("conversion_path")
def test_a_taken_tskey_writes_nothing_more(friend):
    first = register("friend-1", tskey="k-1")
    events = OutboxEvent.objects.count()
    again = register("friend-1", tskey="k-1", extra_info="another body")
    assert (first.replayed, again.replayed, again.rewards) == (False, True, first.rewards)
    assert ConversionEvent.objects.count() == 1 and OutboxEvent.objects.count() == events
    assert EarnedReward.objects.filter(conversion__isnull=False).count() == 2
    assert list(RuleUsage.objects.values_list("count", flat=True)) == [1]


@pytest.mark.usefixtures("conversion_path")
def test_a_rule_at_its_limit_pays_nothing_while_another_rule_still_pays(friend):
    # given: a second campaign whose Signup rule pays the user once, with no limit on the referral rule
    CampaignRule.objects.filter(org_id=O2, event__iexact="Signup").update(per_user=5)
    loyalty = Campaign.objects.create(
        org_id=O2, code="signup-bonus", growth_hack="Loyalty_Program", reward_type="WALLET"
    )
    CampaignRule.objects.create(org_id=O2, campaign=loyalty, event="Signup", user_amount=Decimal("1.00"), per_user=1)
    first = register("friend-1", tskey="a")
    assert sorted(line.beneficiary for line in first.rewards) == ["friend", "referrer", "user"]
    # when: the loyalty rule is at its limit
    second = register("friend-1", tskey="b")
    # then: the referral rule pays, its rewards numbered in plan order; the answer kept and the events
    # are those of the rule that paid
    assert sorted(line.beneficiary for line in second.rewards) == ["friend", "referrer"]
    conversion = ConversionEvent.objects.get(tskey="b")
    assert [line["code"] for line in conversion.answer] == [line.code for line in second.rewards]
    assert {line.code for line in second.rewards} == set(
        EarnedReward.objects.filter(conversion=conversion).values_list("code", flat=True)
    )
    [event] = OutboxEvent.objects.filter(kind="conversion", payload__conversion__id=conversion.pk)
    assert event.payload["campaign"]["id"] == "refer-a-friend"
    assert sorted(r["rewarddtlid"] for r in event.payload["rewards"]) == sorted(line.code for line in second.rewards)
    assert register("friend-1", tskey="b").rewards == second.rewards


@pytest.mark.usefixtures("conversion_path")
def test_a_refused_repeat_of_a_taken_tskey_answers_the_first_answer(client, friend, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    first = post(client, "registerconversionevent", {"UserIdInstore": "friend-1", "eventName": "Signup", "tskey": "x"})
    again = post(
        client,
        "registerconversionevent",
        {"UserIdInstore": "friend-1", "eventName": "Signup", "tskey": "x", "campaignId": "nope"},
    )
    assert (again["statuscode"], again["replayed"], again["rewards"]) == (1, True, first["rewards"])


def shape(customer):
    """What registering wrote for this customer's one conversion, its own ids and values as X and
    its reward numbers for codes: the rows, the events, the answer kept."""
    conversion = ConversionEvent.objects.get(customer=customer)
    mine = {conversion.pk, customer.pk, customer.external_id, str(customer.user_key), customer.email, customer.mobile}
    mine.discard(None)

    def same(value):  # this conversion's and this customer's own values as X, times as their format
        if isinstance(value, dict):
            return {k: bool(EARNED_AT.match(v)) if k == "earnedAt" else same(v) for k, v in value.items()}
        if isinstance(value, list):
            return [same(v) for v in value]
        if isinstance(value, str) and value.startswith(f"av-{conversion.pk}-"):
            return value.rsplit("-", 1)[1]
        return "X" if value in mine else value

    rewards = EarnedReward.objects.filter(conversion=conversion).order_by("code")
    rows = [
        (r.code.rsplit("-", 1)[1], r.beneficiary, r.customer_id == customer.pk, r.amount, r.review_status, r.status)
        + (r.rule_id, r.campaign_id, r.review_until and r.review_until - r.earned_at)
        for r in rewards
    ]
    events = OutboxEvent.objects.filter(payload__conversion__id=conversion.pk).order_by("id")
    conversion_row = (
        conversion.extra_info,
        conversion.event_name,
        conversion.transaction_value,
        conversion.transaction_unit,
    )
    return rows, [same(event.payload) for event in events], same(conversion.answer), conversion_row


EARNED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")


def test_both_paths_write_the_same_rows_and_events(friend, monkeypatch):
    from wallets import sql

    other = Customer.objects.create(org_id=O2, external_id="friend-2", referrer=friend.referrer)
    register("friend-1", tskey="same", extra_info="info")
    monkeypatch.setattr(sql, "CONVERSION_CALL", {})
    register("friend-2", tskey="same", extra_info="info")
    assert shape(friend) == shape(other)


@pytest.fixture
def segmented(demo):
    """Besides the demo's referral: a referral campaign for the GOLD segment whose Signup pays after
    a review, and the GOLD loyalty campaign paying the user for a Signup; the GOLD referrer (asha)
    has a name and a mobile, ravi (SILVER) refers too."""
    gold = Segment.objects.get(org_id=O2, name="GOLD")
    club = Campaign.objects.create(
        org_id=O2, code="gold-referral", name="Gold club", growth_hack="Word_of_Mouth", reward_type="WALLET",
        eligible_segment=gold, reward_unit="INR",
    )  # fmt: skip
    CampaignRule.objects.create(
        org_id=O2, campaign=club, event="Signup", referrer_amount=Decimal("3.00"), friend_amount=Decimal("1.00"),
        review_days=2, per_user=5,
    )  # fmt: skip
    loyalty = Campaign.objects.get(org_id=O2, code="gold-only")
    CampaignRule.objects.create(org_id=O2, campaign=loyalty, event="Signup", user_amount=Decimal("1.50"), per_user=5)
    Customer.objects.filter(org_id=O2, external_id="ext_id98543198").update(name="Asha", mobile="+919800000001")
    return gold


@pytest.mark.parametrize(
    ("referrer", "friend_gold", "referrer_blocked"),
    [
        ("ext_id98543198", True, False),  # every campaign pays both sides, and the loyalty one the user
        ("ext_id98543198", False, False),  # the open referral only
        ("ext-ravi", True, False),  # the GOLD referral pays the friend alone: its referrer is not GOLD
        ("ext_id98543198", True, True),  # a blocked referrer earns nothing; its friends still do
        (None, True, False),  # no referrer: the loyalty campaign alone
    ],
)
def test_both_paths_pay_the_same_sides_to_the_same_parties(
    segmented, monkeypatch, referrer, friend_gold, referrer_blocked
):
    from wallets import sql

    referrer = referrer and Customer.objects.get(org_id=O2, external_id=referrer)
    if referrer_blocked:
        Customer.objects.filter(pk=referrer.pk).update(blocked=True)
    friends = []
    for n in (1, 2):
        friend = Customer.objects.create(
            org_id=O2, external_id=f"friend-{n}", referrer=referrer, name="Friend", email=f"friend-{n}@example.com",
            mobile=f"+91980000010{n}",
        )  # fmt: skip
        if friend_gold:
            CustomerSegment.objects.create(org_id=O2, customer=friend, segment=segmented)
        friends.append(friend)
    conversion = {
        "tskey": "same",
        "extra_info": "info",
        "transaction_unit": "INR",
        "transaction_value": Decimal("12.50"),
    }
    first = register("friend-1", **conversion)
    monkeypatch.setattr(sql, "CONVERSION_CALL", {})
    second = register("friend-2", **conversion)
    assert shape(friends[0]) == shape(friends[1])
    assert [(line.beneficiary, line.campaign_code, line.amount) for line in first.rewards] == [
        (line.beneficiary, line.campaign_code, line.amount) for line in second.rewards
    ]


@pytest.mark.usefixtures("conversion_path")
@pytest.mark.parametrize("who", ["blocked", "not in the segment"])
def test_a_user_the_campaign_named_refuses_is_not_eligible_and_nothing_is_written(segmented, who):
    friend = Customer.objects.create(org_id=O2, external_id="friend-1", blocked=who == "blocked")
    if who == "blocked":
        CustomerSegment.objects.create(org_id=O2, customer=friend, segment=segmented)
    with pytest.raises(NotEligible):
        register("friend-1", campaign_code="gold-only", tskey="k")
    assert not ConversionEvent.objects.exists() and not RuleUsage.objects.exists()


@pytest.mark.usefixtures("conversion_path")
def test_a_rule_changed_between_two_calls_pays_as_changed(friend):
    assert [line.amount for line in register("friend-1").rewards] == [Decimal("5.00"), Decimal("2.50")]
    rule = CampaignRule.objects.get(org_id=O2, campaign__code="refer-a-friend", event="Signup")
    rule.referrer_amount, rule.per_user = Decimal("7.00"), 2
    rule.save()  # the process's cached rules, and what was built of them, are dropped
    assert [line.amount for line in register("friend-1").rewards] == [Decimal("7.00"), Decimal("2.50")]


def test_conversion_path_selects_the_path_it_names(conversion_path, friend):
    with CaptureQueriesContext(connection) as queries:
        assert len(register("friend-1").rewards) == 2
    called = any("wallets_conversion_call(" in q["sql"] for q in queries.captured_queries)
    assert called == (conversion_path == "one statement")
