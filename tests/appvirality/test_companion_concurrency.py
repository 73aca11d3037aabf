"""Exactly once under concurrency: real threads against a live server on PostgreSQL."""

import threading
from collections import Counter

import httpx
import pytest

from backoffice.scenario import scenario_load
from orgs.models import Campaign, Customer
from wallets.models import CampaignRule, ConversionEvent, EarnedReward, LedgerEntry, RuleUsage
from wallets.reconciliation import reconciliation_run

from .conftest import ASHA, KEYS, O2

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("conversion_path")]


@pytest.fixture
def world(demo_document, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    scenario_load(document=demo_document)
    friend = Customer.objects.create(
        org_id=O2, external_id="friend-1", referrer=Customer.objects.get(external_id=ASHA, org_id=O2)
    )
    return friend


def race(url: str, calls: list[tuple[str, dict]]) -> list[dict]:
    """POST every (verb, body) at once (one thread each, released together); the answers in order."""
    barrier = threading.Barrier(len(calls))
    answers: list[dict | None] = [None] * len(calls)

    def post(index: int, verb: str, body: dict) -> None:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            response = client.post(f"{url}/v2_0/{verb}", json={**KEYS, **body})
            assert response.status_code < 500, response.text
            answers[index] = response.json()

    threads = [threading.Thread(target=post, args=(i, verb, body)) for i, (verb, body) in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answer is not None for answer in answers)
    return answers


def test_twenty_identical_conversions_with_one_tskey_create_the_rewards_once(live_server, world):
    body = {"UserIdInstore": "friend-1", "eventName": "Signup", "tskey": "signup-friend-1"}
    answers = race(live_server.url, [("registerconversionevent", body)] * 20)
    assert Counter(a["statuscode"] for a in answers) == {1: 20}
    assert Counter(a["replayed"] for a in answers) == {False: 1, True: 19}
    assert len({str(a["rewards"]) for a in answers}) == 1  # every answer is the first one
    assert ConversionEvent.objects.count() == 1
    assert EarnedReward.objects.filter(conversion__isnull=False).count() == 2
    assert reconciliation_run().open_findings == []


def test_twenty_concurrent_events_against_a_per_user_1_rule_pay_once(live_server, world):
    # given: Signup pays per_user 1; twenty different events of the same user at once
    calls = [
        ("registerconversionevent", {"UserIdInstore": "friend-1", "eventName": "Signup", "tskey": f"k{i}"})
        for i in range(20)
    ]
    answers = race(live_server.url, calls)
    assert Counter(a["statuscode"] for a in answers) == {1: 20}
    assert sorted(len(a["rewards"]) for a in answers) == [0] * 19 + [2]
    assert EarnedReward.objects.filter(conversion__isnull=False).count() == 2
    assert RuleUsage.objects.get(customer__external_id="friend-1").count == 1
    assert reconciliation_run().open_findings == []


@pytest.mark.parametrize("attempt", range(2))
def test_a_rejection_racing_twenty_redemptions_of_the_reward_wins_wholly_or_not_at_all(live_server, world, attempt):
    redeem = ("redeemrewards", {"UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"]})
    reject = ("changerewardstatus", {"rewardslist": [{"rewarddtlid": "rd-1001", "reward_status": "Rejected"}]})
    calls = [redeem] * 10 + [reject] + [redeem] * 10
    answers = race(live_server.url, calls)
    rejection = answers[10]["statuscode"]
    redemptions = Counter(a["statuscode"] for i, a in enumerate(answers) if i != 10)
    reward = EarnedReward.objects.get(org_id=O2, code="rd-1001")
    credited = LedgerEntry.objects.filter(kind="REDEMPTION").count()
    if rejection == 57:  # redeemed first: once, and the rejection changed nothing
        assert redemptions == {1: 1, 57: 19}
        assert (reward.status, reward.review_status, credited) == ("REDEEMED", "APPROVED", 1)
    else:  # rejected first: never redeemed (not there for Redeem Rewards: 0)
        assert rejection == 1
        assert redemptions == {0: 20}
        assert (reward.status, reward.review_status, credited) == ("UNREDEEMED", "REJECTED", 0)
    assert reconciliation_run().open_findings == []


def test_concurrent_registrations_of_one_new_user_create_it_once(live_server, world):
    body = {"UserIdInstore": "newcomer", "EmailId": "newcomer@example.com", "referrercode": "ASHA2026"}
    answers = race(live_server.url, [("updateuserinfo", body)] * 10)
    assert Counter(a["statuscode"] for a in answers) == {1: 10}
    assert len({a["userkey"] for a in answers}) == 1
    assert Counter(a["referrerSet"] for a in answers) == {True: 1, False: 9}
    assert Customer.objects.filter(org_id=O2, external_id="newcomer").count() == 1


def test_mutual_referrals_at_once_cannot_make_a_cycle(live_server, world):
    one = Customer.objects.create(org_id=O2, external_id="one", referral_code="ONE00001")
    two = Customer.objects.create(org_id=O2, external_id="two", referral_code="TWO00002")
    calls = [
        ("updateuserinfo", {"UserIdInstore": "one", "referrercode": "TWO00002"}),
        ("updateuserinfo", {"UserIdInstore": "two", "referrercode": "ONE00001"}),
    ] * 5
    answers = race(live_server.url, calls)
    assert Counter(a["statuscode"] for a in answers)[1] >= 1
    one.refresh_from_db()
    two.refresh_from_db()
    assert not (one.referrer_id == two.pk and two.referrer_id == one.pk)


def test_conversions_of_many_users_pay_their_referrer_each_time(live_server, world):
    referrer = Customer.objects.get(org_id=O2, external_id=ASHA)
    for n in range(10):
        Customer.objects.create(org_id=O2, external_id=f"f{n}", referrer=referrer)
    calls = [("registerconversionevent", {"UserIdInstore": f"f{n}", "eventName": "Signup"}) for n in range(10)]
    answers = race(live_server.url, calls)
    assert [len(a["rewards"]) for a in answers] == [2] * 10
    assert EarnedReward.objects.filter(customer=referrer, beneficiary="referrer").count() == 10
    assert (
        CampaignRule.objects.get(campaign=Campaign.objects.get(code="refer-a-friend"), event="Signup").usages.count()
        == 10
    )
