"""Exactly once under concurrency: real threads against a live server on PostgreSQL."""

import threading
import time
from collections import Counter
from decimal import Decimal

import httpx
import pytest
from django.db.models import Sum

from backoffice.scenario import scenario_load
from coupons.models import Coupon, CouponPool
from coupons.services import coupons_bulk_add
from orgs.models import Campaign, Customer
from wallets.models import EarnedReward, LedgerEntry, Wallet

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redeem_path")]

KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}
O2 = 4000876


@pytest.fixture
def world(demo_document, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    scenario_load(document=demo_document)


def race(url: str, bodies: list[dict], headers: dict | None = None) -> list[dict]:
    """POST every body at once (one thread each, released together); the answers in order."""
    barrier = threading.Barrier(len(bodies))
    answers: list[dict | None] = [None] * len(bodies)

    def post(index: int, body: dict) -> None:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            response = client.post(f"{url}/v2_0/redeemrewards", json=body, headers=headers or {})
            assert response.status_code < 500, response.text
            answers[index] = response.json()

    threads = [threading.Thread(target=post, args=(i, body)) for i, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answer is not None for answer in answers)
    return answers


def assert_books_balance() -> None:
    for wallet in Wallet.objects.all():
        total = wallet.entries.aggregate(total=Sum("delta"))["total"] or Decimal("0.00")
        assert wallet.balance == total >= 0, wallet


def test_thirty_redemptions_of_one_reward_succeed_once(server_url, world):
    body = {**KEYS, "UserIdInstore": "ext_id98543198", "rewarddtlids": ["rd-1001"]}
    answers = race(server_url, [body] * 30)
    assert Counter(a["statuscode"] for a in answers) == {1: 1, 57: 29}
    assert LedgerEntry.objects.filter(kind="REDEMPTION").count() == 1
    assert Wallet.objects.get(org_id=O2, kind="CREDITS", customer__external_id="ext_id98543198").balance == 10
    assert_books_balance()


def test_thirty_amount_redemptions_never_credit_more_than_was_earned(server_url, world):
    # Asha has 25.00 unredeemed (10.00 + 15.00); thirty calls ask 1.50 each
    answers = race(server_url, [{**KEYS, "userkey": "2d0f2c8e-7c7e-4a57-9c43-5f3f6b1f0a11", "amount": "1.50"}] * 30)
    codes = Counter(a["statuscode"] for a in answers)
    assert codes == {1: 16, 104: 14}  # 16 x 1.50 = 24.00; the last 1.00 cannot pay 1.50
    wallet = Wallet.objects.get(org_id=O2, kind="CREDITS", customer__external_id="ext_id98543198")
    assert wallet.balance == Decimal("24.00")
    redeemed = EarnedReward.objects.filter(code__in=["rd-1001", "rd-1002"]).aggregate(s=Sum("redeemed_amount"))["s"]
    assert redeemed == Decimal("24.00")
    assert sorted({a["wallet"]["balance"] for a in answers if a["statuscode"] == 1}) == sorted(
        f"{Decimal('1.50') * n:.2f}" for n in range(1, 17)
    )
    assert_books_balance()


def test_forty_users_racing_for_twenty_coupons_get_twenty_distinct_coupons(server_url, world):
    # given a "User will choose" pool of 20 and 40 users with one coupon reward each
    campaign = Campaign.objects.get(org_id=O2, code="loyalty-coffee")
    pool = CouponPool.objects.create(id=9001, org_id=O2, name="Race", campaign=campaign)
    coupons_bulk_add(pool=pool, codes=[f"RACE-{n:02d}" for n in range(20)])
    users = Customer.objects.bulk_create(Customer(org_id=O2, external_id=f"racer-{n}") for n in range(40))
    EarnedReward.objects.bulk_create(
        EarnedReward(org_id=O2, code=f"race-{n}", campaign=campaign, customer=user, earned_at="2026-10-01T00:00:00Z")
        for n, user in enumerate(users)
    )
    # when
    answers = race(server_url, [{**KEYS, "UserIdInstore": u.external_id, "poolId": 9001} for u in users])
    # then
    won = [a["coupon"]["code"] for a in answers if a["statuscode"] == 1]
    assert Counter(a["statuscode"] for a in answers) == {1: 20, 49: 20}
    assert len(set(won)) == 20
    issued = Coupon.objects.filter(pool=pool, status="ISSUED")
    assert issued.count() == 20 and issued.values("holder").distinct().count() == 20
    assert EarnedReward.objects.filter(code__startswith="race-", status="REDEEMED").count() == 20


def test_ten_copies_of_one_idempotency_key_redeem_once(server_url, world):
    body = {**KEYS, "UserIdInstore": "ext-ravi", "amount": "2.00"}
    answers = race(server_url, [body] * 10, headers={"Idempotency-Key": "same-order"})
    assert all(answer == answers[0] for answer in answers) and answers[0]["statuscode"] == 1
    assert LedgerEntry.objects.filter(kind="REDEMPTION").count() == 1
    assert_books_balance()


def test_one_idempotency_key_on_both_paths_at_once_does_not_deadlock(server_url, world, monkeypatch):
    """The same key sent with two bodies: one that only the step-by-step path takes (a campaign
    filter) and one the statement takes when it is on. The step-by-step call claims the key, then
    waits until the other call is waiting too before it locks the rewards: both paths claim the
    key before any reward or wallet, so the second call waits on the key alone and, once the first
    has committed, is told the key was used with another body (105). Locking the rewards before
    the key, it would have held what the first call waits for: a deadlock, one of them a 500."""
    from django.db import connection

    from wallets import redeem

    found, claimed = redeem.customer_find, threading.Event()

    def customer_find_once_the_other_waits(**kwargs):  # the step-by-step call, its key claimed
        if not claimed.is_set():
            claimed.set()
            with connection.cursor() as cursor:
                for _ in range(100):
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                    )
                    if cursor.fetchone()[0]:
                        break
                    time.sleep(0.05)
        return found(**kwargs)

    monkeypatch.setattr(redeem, "customer_find", customer_find_once_the_other_waits)
    asha = {**KEYS, "UserIdInstore": "ext_id98543198"}
    bodies = [{**asha, "amount": "1.00", "campaignId": "refer-a-friend"}, {**asha, "amount": "2.00"}]
    answers: list[dict | None] = [None, None]

    def post(index: int) -> None:
        with httpx.Client(timeout=60) as client:
            response = client.post(
                f"{server_url}/v2_0/redeemrewards", json=bodies[index], headers={"Idempotency-Key": "both-paths"}
            )
            assert response.status_code < 500, response.text
            answers[index] = response.json()

    first = threading.Thread(target=post, args=(0,))
    first.start()
    assert claimed.wait(30)
    second = threading.Thread(target=post, args=(1,))
    second.start()
    first.join()
    second.join()
    assert [a["statuscode"] for a in answers] == [1, 105]
    assert LedgerEntry.objects.filter(kind="REDEMPTION").get().delta == Decimal("1.00")
    assert_books_balance()
