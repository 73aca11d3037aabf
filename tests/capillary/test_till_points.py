"""Points at the till: isredeemable, redeem, reverse, validation codes (Capillary v1.1 / v2)."""

from decimal import Decimal

import pytest

from tests.capillary.conftest import ASHA_MOBILE, RAVI, ledger_count, redeem_body, set_points
from tests.catalogue.conftest import ASHA, O2, TRAVEL, assert_ledgers_add_up, group_points, points
from wallets.models import LedgerEntry, PointsRedemption, PointsReversal

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ISREDEEMABLE, REDEEM, REVERSE = "/v1.1/points/isredeemable", "/v1.1/points/redeem", "/v2/points/reverse"


def item(response, key="redeemable"):
    body = response.json()["response"]
    return body["points"][key] if "points" in body else body["responses"]["points"]


# --- isredeemable -------------------------------------------------------------------------------


def test_isredeemable_answers_800_with_the_orgs_point_value_and_writes_nothing(demo, till):
    before = ledger_count()
    response = till.get(ISREDEEMABLE, external_id=ASHA, points="30", skip_validation="true")
    assert response.status_code == 200
    body = response.json()["response"]
    assert body["status"] == {"success": True, "code": 200, "message": "SUCCESS"}
    answer = body["points"]["redeemable"]
    assert answer["is_redeemable"] is True
    assert answer["points"] == "30.00"
    assert answer["points_currency_ratio"] == "0.25"  # the demo org's point value
    assert answer["points_redeem_value"] == "7.50"
    assert answer["mobile"] == ASHA_MOBILE and answer["external_id"] == ASHA
    assert answer["item_status"] == {"success": True, "code": 800, "message": "Points can be redeemed"}
    assert ledger_count() == before


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"external_id": ASHA, "points": "500.01", "skip_validation": "true"}, 803),
        ({"external_id": ASHA, "points": "30"}, 808),  # skip_validation defaults to false: a code is needed
        ({"external_id": ASHA, "points": "30", "validation_code": "000000"}, 808),
        ({"external_id": "nobody", "points": "30", "skip_validation": "true"}, 816),
        ({"mobile": "1", "points": "30", "skip_validation": "true"}, 816),
        ({"external_id": ASHA, "points": "abc", "skip_validation": "true"}, 819),
        ({"external_id": ASHA, "points": "0", "skip_validation": "true"}, 819),
        ({"external_id": ASHA, "points": "-5", "skip_validation": "true"}, 819),
        ({"external_id": ASHA, "points": "1e30", "skip_validation": "true"}, 819),
        ({"external_id": ASHA, "points": "1.234", "skip_validation": "true"}, 819),
        ({"external_id": ASHA, "skip_validation": "true"}, 819),
    ],
)
def test_isredeemable_refusals_answer_http_200_with_the_item_code(demo, till, query, code):
    response = till.get(ISREDEEMABLE, **query)
    assert response.status_code == 200
    body = response.json()["response"]
    assert body["status"]["success"] is False and body["status"]["code"] == 500
    assert body["points"]["redeemable"]["is_redeemable"] is False
    assert body["points"]["redeemable"]["item_status"]["code"] == code
    assert body["status"]["message"] == body["points"]["redeemable"]["item_status"]["message"]


def test_isredeemable_accepts_a_validation_code_without_spending_it(demo, till):
    code = till.get("/v1.1/points/validationcode", externalId=ASHA).json()["validationCode"]["code"]
    answer = item(till.get(ISREDEEMABLE, external_id=ASHA, points="30", validation_code=code))
    assert answer["item_status"]["code"] == 800
    response = till.post(REDEEM, redeem_body(validation_code=code))  # still usable once
    assert response.status_code == 200, response.json()
    again = till.post(REDEEM, redeem_body(number="bill-2", validation_code=code))
    assert again.status_code == 400 and item(again)["item_status"]["code"] == 808


def test_isredeemable_of_a_group_reads_the_groups_points(demo, till):
    answer = item(
        till.get(ISREDEEMABLE, external_id=RAVI, points="900", skip_validation="true", group_redemption="true",
                 user_group2_id=77)
    )  # fmt: skip
    assert answer["item_status"]["code"] == 800  # Ravi holds 30, the group 1000


# --- redeem -------------------------------------------------------------------------------------


def test_redeem_takes_the_points_in_one_ledger_entry_the_back_office_can_explain(demo, till, points_redeem_path):
    response = till.post(REDEEM, redeem_body(points="30", number="bill-1001"), skip_validation="true")
    assert response.status_code == 200
    body = response.json()["response"]
    assert body["status"]["success"] is True and body["status"]["code"] == 200
    answer = body["responses"]["points"]
    assert answer["item_status"]["code"] == 800
    assert answer["points_redeemed"] == "30.00" and answer["redeemed_value"] == "7.50"
    assert answer["balance"] == "470.00"
    assert points(ASHA) == Decimal("470.00")
    redemption = PointsRedemption.objects.get()
    assert answer["redemption_id"] == redemption.reference
    entry = LedgerEntry.objects.get(kind="POINTS_REDEEM")
    assert entry.delta == Decimal("-30.00") and entry.reference == f"points-redeem:{redemption.reference}"
    assert "o2.till" in entry.memo and "bill-1001" in entry.memo
    assert redemption.ledger_entry_id == entry.pk and redemption.transaction_number == "bill-1001"
    assert_ledgers_add_up()


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda: redeem_body(), id="root-redeem-list"),
        pytest.param(lambda: {"root": {"redeem": redeem_body()["root"]["redeem"][0]}}, id="redeem-as-an-object"),
        pytest.param(lambda: redeem_body(points=30), id="points-as-a-number"),
        pytest.param(lambda: redeem_body(customer={"mobile": ASHA_MOBILE}), id="mobile-in-customer"),
        pytest.param(lambda: redeem_body(customer={"email": "ASHA@example.com"}), id="email-in-customer"),
        pytest.param(lambda: redeem_body(customer={"externalId": ASHA}), id="camelCase-externalId"),
    ],
)
def test_the_request_shapes_public_clients_send_are_accepted(demo, till, shape, points_redeem_path):
    response = till.post(REDEEM, shape(), skip_validation="true", format="json", program_id="7")
    assert response.status_code == 200, response.json()
    assert item(response)["item_status"]["code"] == 800
    assert points(ASHA) == Decimal("470.00")


def test_a_transaction_number_replayed_answers_the_first_redemption_with_no_second_debit(
    demo, till, points_redeem_path
):
    first = till.post(REDEEM, redeem_body(number="bill-7"), skip_validation="true")
    till.post(REDEEM, redeem_body(points="10", number="bill-8"), skip_validation="true")
    again = till.post(REDEEM, redeem_body(number="bill-7"), skip_validation="true")
    assert again.status_code == 200
    assert item(again)["redemption_id"] == item(first)["redemption_id"]
    assert item(again) == item(first)  # the first answer exactly, the balance as it was then
    assert points(ASHA) == Decimal("460.00")
    assert PointsRedemption.objects.count() == 2


def test_the_same_transaction_number_with_other_points_answers_811_and_changes_nothing(demo, till, points_redeem_path):
    till.post(REDEEM, redeem_body(number="bill-7"), skip_validation="true")
    before = ledger_count()
    response = till.post(REDEEM, redeem_body(points="31", number="bill-7"), skip_validation="true")
    assert response.status_code == 400
    assert item(response)["item_status"]["code"] == 811
    assert response.json()["response"]["status"]["code"] == 500
    assert ledger_count() == before and points(ASHA) == Decimal("470.00")


def test_the_same_transaction_number_is_another_customers_own(demo, till, points_redeem_path):
    till.post(REDEEM, redeem_body(number="bill-7"), skip_validation="true")
    response = till.post(REDEEM, redeem_body(points="5", number="bill-7", customer={"external_id": RAVI}),
                         skip_validation="true")  # fmt: skip
    assert response.status_code == 200 and points(RAVI) == Decimal("25.00")


def test_a_refused_call_does_not_use_up_its_transaction_number(demo, till, points_redeem_path):
    refused = till.post(REDEEM, redeem_body(points="600", number="bill-9"), skip_validation="true")
    assert refused.status_code == 400 and item(refused)["item_status"]["code"] == 803
    assert item(refused)["balance"] == "500.00"
    response = till.post(REDEEM, redeem_body(points="60", number="bill-9"), skip_validation="true")
    assert response.status_code == 200 and points(ASHA) == Decimal("440.00")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (redeem_body(points="500.01"), 803),
        (redeem_body(customer={"external_id": "nobody"}), 816),
        (redeem_body(customer={"mobile": ""}), 816),
        (redeem_body(points="-30"), 819),
        (redeem_body(points="0"), 819),
        (redeem_body(points="99999999999999999999"), 819),
        (redeem_body(points="NaN"), 819),
        (redeem_body(points=True), 819),
        (redeem_body(points=[30]), 819),
        (redeem_body(points=None), 819),
        (redeem_body(group_redemption=True), 816),  # no group named
        (redeem_body(customer={"external_id": "ext-meena"}, user_group2_id=77), 816),  # not a member
    ],
)
def test_redeem_refusals_answer_http_400_with_the_item_code_and_change_nothing(
    demo, till, body, code, points_redeem_path
):
    before = ledger_count()
    response = till.post(REDEEM, body, skip_validation="true")
    assert response.status_code == 400
    assert item(response)["item_status"]["code"] == code
    assert ledger_count() == before and not PointsRedemption.objects.exists()


def test_redeem_without_skip_validation_needs_a_validation_code(demo, till):
    refused = till.post(REDEEM, redeem_body())
    assert refused.status_code == 400 and item(refused)["item_status"]["code"] == 808
    code = till.post("/v1.1/points/validationcode", {"externalId": ASHA}).json()["validationCode"]["code"]
    assert till.post(REDEEM, redeem_body(validation_code=code)).status_code == 200
    assert points(ASHA) == Decimal("470.00")


def test_a_new_validation_code_replaces_the_previous_one(demo, till):
    first = till.get("/v1.1/points/validationcode", externalId=ASHA).json()["validationCode"]["code"]
    second = till.post("/v1.1/points/validation_code", {"externalId": ASHA}).json()["validationCode"]["code"]
    if first != second:
        assert item(till.post(REDEEM, redeem_body(validation_code=first)))["item_status"]["code"] == 808
    assert till.post(REDEEM, redeem_body(validation_code=second)).status_code == 200


def test_group_redemption_draws_from_the_groups_wallet(demo, till):
    body = redeem_body(points="200", customer={"external_id": RAVI}, group_redemption=True, user_group2_id=77)
    response = till.post(REDEEM, body, skip_validation="true")
    assert response.status_code == 200, response.json()
    assert item(response)["balance"] == "800.00"
    assert group_points(77) == Decimal("800.00") and points(RAVI) == Decimal("30.00")
    assert PointsRedemption.objects.get().group_id == 77


@pytest.mark.parametrize(
    "body",
    [
        {"root": {"redeem": [redeem_body()["root"]["redeem"][0]] * 2}},
        {"root": {"redeem": []}},
        {"root": {"redeem": "x"}},
        {"root": {"redeem": [1]}},
        {"root": []},
        [],
        "not json",
        redeem_body(customer="asha"),
        redeem_body(number="x" * 256),
        redeem_body(customer={"external_id": "x" * 151}),
        redeem_body(notes={"a": 1}),
    ],
)
def test_malformed_redeem_bodies_answer_400_in_the_envelope(demo, till, body):
    before = ledger_count()
    response = till.post(REDEEM, body, skip_validation="true")
    assert response.status_code == 400
    assert response.json()["response"]["status"]["success"] is False
    assert response.json()["response"]["status"]["code"] == 400
    assert ledger_count() == before


def test_points_calls_with_data_scope_other_use_the_one_org_named(demo, till):
    headers = {"DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": str(TRAVEL)}
    response = till.post(REDEEM, redeem_body(points="5"), skip_validation="true", headers=headers)
    assert response.status_code == 200, response.json()
    assert points(ASHA, org_id=TRAVEL) < points(ASHA, org_id=O2)
    both = {"DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": f"{O2},{TRAVEL}"}
    assert till.post(REDEEM, redeem_body(points="5"), skip_validation="true", headers=both).status_code == 400


# --- reverse ------------------------------------------------------------------------------------


def _redeemed(till, points_="30", number="bill-1", customer=None) -> str:
    response = till.post(REDEEM, redeem_body(points=points_, number=number, customer=customer), skip_validation="true")
    assert response.status_code == 200, response.json()
    return item(response)["redemption_id"]


def reverse_body(redemption_id, points_, kind="externalId", value=ASHA):
    return {"redemptionId": redemption_id, "pointsToBeReversed": points_, "identifier": {"type": kind, "value": value}}


def test_partial_reversals_credit_back_up_to_what_the_redemption_took(demo, till):
    redemption_id = _redeemed(till)
    response = till.post(REVERSE, reverse_body(redemption_id, 10))
    assert response.status_code == 200
    assert response.json() == {"redemptionId": redemption_id, "pointsReversed": "10.00", "balance": "480.00",
                               "warnings": []}  # fmt: skip
    assert till.post(REVERSE, reverse_body(redemption_id, "20.00", "mobile", ASHA_MOBILE)).status_code == 200
    refused = till.post(REVERSE, reverse_body(redemption_id, "0.01"))
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == 812
    assert points(ASHA) == Decimal("500.00")
    entries = LedgerEntry.objects.filter(kind="POINTS_REVERSE")
    assert {e.reference for e in entries} == {f"points-reverse:{redemption_id}"} and entries.count() == 2
    assert PointsReversal.objects.count() == 2
    assert_ledgers_add_up()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (lambda rid: reverse_body(rid, 31), 812),
        (lambda rid: reverse_body("NOSUCHID", 5), 816),
        (lambda rid: reverse_body(rid, 5, "externalId", RAVI), 816),  # another customer's redemption
        (lambda rid: reverse_body(rid, 5, "externalId", "nobody"), 816),
        (lambda rid: reverse_body(rid, -5), 819),
        (lambda rid: reverse_body(rid, "abc"), 819),
        (lambda rid: reverse_body(rid, 0), 819),
        (lambda rid: reverse_body(rid, "1.001"), 819),
    ],
)
def test_reverse_refusals_answer_400_with_their_code_and_change_nothing(demo, till, body, code):
    redemption_id = _redeemed(till)
    before = ledger_count()
    response = till.post(REVERSE, body(redemption_id))
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == code
    assert ledger_count() == before


@pytest.mark.parametrize(
    "body",
    [{}, [], {"redemptionId": "x", "pointsToBeReversed": 1}, reverse_body("x", 1, "card"),
     {"redemptionId": "x", "pointsToBeReversed": 1, "identifier": "asha"}],
)  # fmt: skip
def test_malformed_reverse_bodies_answer_400(demo, till, body):
    response = till.post(REVERSE, body)
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == 400


def test_a_group_redemption_is_reversed_into_the_groups_wallet(demo, till):
    body = redeem_body(points="200", customer={"external_id": RAVI}, group_redemption=True, user_group2_id=77)
    redemption_id = item(till.post(REDEEM, body, skip_validation="true"))["redemption_id"]
    response = till.post(REVERSE, reverse_body(redemption_id, 50, "externalId", RAVI))
    assert response.status_code == 200 and response.json()["balance"] == "850.00"
    assert group_points(77) == Decimal("850.00")


# --- validation codes, tokens, formats ----------------------------------------------------------


def test_validationcode_is_served_at_capillarys_documented_path_by_get_and_post(demo, till):
    by_get = till.get("/v1.1/points/validationcode", mobile=ASHA_MOBILE)
    by_post = till.post("/v1.1/points/validationcode", {"mobile": ASHA_MOBILE})
    for response in (by_get, by_post):
        assert response.status_code == 200
        assert len(response.json()["validationCode"]["code"]) == 6
    assert till.get("/v1.1/points/validationcode", mobile="1").json()["status"]["partnerError"]["codes"] == [816]


def test_set_points_helper_moves_the_balance_through_the_ledger(demo):
    set_points(ASHA, "100")
    assert points(ASHA) == Decimal("100.00")
    assert_ledgers_add_up()


def test_a_redemption_is_one_statement_with_the_customer_lookup(demo, till):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    till.post(REDEEM, redeem_body(number="warm"), skip_validation="true")  # the till's credentials cached
    with CaptureQueriesContext(connection) as queries:
        response = till.post(REDEEM, redeem_body(number="lean"), skip_validation="true")
    assert response.status_code == 200
    # (the test's own transaction turns the service's into a savepoint: those are not statements of the call)
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1, statements
    assert statements[0].lstrip().startswith("WITH payer AS") and "FROM orgs_customer" in statements[0]
    assert "INSERT INTO orgs_outboxevent" in statements[0]


def test_a_replay_takes_the_general_path_and_answers_the_first(demo, till):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = till.post(REDEEM, redeem_body(number="again"), skip_validation="true")
    with CaptureQueriesContext(connection) as queries:
        again = till.post(REDEEM, redeem_body(number="again"), skip_validation="true")
    assert again.json() == first.json() and points(ASHA) == Decimal("470.00")
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert statements[0].lstrip().startswith("WITH payer AS")  # wrote nothing: the number is used
    assert any(sql.lstrip().startswith("WITH moved AS") for sql in statements[1:])  # then the general path
