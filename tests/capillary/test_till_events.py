"""Every points movement at a till writes its outbox event in the transaction that moves the points:
a redemption (``redemption``, ``"of": "points"``) and each reversal (``reversal``, ``"of":
"points_redemption"``); so does a coupon used at a till (``redemption``, ``"of": "coupon"``). A
replay or a refusal moves nothing and writes none."""

from decimal import Decimal

import pytest

from coupons.models import Coupon
from orgs.models import OutboxEvent
from tests.capillary.conftest import ASHA_MOBILE, RAVI, issue_coupon, redeem_body
from tests.catalogue.conftest import ASHA, O2
from wallets.models import LedgerEntry, PointsRedemption, Wallet

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

REDEEM, REVERSE = "/v1.1/points/redeem", "/v2/points/reverse"


def _events(kind: str) -> list[dict]:
    return [event.payload for event in OutboxEvent.objects.filter(kind=kind).order_by("pk")]


def test_a_till_redemption_writes_one_event_with_its_entry_and_a_replay_or_refusal_none(demo, till, points_redeem_path):
    response = till.post(REDEEM, redeem_body(points="30", number="bill-e1"), skip_validation="true")
    assert response.status_code == 200, response.json()
    redemption = PointsRedemption.objects.get()
    entry = LedgerEntry.objects.get(kind="POINTS_REDEEM")
    [event] = _events("redemption")
    assert event == {
        "of": "points",
        "customer": {"id": redemption.customer_id, "externalId": ASHA, "email": event["customer"]["email"],
                     "mobile": event["customer"]["mobile"]},
        "groupId": None,
        "points": "30.00",
        "redeemedValue": "7.50",
        "redemptionId": redemption.reference,
        "reference": entry.reference,
        "transactionNumber": "bill-e1",
        "till": "o2.till",
        "ledgerEntry": entry.pk,
        "wallet": {"id": entry.wallet_id, "kind": "POINTS", "balance": "470.00"},
    }  # fmt: skip
    assert OutboxEvent.objects.get().org_id == O2
    # the same number again (a replay), other points under it (811), more than held (803): no event
    assert till.post(REDEEM, redeem_body(points="30", number="bill-e1"), skip_validation="true").status_code == 200
    assert till.post(REDEEM, redeem_body(points="31", number="bill-e1"), skip_validation="true").status_code == 400
    assert till.post(REDEEM, redeem_body(points="9999", number="bill-e2"), skip_validation="true").status_code == 400
    assert OutboxEvent.objects.count() == 1


def test_a_group_redemption_event_names_the_groups_wallet(demo, till):
    body = redeem_body(points="200", customer={"external_id": RAVI}, group_redemption=True, user_group2_id=77)
    assert till.post(REDEEM, body, skip_validation="true").status_code == 200
    [event] = _events("redemption")
    group_wallet = Wallet.objects.get(group_id=77, kind="POINTS")
    assert event["groupId"] == 77 and event["wallet"] == {"id": group_wallet.pk, "kind": "POINTS", "balance": "800.00"}


def test_each_reversal_writes_one_event_and_a_refused_one_none(demo, till):
    response = till.post(REDEEM, redeem_body(points="30", number="bill-e3"), skip_validation="true")
    reference = response.json()["response"]["responses"]["points"]["redemption_id"]
    identifier = {"type": "externalId", "value": ASHA}
    for points in ("10", "20", "0.01"):  # the last is more than is left: 812
        till.post(REVERSE, {"redemptionId": reference, "pointsToBeReversed": points, "identifier": identifier})
    events = _events("reversal")
    entries = list(LedgerEntry.objects.filter(kind="POINTS_REVERSE").order_by("pk"))
    assert [e["points"] for e in events] == ["10.00", "20.00"]
    assert [e["ledgerEntry"] for e in events] == [entry.pk for entry in entries]
    assert (
        events[-1]["wallet"]["balance"] == "500.00"
        and Decimal(events[-1]["wallet"]["balance"]) == entries[-1].balance_after
    )
    assert {(e["of"], e["redemptionId"], e["till"]) for e in events} == {("points_redemption", reference, "o2.till")}


def test_a_coupon_redeemed_at_the_till_writes_one_event_and_a_replay_or_refusal_none(
    demo, till, issue, coupon_redeem_path
):
    # given a coupon issued to Asha (its issue wrote an ``issue`` event)
    _, code = issue_coupon(issue)
    body = {"root": {"coupon": {"code": code, "customer": {"mobile": ASHA_MOBILE},
                                "transaction": {"number": "bill-c1", "amount": "450.00"}}}}  # fmt: skip
    # when it is redeemed
    assert till.post("/v1.1/coupon/redeem", body).status_code == 200
    # then one event, in the transaction of the redemption
    coupon = Coupon.objects.get(code=code)
    [event] = _events("redemption")
    assert event == {
        "of": "coupon",
        "customer": {"id": coupon.holder_id, "externalId": ASHA, "email": event["customer"]["email"],
                     "mobile": ASHA_MOBILE},
        "coupon": {"id": coupon.pk, "code": code, "poolId": coupon.pool_id},
        "transactionNumber": "bill-c1",
        "amount": "450.00",
        "till": "o2.till",
    }  # fmt: skip
    assert OutboxEvent.objects.filter(kind="redemption").get().org_id == O2
    # the same again (a replay), another transaction number (702), an unknown code (708): no event
    assert till.post("/v1.1/coupon/redeem", body).status_code == 200
    body["root"]["coupon"]["transaction"]["number"] = "bill-c2"
    assert till.post("/v1.1/coupon/redeem", body).status_code == 400
    body["root"]["coupon"]["code"] = "NO-SUCH-CODE"
    assert till.post("/v1.1/coupon/redeem", body).status_code == 400
    assert OutboxEvent.objects.filter(kind="redemption").count() == 1
