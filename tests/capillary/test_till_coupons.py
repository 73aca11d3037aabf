"""Coupons at the till: isredeemable (details=extended) and redeem (Capillary v1.1)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from coupons.models import Coupon
from tests.capillary.conftest import ASHA_MOBILE, RAVI, issue_coupon
from tests.catalogue.conftest import ASHA

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ISREDEEMABLE, REDEEM = "/v1.1/coupon/isredeemable", "/v1.1/coupon/redeem"


def redeem_body(code, number="bill-1", amount="450.00", customer=None):
    return {
        "root": {
            "coupon": [
                {"code": code, "customer": customer or {"mobile": ASHA_MOBILE}, "transaction": {"number": number,
                                                                                                 "amount": amount}}
            ]
        }
    }  # fmt: skip


def status_of(response):
    return response.json()["response"]["coupons"]["redemption_status"]


def test_an_issued_coupon_is_redeemable_with_its_series_info(demo, till, issue):
    _, code = issue_coupon(issue)
    response = till.get(ISREDEEMABLE, code=code, external_id=ASHA, details="extended", format="json")
    assert response.status_code == 200
    body = response.json()["response"]
    assert body["status"]["code"] == 200
    assert body["coupons"]["redemption_status"] == {
        "code": code,
        "is_redeemable": True,
        "item_status": {"success": True, "code": 700, "message": "Coupon can be redeemed"},
    }
    series = body["coupons"]["series_info"]
    assert series["id"] == 234 and series["description"] == "Movie ticket: 150 off"
    assert series["discount_type"] == "ABS" and series["discount_value"] == "150.00"
    plain = till.get(ISREDEEMABLE, code=code, external_id=ASHA).json()["response"]["coupons"]
    assert "series_info" not in plain


def test_redeem_marks_the_coupon_redeemed_with_the_transaction_once(demo, till, issue, coupon_redeem_path):
    _, code = issue_coupon(issue)
    response = till.post(REDEEM, redeem_body(code))
    assert response.status_code == 200
    assert response.json()["response"]["coupons"]["coupon"] == {
        "code": code,
        "transaction_number": "bill-1",
        "item_status": {"success": True, "code": 700, "message": "Coupon redeemed"},
    }
    coupon = Coupon.objects.get(code=code)
    assert coupon.status == "REDEEMED" and coupon.redeemed_transaction_number == "bill-1"
    assert coupon.redeemed_amount == Decimal("450.00") and coupon.redeemed_at is not None
    # the same code and transaction again: the first answer; another transaction: 702
    replay = till.post(REDEEM, redeem_body(code))
    assert replay.status_code == 200 and replay.json()["response"]["coupons"]["coupon"]["item_status"]["code"] == 700
    other = till.post(REDEEM, redeem_body(code, number="bill-2"))
    assert other.status_code == 400 and other.json()["response"]["coupons"]["coupon"]["item_status"]["code"] == 702
    assert status_of(till.get(ISREDEEMABLE, code=code, mobile=ASHA_MOBILE))["item_status"]["code"] == 702
    assert Coupon.objects.get(code=code).redeemed_transaction_number == "bill-1"


def test_the_object_form_of_the_coupon_wrapper_is_accepted(demo, till, issue, coupon_redeem_path):
    _, code = issue_coupon(issue)
    body = {"root": {"coupon": redeem_body(code)["root"]["coupon"][0]}}
    assert till.post(REDEEM, body, format="json").status_code == 200


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("other-customer", 704),
        ("unknown-code", 708),
        ("expired", 703),
        ("voided", 705),
        ("unknown-customer", 704),
    ],
)
def test_coupons_that_cannot_be_used_answer_their_item_code(demo, till, issue, setup, code, coupon_redeem_path):
    _, coupon_code = issue_coupon(issue)
    customer = {"mobile": ASHA_MOBILE}
    if setup == "other-customer":
        customer = {"external_id": RAVI}
    elif setup == "unknown-code":
        coupon_code = "NO-SUCH-CODE"
    elif setup == "expired":
        Coupon.objects.filter(code=coupon_code).update(expires_at=timezone.now() - timedelta(days=1))
    elif setup == "voided":
        Coupon.objects.filter(code=coupon_code).update(status="VOID")
    elif setup == "unknown-customer":
        customer = {"external_id": "nobody"}
    checked = till.get(ISREDEEMABLE, code=coupon_code, **customer)
    assert checked.status_code == 200
    assert status_of(checked)["item_status"]["code"] == code and status_of(checked)["is_redeemable"] is False
    assert checked.json()["response"]["status"]["code"] == 500
    before = list(Coupon.objects.order_by("pk").values_list("pk", "status", "redeemed_transaction_number"))
    redeemed = till.post(REDEEM, redeem_body(coupon_code, customer=customer))
    assert redeemed.status_code == 400
    assert redeemed.json()["response"]["coupons"]["coupon"]["item_status"]["code"] == code
    assert list(Coupon.objects.order_by("pk").values_list("pk", "status", "redeemed_transaction_number")) == before


@pytest.mark.parametrize(
    "body",
    [
        {"root": {"coupon": []}},
        {"root": {"coupon": [{"code": "X"}]}},  # no transaction
        {"root": {"coupon": [{"code": "X", "transaction": {"amount": "1"}}]}},
        {"root": {"coupon": [{"code": "X", "transaction": {"number": "1", "amount": "-1"}}]}},
        {"root": {"coupon": [{"code": "X", "transaction": {"number": "1" * 65}}]}},
        {"root": {"coupon": [{"code": ["X"], "transaction": {"number": "1"}}]}},
        {"root": {"coupon": [{"code": "X", "transaction": {"number": "1"}}] * 2}},
    ],
)
def test_malformed_coupon_redeem_bodies_answer_400(demo, till, body):
    response = till.post(REDEEM, body)
    assert response.status_code == 400 and response.json()["response"]["status"]["code"] == 400


def test_a_coupon_redemption_is_one_statement_with_the_customer_lookup_and_its_event(demo, till, issue):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _, code = issue_coupon(issue)
    till.get(ISREDEEMABLE, code=code, mobile=ASHA_MOBILE)  # the till's credentials cached
    with CaptureQueriesContext(connection) as queries:
        assert till.post(REDEEM, redeem_body(code)).status_code == 200
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 1, statements
    redeem = statements[0]
    assert redeem.lstrip().startswith("WITH holder AS") and "FROM orgs_customer" in redeem
    assert "UPDATE coupons_coupon" in redeem and "INSERT INTO orgs_outboxevent" in redeem
