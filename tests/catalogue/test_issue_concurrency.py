"""Real threads against a live server on PostgreSQL: the balance never goes below zero, a
requestId issues once, a coupon series is never handed out more often than it has codes."""

import http.client
import json
import threading
from collections import Counter
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from catalogue.models import CatalogueReward, PaymentConfig, RewardIssue, VendorException
from coupons.models import Coupon, CouponPool
from coupons.services import coupons_bulk_add
from tests.catalogue.conftest import ASHA, ISSUE_URL, O2, OTHER_SCOPE, TRAVEL, assert_ledgers_add_up, basic, points
from wallets.models import LedgerEntry, Wallet
from wallets.services import wallet_post

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("issue_path")]


class _Answer:
    def __init__(self, status_code: int, body: bytes):
        self.status_code, self._body = status_code, body

    def json(self):
        return json.loads(self._body)


def race(url: str, bodies: list[dict], headers: dict | None = None) -> list[_Answer]:
    """POST every body at once, one thread and connection each. Connections are opened before
    the barrier (the live server's listen backlog is short), the requests sent after it."""
    barrier = threading.Barrier(len(bodies))
    answers: list = [None] * len(bodies)
    address = urlsplit(url)

    def post(i, body):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        connection.connect()
        barrier.wait()
        connection.request(
            "POST",
            f"{ISSUE_URL}?username=o2.till&skip_validation=true",
            body=json.dumps(body),
            headers={"Authorization": basic(), "Content-Type": "application/json", **(headers or {})},
        )
        response = connection.getresponse()
        answers[i] = _Answer(response.status, response.read())
        connection.close()

    threads = [threading.Thread(target=post, args=(i, body)) for i, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_thirty_issues_costing_more_than_the_balance_succeed_exactly_as_often_as_the_points_allow(demo, server_url):
    # given Asha's 500 points and 30 calls of a 70-point reward (2,100 points): 7 can be paid
    PaymentConfig.objects.filter(pk=62).update(points="70.00")
    # when
    responses = race(server_url, [{"externalId": ASHA, "rewards": [{"rewardId": 353}]}] * 30)
    # then
    codes = Counter((r.status_code, r.json()["status"]["code"]) for r in responses)
    assert codes == {(200, 200): 7, (400, 8004): 23}
    assert points(ASHA) == Decimal("10.00")
    assert RewardIssue.objects.count() == 7
    assert_ledgers_add_up()


def test_ten_copies_of_one_request_id_issue_once_and_all_answer_the_first_result(demo, server_url):
    body = {"externalId": ASHA, "rewards": [{"rewardId": 351, "quantity": 2, "requestId": "same-request"}]}
    responses = race(server_url, [body] * 10)
    assert {r.status_code for r in responses} == {200}
    transaction_ids = {r.json()["rewards"][0]["transactionId"] for r in responses}
    coupon_codes = {tuple(r.json()["rewards"][0]["intouch"]["couponCodes"]) for r in responses}
    assert len(transaction_ids) == 1 and len(coupon_codes) == 1
    assert RewardIssue.objects.count() == 1
    assert points(ASHA) == Decimal("420.00")
    assert Coupon.objects.filter(status="ISSUED").count() == 2
    assert_ledgers_add_up()


def test_a_coupon_series_of_n_codes_is_never_handed_out_more_than_n_times(demo, server_url):
    # given a series of 6 codes behind a 1-point reward, and 20 racing calls for 1 unit
    pool = CouponPool.objects.create(id=9_001, org_id=O2, name="Six")
    coupons_bulk_add(pool=pool, codes=[f"SIX-{n}" for n in range(6)])
    reward = CatalogueReward.objects.create(id=9_002, org_id=O2, name="Six", type="COUPON", coupon_pool=pool)
    PaymentConfig.objects.create(id=9_003, org_id=O2, reward=reward, mode="POINTS", points="1.00")
    # when
    responses = race(server_url, [{"externalId": ASHA, "rewards": [{"rewardId": 9_002}]}] * 20)
    # then six calls got six different codes, the others were refused, and only six points moved
    won = [r.json()["rewards"][0]["intouch"]["couponCode"] for r in responses if r.status_code == 200]
    assert sorted(won) == [f"SIX-{n}" for n in range(6)]
    assert Counter(r.json()["status"]["code"] for r in responses) == {200: 6, 8003: 14}
    assert points(ASHA) == Decimal("494.00")
    assert_ledgers_add_up()


def test_calls_claiming_the_same_request_ids_in_opposite_orders_issue_each_once_without_deadlock(demo, server_url):
    """Claims are taken in one sorted statement: two calls holding the same requestIds wait for
    each other instead of deadlocking (which PostgreSQL would end with an error, a 5xx)."""
    forward = {
        "externalId": ASHA,
        "rewards": [{"rewardId": 351, "requestId": "pair-a"}, {"rewardId": 352, "requestId": "pair-b"}],
    }
    backward = {"externalId": ASHA, "rewards": list(reversed(forward["rewards"]))}
    responses = race(server_url, [forward, backward] * 6)
    assert {r.status_code for r in responses} == {200}
    # each requestId issued once; every call answers the same transaction for it
    for request_id in ("pair-a", "pair-b"):
        ids = {
            item["transactionId"] for r in responses for item in r.json()["rewards"] if item["requestId"] == request_id
        }
        assert len(ids) == 1, ids
    assert RewardIssue.objects.count() == 2
    assert points(ASHA) == Decimal("435.00")  # 500 - 40 - 25
    assert_ledgers_add_up()


def test_a_reward_racing_a_spend_of_its_points_never_overdraws(demo, server_url):
    """Bulk calls checked against the balance before their transaction, then beaten to the points:
    the check of the whole call is made again under the wallet's lock, so a call that lost the race
    issues nothing (8004) rather than part of its rewards. (This test asserted 7 issued rewards,
    which only partial issuals after a failed points check could give; the seed forbids them.)"""
    PaymentConfig.objects.filter(pk=62).update(points="70.00")
    bulk = {"externalId": ASHA, "rewards": [{"rewardId": 353}, {"rewardId": 353}, {"rewardId": 353}]}
    responses = race(server_url, [bulk] * 8)
    issued = sum(1 for r in responses for item in r.json()["rewards"] if item["status"]["success"])
    assert {r.status_code for r in responses} <= {200, 400}
    assert Counter((r.status_code, r.json()["status"]["code"]) for r in responses) == {(200, 200): 2, (400, 8004): 6}
    assert issued == 6  # 2 calls x 3 x 70 of 500 points
    assert points(ASHA) == Decimal("80.00")
    assert RewardIssue.objects.count() == 6
    assert_ledgers_add_up()


def test_calls_paying_limited_promotions_in_two_orgs_in_opposite_orders_do_not_deadlock(demo, server_url):
    """The customers whose promotion limits a call checks are locked in id order up front."""
    from catalogue.models import Promotion

    for org, reward_id in ((O2, 9_021), (TRAVEL, 9_022)):
        promotion = Promotion.objects.create(org_id=org, code=f"limited-{org}", active=True, max_per_customer=100)
        reward = CatalogueReward.objects.create(
            id=reward_id, org_id=org, name="Limited", type="CART_PROMOTION", promotion=promotion
        )
        PaymentConfig.objects.create(id=reward_id, org_id=org, reward=reward, mode="POINTS", points="1.00")
    forward = {"externalId": ASHA, "rewards": [{"rewardId": 9_021, "orgId": O2}, {"rewardId": 9_022, "orgId": TRAVEL}]}
    backward = {"externalId": ASHA, "rewards": list(reversed(forward["rewards"]))}
    responses = race(server_url, [forward, backward] * 8, headers=OTHER_SCOPE)
    assert [r.status_code for r in responses] == [200] * 16, [r.json()["status"] for r in responses]
    assert RewardIssue.objects.count() == 32
    assert points(ASHA) == Decimal("484.00") and points(ASHA, TRAVEL) == Decimal("64.00")
    assert_ledgers_add_up()


def _two_rewards_of_60_and_1_point_for_a_customer_with_100_points():
    PaymentConfig.objects.filter(pk=62).update(points="60.00")  # reward 353
    reward = CatalogueReward.objects.create(id=9_031, org_id=O2, name="One point", type="POINTS_ONLY")
    PaymentConfig.objects.create(id=9_031, org_id=O2, reward=reward, mode="POINTS", points="1.00")
    _top_up_to(Decimal("100.00"))


def _top_up_to(balance: Decimal) -> None:
    wallet = Wallet.objects.get(org_id=O2, kind="POINTS", customer__external_id=ASHA)
    if wallet.balance != balance:
        wallet_post(wallet=wallet, delta=balance - wallet.balance, kind=LedgerEntry.Kind.ADJUSTMENT, reference="round")


@pytest.mark.parametrize("with_request_ids", [False, True], ids=["no-request-ids", "request-ids"])
def test_thirty_bulk_calls_of_61_points_for_100_points_issue_one_call_whole_and_no_call_partly(
    demo, server_url, with_request_ids
):
    """isRedeemable under concurrency: the call's total is checked and taken under the wallet's
    lock, so a call that would fail the check alone fails it in a race too, issuing nothing."""
    _two_rewards_of_60_and_1_point_for_a_customer_with_100_points()
    for round_ in range(3):
        bodies = []
        for i in range(30):
            rewards = [{"rewardId": 353}, {"rewardId": 9_031}]
            if with_request_ids:
                rewards = [{**r, "requestId": f"{round_}-{i}-{n}"} for n, r in enumerate(rewards)]
            bodies.append({"externalId": ASHA, "rewards": rewards})
        # when
        responses = race(server_url, bodies)
        # then exactly one call issued both rewards, every other one answered the points error
        codes = Counter((r.status_code, r.json()["status"]["code"]) for r in responses)
        assert codes == {(200, 200): 1, (400, 8004): 29}, (round_, codes)
        assert points(ASHA) == Decimal("39.00")
        assert RewardIssue.objects.count() == 2 * (round_ + 1)
        assert_ledgers_add_up()
        _top_up_to(Decimal("100.00"))


def test_thirty_bulk_calls_with_a_vendor_reward_of_60_points_for_100_points_issue_one_call_whole(
    demo, server_url, vendor
):
    """The reward-by-reward path (a VENDOR reward): the points of the whole call are checked under
    the wallet's lock, the vendor's held for the partner call (an open ``VendorCall``), so only one
    call calls the partner and no voucher is left without its points."""
    _two_rewards_of_60_and_1_point_for_a_customer_with_100_points()
    vendor.route(timeout_ms=10_000)
    body = {
        "externalId": ASHA,
        "rewards": [{"rewardId": 350, "paymentConfig": {"redemptionValue": 30}}, {"rewardId": 9_031}],
    }
    for round_ in range(3):
        responses = race(server_url, [body] * 30)
        codes = Counter((r.status_code, r.json()["status"]["code"]) for r in responses)
        assert codes == {(200, 200): 1, (400, 8004): 29}, (round_, codes)
        assert len(vendor.requests) == round_ + 1
        assert points(ASHA) == Decimal("39.00")
        assert not VendorException.objects.exists()
        assert RewardIssue.objects.count() == 2 * (round_ + 1)
        assert_ledgers_add_up()
        _top_up_to(Decimal("100.00"))
