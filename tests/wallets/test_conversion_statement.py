"""registerconversionevent's round trips on PostgreSQL (the database function of wallets migration
0009) and the same outcome step by step (SQLite's way): the tskey, the per_user limits, the
answer kept for repeats and the events, on both paths (``conversion_path``)."""

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orgs.models import Campaign, Customer, OutboxEvent
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


def test_a_referral_signup_is_two_statements(client, friend, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    # the app's credentials and the Signup rules, cached (ravi has no referrer: paid nothing)
    assert (
        post(client, "registerconversionevent", {"UserIdInstore": "ext-ravi", "eventName": "Signup"})["rewards"] == []
    )
    with CaptureQueriesContext(connection) as queries:
        answer = post(client, "registerconversionevent", {"UserIdInstore": "friend-1", "eventName": "Signup"})
    assert len(answer["rewards"]) == 2
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 2, statements
    assert "wallets_conversion_register(" in statements[1]


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


def test_both_paths_write_the_same_rows_and_events(friend, monkeypatch):
    from wallets import sql

    other = Customer.objects.create(org_id=O2, external_id="friend-2", referrer=friend.referrer)
    register("friend-1", tskey="same", extra_info="info")
    monkeypatch.setattr(sql, "CONVERSION", {})
    register("friend-2", tskey="same", extra_info="info")

    def shape(customer):
        conversion = ConversionEvent.objects.get(customer=customer)
        mine = {conversion.pk, customer.pk, customer.external_id, str(customer.user_key)}

        def same(value):  # this conversion's and this customer's own values as X, times left out
            if isinstance(value, dict):
                return {k: None if k == "earnedAt" else same(v) for k, v in value.items()}
            if isinstance(value, list):
                return [same(v) for v in value]
            if isinstance(value, str) and value.startswith(f"av-{conversion.pk}-"):
                return value.rsplit("-", 1)[1]
            return "X" if value in mine else value

        rewards = EarnedReward.objects.filter(conversion=conversion).order_by("code")
        rows = [
            (r.code.rsplit("-", 1)[1], r.beneficiary, r.amount, r.review_status, r.status, r.rule_id, r.campaign_id)
            for r in rewards
        ]
        [event] = OutboxEvent.objects.filter(payload__conversion__id=conversion.pk)
        return rows, same(event.payload), same(conversion.answer), conversion.extra_info, conversion.event_name

    assert shape(friend) == shape(other)


def test_conversion_path_selects_the_path_it_names(conversion_path, friend):
    with CaptureQueriesContext(connection) as queries:
        assert len(register("friend-1").rewards) == 2
    called = any("wallets_conversion_register(" in q["sql"] for q in queries.captured_queries)
    assert called == (conversion_path == "one statement")
