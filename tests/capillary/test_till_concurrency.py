"""Real threads against a live server on PostgreSQL: points never go below zero or come back
twice, a coupon is used once, an issue is refunded once, a revoke and a coupon redemption of the
same issue never both win."""

import http.client
import json
import threading
from collections import Counter
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from catalogue.models import RewardIssue, RewardIssueRevocation
from coupons.models import Coupon
from orgs.models import OutboxEvent
from tests.capillary.conftest import ASHA_MOBILE, redeem_body, set_points
from tests.catalogue.conftest import ASHA, assert_ledgers_add_up, basic, points
from wallets.models import LedgerEntry, PointsRedemption, PointsReversal

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

QUERY = "?username=o2.till&skip_validation=true"


def race(base: str, calls: list[tuple[str, str, dict]]) -> list[tuple[int, dict]]:
    """Send every (method, path, body) at once, one thread and connection each: connections are
    opened before the barrier, the requests sent after it. Returns (status, document) in order."""
    address = urlsplit(base)
    barrier = threading.Barrier(len(calls))
    answers: list = [None] * len(calls)

    def send(i, method, path, body):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        connection.connect()
        barrier.wait()
        headers = {"Authorization": basic(), "Content-Type": "application/json"}
        connection.request(method, path + QUERY, body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        answers[i] = (response.status, json.loads(response.read()))
        connection.close()

    threads = [threading.Thread(target=send, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _item(document):
    return document["response"]["responses"]["points"]["item_status"]["code"]


def test_twenty_redeems_of_30_on_100_points_three_succeed_and_10_remain(demo, live_server, points_redeem_path):
    set_points(ASHA, "100")
    calls = [("POST", "/v1.1/points/redeem", redeem_body(points="30", number=f"bill-{n}")) for n in range(20)]
    answers = race(live_server.url, calls)
    assert Counter((status, _item(doc)) for status, doc in answers) == {(200, 800): 3, (400, 803): 17}
    assert points(ASHA) == Decimal("10.00")
    assert PointsRedemption.objects.count() == 3 and LedgerEntry.objects.filter(kind="POINTS_REDEEM").count() == 3
    assert_ledgers_add_up()


def test_ten_copies_of_one_transaction_number_debit_once_and_answer_the_same_redemption(
    demo, live_server, points_redeem_path
):
    calls = [("POST", "/v1.1/points/redeem", redeem_body(points="30", number="bill-same"))] * 10
    answers = race(live_server.url, calls)
    assert {status for status, _ in answers} == {200}
    ids = {doc["response"]["responses"]["points"]["redemption_id"] for _, doc in answers}
    assert len(ids) == 1
    assert points(ASHA) == Decimal("470.00") and PointsRedemption.objects.count() == 1
    assert_ledgers_add_up()


def test_ten_reversals_of_one_redemption_never_credit_more_than_it_took(demo, live_server, client):
    response = client.post(
        "/v1.1/points/redeem" + QUERY,
        json.dumps(redeem_body(points="30", number="bill-r")),
        content_type="application/json",
        headers={"Authorization": basic()},
    )
    redemption_id = response.json()["response"]["responses"]["points"]["redemption_id"]
    identifier = {"type": "mobile", "value": ASHA_MOBILE}
    body = {"redemptionId": redemption_id, "pointsToBeReversed": "7", "identifier": identifier}
    answers = race(live_server.url, [("POST", "/v2/points/reverse", body)] * 10)
    assert Counter(status for status, _ in answers) == {200: 4, 400: 6}
    assert {doc["errors"][0]["code"] for status, doc in answers if status == 400} == {812}
    assert points(ASHA) == Decimal("498.00")  # 470 + 4 x 7: never more than the 30 taken
    redemption = PointsRedemption.objects.get()
    assert redemption.reversed_points == Decimal("28.00") and PointsReversal.objects.count() == 4
    assert_ledgers_add_up()


def _issue_coupon(client) -> tuple[int, str]:
    response = client.post(
        "/v1.1/user/rewards/issue/" + QUERY,
        json.dumps({"externalId": ASHA, "rewards": [{"rewardId": 351}]}),
        content_type="application/json",
        headers={"Authorization": basic()},
    )
    reward = response.json()["rewards"][0]
    return reward["transactionId"], reward["intouch"]["couponCode"]


def _coupon_body(code, number):
    return {"root": {"coupon": [{"code": code, "customer": {"external_id": ASHA}, "transaction": {"number": number}}]}}


def test_ten_redeems_of_one_coupon_succeed_once_with_one_event(demo, live_server, client, coupon_redeem_path):
    _, code = _issue_coupon(client)
    answers = race(live_server.url, [("POST", "/v1.1/coupon/redeem", _coupon_body(code, f"b-{n}")) for n in range(10)])
    codes = Counter((s, d["response"]["coupons"]["coupon"]["item_status"]["code"]) for s, d in answers)
    assert codes == {(200, 700): 1, (400, 702): 9}
    coupon = Coupon.objects.get(code=code)
    assert coupon.status == "REDEEMED"
    winner = next(d for s, d in answers if s == 200)["response"]["coupons"]["coupon"]["transaction_number"]
    assert coupon.redeemed_transaction_number == winner
    [event] = OutboxEvent.objects.filter(kind="redemption")
    assert (event.payload["of"], event.payload["transactionNumber"]) == ("coupon", winner)


def test_ten_revokes_of_one_issue_refund_once(demo, live_server, client):
    transaction_id, _ = _issue_coupon(client)
    answers = race(live_server.url, [("POST", "/v1/user/reward/revoke", {"txnId": transaction_id})] * 10)
    assert {status for status, _ in answers} == {200}
    assert {doc["pointsRefunded"] for _, doc in answers} == {"40.00"}
    assert RewardIssueRevocation.objects.count() == 1
    assert LedgerEntry.objects.filter(kind="REVERSAL", reference__startswith="revoke:").count() == 1
    assert points(ASHA) == Decimal("500.00")
    assert_ledgers_add_up()


def test_a_revoke_racing_a_coupon_redeem_of_the_same_issue_exactly_one_wins(
    demo, live_server, client, coupon_redeem_path
):
    for round_ in range(6):
        transaction_id, code = _issue_coupon(client)
        calls = [
            ("POST", "/v1/user/reward/revoke", {"txnId": transaction_id}),
            ("POST", "/v1.1/coupon/redeem", _coupon_body(code, f"race-{round_}")),
        ]
        calls = calls if round_ % 2 else calls[::-1]
        answers = race(live_server.url, calls)
        assert sorted(status for status, _ in answers) == [200, 400], answers
        issue = RewardIssue.objects.get(pk=transaction_id)
        coupon = Coupon.objects.get(code=code)
        if issue.status == "CANCELLED":
            assert coupon.status == "VOID"
        else:
            assert issue.status == "ISSUED" and coupon.status == "REDEEMED"
    refunds = RewardIssueRevocation.objects.count()
    redeemed = Coupon.objects.filter(status="REDEEMED").count()
    assert refunds + redeemed == 6
    assert points(ASHA) == Decimal("500.00") - 40 * redeemed
    assert_ledgers_add_up()
