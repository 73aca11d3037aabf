"""Catalogue reads, revoke and fulfilment (Capillary v1.1 / v1), also under the gateway prefix."""

from decimal import Decimal

import pytest

from catalogue.models import IssueRequest, RewardIssue, RewardIssueChange, RewardIssueRevocation
from coupons.models import Coupon
from orgs.models import Customer, Org
from tests.capillary.conftest import ASHA_MOBILE, MEENA, RAVI, issue_coupon, issue_state, ledger_count
from tests.catalogue.conftest import ASHA, O2, OTHER_SCOPE, assert_ledgers_add_up, basic, points

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

GATEWAY = "/api_gateway/rewards/core"


# --- user rewards -------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", GATEWAY])
def test_user_rewards_lists_what_the_customer_can_be_issued_now(demo, till, prefix):
    response = till.get(f"{prefix}/v1.1/user/rewards", external_id=ASHA, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["errors"] is None
    assert [r["id"] for r in body["data"]] == [350, 351, 352, 353]
    assert body["pagination"] == {"page": 0, "size": 100, "total": 4}
    coupon = body["data"][1]
    assert coupon == {
        "id": 351,
        "name": coupon["name"],
        "type": "COUPON",
        "orgId": O2,
        "redemptionType": "POINTS",
        "startTime": None,
        "endTime": None,
        "paymentConfigs": [{"id": 60, "paymentMode": "POINTS", "points": "40.00"}],
        "intouchPoints": "40.00",
    }
    assert body["data"][0]["paymentConfigs"] == [{"id": 54, "paymentMode": "CONV_RATIO", "conversionRatio": "0.5"}]


def test_user_rewards_applies_issue_rewards_eligibility(demo, till):
    ravi = till.get("/v1.1/user/rewards", external_id=RAVI).json()["data"]
    assert 353 not in [r["id"] for r in ravi]  # GOLD only
    assert till.get("/v1.1/user/rewards", external_id=MEENA).json()["data"] == []  # no ACTIVE card


def test_user_rewards_pages_and_takes_the_customer_id(demo, till):
    asha = Customer.objects.get(org_id=O2, external_id=ASHA)
    page = till.get("/v1.1/user/rewards", userId=asha.pk, page=1, size=3).json()
    assert [r["id"] for r in page["data"]] == [353] and page["pagination"] == {"page": 1, "size": 3, "total": 4}
    both = till.get("/v1.1/user/rewards", external_id=ASHA, headers=OTHER_SCOPE).json()
    assert 900 in [r["id"] for r in both["data"]]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"external_id": ASHA, "size": "101"}, 400),
        ({"external_id": ASHA, "size": "0"}, 400),
        ({"external_id": ASHA, "page": "-1"}, 400),
        ({"external_id": ASHA, "page": "x"}, 400),
        ({}, 400),
        ({"external_id": "nobody"}, 404),
        ({"external_id": ASHA, "format": "xml"}, 400),
    ],
)
def test_user_rewards_refusals(demo, till, query, status):
    response = till.get("/v1.1/user/rewards", **query)
    assert response.status_code == status
    assert response.json()["data"] is None and response.json()["errors"][0]["code"] == status


def test_user_reward_detail_is_one_record_or_404(demo, till):
    response = till.get(f"{GATEWAY}/v1.1/user/rewards/352", mobile=ASHA_MOBILE)
    assert response.status_code == 200 and response.json()["data"]["type"] == "CART_PROMOTION"
    assert till.get("/v1.1/user/rewards/353", external_id=RAVI).status_code == 404  # outside its segment
    assert till.get("/v1.1/user/rewards/900", external_id=ASHA).status_code == 404  # outside the data scope
    assert till.get("/v1.1/user/rewards/99999999999999999999", external_id=ASHA).status_code == 404


# --- reward transactions ------------------------------------------------------------------------


def test_reward_transactions_are_the_customers_issue_records_newest_first(demo, till, issue):
    first, code = issue_coupon(issue)
    second = issue({"externalId": ASHA, "rewards": [{"rewardId": 352}]}).json()["rewards"][0]["transactionId"]
    response = till.get(f"{GATEWAY}/v1.1/reward-transactions", external_id=ASHA)
    assert response.status_code == 200
    body = response.json()
    assert [r["transactionId"] for r in body["data"]] == [second, first]
    assert body["pagination"] == {"page": 0, "size": 10, "total": 2}
    record = body["data"][1]
    assert record["intouch"]["couponCode"] == code and record["revoked"] is False
    assert record["customerId"] == Customer.objects.get(org_id=O2, external_id=ASHA).pk and record["createdAt"]
    filtered = till.get("/v1.1/reward-transactions", customerId=record["customerId"], rewardId=351).json()
    assert [r["transactionId"] for r in filtered["data"]] == [first]
    assert till.get("/v1.1/reward-transactions", external_id=ASHA, status="false").json()["data"] == []
    assert till.get("/v1.1/reward-transactions", external_id=ASHA, status="true").json()["pagination"]["total"] == 2
    assert till.get("/v1.1/reward-transactions", external_id=ASHA, size="51").status_code == 400
    assert till.get("/v1.1/reward-transactions", external_id=ASHA, status="maybe").status_code == 400


def test_refused_lines_are_records_too_as_the_call_answered_them(demo, till, issue):
    # given Asha holds the cart promotion as often as it allows (once)
    issued = issue({"externalId": ASHA, "rewards": [{"rewardId": 352}]}).json()["rewards"][0]
    ledger = ledger_count()
    # when a second call for it is refused
    answer = issue({"externalId": ASHA, "eventLogId": "ev-9", "rewards": [{"rewardId": 352, "requestId": "rq-no"}]})
    refused = answer.json()["rewards"][0]
    assert (answer.status_code, refused["status"]["code"]) == (400, 12005)
    # then it is a record, as answered, and wrote nothing else: no points moved, its requestId free
    assert ledger_count() == ledger and not IssueRequest.objects.filter(request_id="rq-no").exists()
    body = till.get(f"{GATEWAY}/v1.1/reward-transactions", external_id=ASHA, status="false").json()
    assert body["pagination"] == {"page": 0, "size": 10, "total": 1}
    record = body["data"][0]
    assert {key: record[key] for key in refused} == refused
    assert record["customerId"] == issued_customer(issued) and record["createdAt"] and record["revoked"] is False
    both = till.get("/v1.1/reward-transactions", external_id=ASHA).json()
    assert [(r["status"]["success"], r["transactionId"]) for r in both["data"]] == [
        (False, None),
        (True, issued["transactionId"]),
    ]
    assert both["pagination"]["total"] == 2
    second_page = till.get("/v1.1/reward-transactions", external_id=ASHA, page=1, size=1).json()
    assert [r["transactionId"] for r in second_page["data"]] == [issued["transactionId"]]
    assert till.get("/v1.1/reward-transactions", external_id=ASHA, status="true").json()["pagination"]["total"] == 1
    assert till.get("/v1.1/reward-transactions", external_id=ASHA, rewardId=351).json()["data"] == []


def issued_customer(issued: dict) -> int:
    return RewardIssue.objects.get(pk=issued["transactionId"]).customer_id


# --- revoke -------------------------------------------------------------------------------------

REVOKE = "/v1/user/reward/revoke"


@pytest.mark.parametrize("prefix", ["", GATEWAY])
def test_revoke_refunds_the_points_once_and_voids_the_coupon(demo, till, issue, prefix):
    transaction_id, code = issue_coupon(issue)
    assert points(ASHA) == Decimal("460.00")
    response = till.post(f"{prefix}{REVOKE}", {"txnId": transaction_id, "notes": "order cancelled"})
    assert response.status_code == 200
    assert response.json() == {
        "status": {"success": True, "code": 200, "message": "Reward revoked"},
        "transactionId": transaction_id,
        "pointsRefunded": "40.00",
        "balance": "500.00",
    }
    assert RewardIssue.objects.get(pk=transaction_id).status == "CANCELLED"
    assert Coupon.objects.get(code=code).status == "VOID"
    again = till.post(REVOKE, {"txnId": transaction_id})
    assert again.status_code == 200 and again.json()["pointsRefunded"] == "40.00"
    assert again.json()["balance"] == "500.00"
    assert points(ASHA) == Decimal("500.00") and RewardIssueRevocation.objects.count() == 1
    record = till.get("/v1.1/reward-transactions", external_id=ASHA).json()["data"][0]
    assert record["revoked"] is True
    assert RewardIssueRevocation.objects.get().staff_username == "till:o2.till"
    assert_ledgers_add_up()


def test_revoke_is_off_unless_the_org_enables_it(demo, till, issue):
    transaction_id, _ = issue_coupon(issue)
    Org.objects.filter(pk=O2).update(revoke_enabled=False)
    response = till.post(REVOKE, {"txnId": transaction_id})
    assert response.status_code == 400
    status = response.json()["status"]
    assert status["success"] is False and status["code"] == 9001 and status["message"]
    assert RewardIssue.objects.get(pk=transaction_id).status == "ISSUED"


def test_revoke_of_an_unknown_transaction_answers_9002(demo, till):
    response = till.post(REVOKE, {"txnId": 99999})
    assert response.status_code == 404 and response.json()["status"]["code"] == 9002


def test_revoke_of_another_orgs_issue_is_not_found(demo, till, issue):
    body = {"externalId": ASHA, "rewards": [{"rewardId": 900, "orgId": 4004543, "paymentConfig": {"id": 91}}]}
    transaction_id = issue(body, headers=OTHER_SCOPE).json()["rewards"][0]["transactionId"]
    response = till.post(REVOKE, {"txnId": transaction_id})  # DATA-SCOPE SELF: only org 4000876
    assert response.status_code == 404 and response.json()["status"]["code"] == 9002


def test_a_coupon_used_at_the_till_makes_the_issue_not_revocable(demo, till, issue):
    transaction_id, code = issue_coupon(issue)
    body = {"root": {"coupon": {"code": code, "customer": {"external_id": ASHA}, "transaction": {"number": "b-1"}}}}
    assert till.post("/v1.1/coupon/redeem", body).status_code == 200
    response = till.post(REVOKE, {"txnId": transaction_id})
    assert response.status_code == 400 and response.json()["status"]["code"] == 9004
    assert RewardIssue.objects.get(pk=transaction_id).status == "ISSUED"
    assert Coupon.objects.get(code=code).status == "REDEEMED"
    assert points(ASHA) == Decimal("460.00")


def test_a_vendor_reward_is_not_revocable_at_a_till(demo, till, issue, vendor):
    vendor.route()
    issued = issue({"externalId": ASHA, "rewards": [{"rewardId": 350, "paymentConfig": {"redemptionValue": 1}}]})
    assert issued.status_code == 200, issued.json()
    transaction_id = issued.json()["rewards"][0]["transactionId"]
    response = till.post(REVOKE, {"txnId": transaction_id})
    assert response.status_code == 400 and response.json()["status"]["code"] == 9004


def test_a_cancelled_issue_that_was_never_revoked_is_not_revocable(demo, till, issue):
    transaction_id, _ = issue_coupon(issue)
    RewardIssue.objects.filter(pk=transaction_id).update(status="CANCELLED")
    response = till.post(REVOKE, {"txnId": transaction_id})
    assert response.status_code == 400 and response.json()["status"]["code"] == 9004


BAD_REVOKES = [{}, {"txnId": "x"}, {"txnId": -1}, {"txnId": 2**64}, [], {"txnId": 1, "notes": {"a": 1}}]


@pytest.mark.parametrize("body", BAD_REVOKES)
def test_malformed_revoke_bodies_answer_400(demo, till, body):
    response = till.post(REVOKE, body)
    assert response.status_code == 400 and response.json()["status"]["success"] is False


# --- fulfilment ---------------------------------------------------------------------------------

TRANSACTIONS = "/v1/management/transactions"


def test_fulfilment_moves_status_and_custom_fields_with_history(demo, till, issue):
    first, _ = issue_coupon(issue)
    second = issue({"externalId": ASHA, "rewards": [{"rewardId": 352}]}).json()["rewards"][0]["transactionId"]
    body = {
        "transactions": [
            {"transactionId": first, "fulfillmentStatus": {"name": "SHIPPED"},
             "transactionCustomFields": {"giftMessage": "happy birthday"}},
            {"transactionId": second, "rewardId": 352, "fulfillmentStatus": {"name": "BOOKED"}},
        ]
    }  # fmt: skip
    response = till.put(f"{GATEWAY}{TRANSACTIONS}", body)
    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {"transactionId": first, "fulfillmentStatus": {"name": "SHIPPED"},
             "transactionCustomFields": {"giftMessage": "happy birthday"}},
            {"transactionId": second, "fulfillmentStatus": {"name": "BOOKED"}, "transactionCustomFields": {}},
        ],
        "errors": None,
    }  # fmt: skip
    change = RewardIssueChange.objects.get(issue_id=first)
    assert change.fulfillment_status_before == "" and change.fulfillment_status_after == "SHIPPED"
    assert change.custom_fields_after == {"giftMessage": "happy birthday"} and change.till_username == "o2.till"
    record = till.get("/v1.1/reward-transactions", external_id=ASHA, rewardId=351).json()["data"][0]
    assert record["fulfillmentDetails"] == {"status": "SHIPPED"}
    assert record["customFields"] == {"giftMessage": "happy birthday"}


@pytest.mark.parametrize(
    ("second", "status", "code"),
    [
        ({"fulfillmentStatus": {"name": "LOST"}}, 400, 400),
        ({"transactionCustomFields": {"colour": "red"}}, 400, 400),
        ({"rewardId": 351}, 400, 400),
        ({"customerId": 1}, 400, 400),
        ({"transactionId": 99999}, 404, 9002),
        ({"transactionCustomFields": {f"f{n}": "x" for n in range(21)}}, 400, 400),
        ({"transactionCustomFields": {"giftMessage": "x" * 1001}}, 400, 400),
        ({"fulfillmentStatus": "SHIPPED"}, 400, 400),
    ],
)
def test_fulfilment_is_all_or_nothing(demo, till, issue, second, status, code):
    first, _ = issue_coupon(issue)
    other = issue({"externalId": ASHA, "rewards": [{"rewardId": 352}]}).json()["rewards"][0]["transactionId"]
    before = issue_state()
    body = {
        "transactions": [
            {"transactionId": first, "fulfillmentStatus": {"name": "SHIPPED"}},
            {"transactionId": other, **second},
        ]
    }
    response = till.put(TRANSACTIONS, body)
    assert response.status_code == status
    assert response.json()["data"] is None and response.json()["errors"][0]["code"] == code
    assert issue_state() == before and not RewardIssueChange.objects.exists()


def test_fulfilment_refuses_more_than_50_transactions(demo, till):
    response = till.put(TRANSACTIONS, {"transactions": [{"transactionId": n} for n in range(1, 52)]})
    assert response.status_code == 400


# --- conventions --------------------------------------------------------------------------------

ROUTES = [
    ("get", "/v1.1/points/isredeemable", None),
    ("post", "/v1.1/points/redeem", {}),
    ("post", "/v2/points/reverse", {}),
    ("get", "/v1.1/coupon/isredeemable", None),
    ("post", "/v1.1/coupon/redeem", {}),
    ("get", "/v1.1/user/rewards", None),
    ("get", "/v1.1/user/rewards/351", None),
    ("get", "/v1.1/reward-transactions", None),
    ("post", "/v1/user/reward/revoke", {}),
    ("put", "/v1/management/transactions", {}),
    ("post", "/v1.1/user/rewards/issue/", {}),
    ("get", "/v1.1/points/validationcode", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_format_xml_answers_400_in_json_on_every_route(demo, till, method, path, body):
    if body is None:
        response = till.get(path, format="xml", external_id=ASHA)
    else:
        response = till.send(method, path, body, format="xml")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "format" in response.content.decode()


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_wants_credentials(demo, till, method, path, body):
    response = till.get(path, auth="") if body is None else till.send(method, path, body, auth="")
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_takes_basic_with_the_plain_password(demo, till, method, path, body):
    plain = basic(md5=False)
    response = till.get(path, auth=plain) if body is None else till.send(method, path, body, auth=plain)
    assert response.status_code not in (401, 403, 429), response.json()
    assert response.status_code < 500


@pytest.mark.parametrize("header", ["X-CAP-API-OAUTH-TOKEN", "CAP-API-ACCESS-TOKEN"])
def test_the_oauth_token_is_accepted_in_both_headers(demo, till, client, header):
    token = client.post(
        "/v3/oauth/token/generate",
        {"key": "demo-o2-oauth-key", "secret": "demo-o2-oauth-secret"},
        content_type="application/json",
    ).json()["data"]["accessToken"]
    headers = {header: token}
    assert till.get("/v1.1/user/rewards", external_id=ASHA, auth="", headers=headers).status_code == 200
    item = {"points_redeemed": "1", "transaction_number": "t", "customer": {"mobile": ASHA_MOBILE}}
    body = {"root": {"redeem": item}}
    assert till.post("/v1.1/points/redeem", body, auth="", headers=headers, skip_validation="true").status_code == 200
    issued = till.post("/v1.1/user/rewards/issue/", {"externalId": ASHA, "rewards": [{"rewardId": 352}]}, auth="",
                       headers=headers, skip_validation="true")  # fmt: skip
    assert issued.status_code == 200


def test_a_scope_outside_the_callers_connections_is_403_on_till_routes(demo, till):
    headers = {"DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": "123"}
    response = till.get("/v1.1/points/isredeemable", external_id=ASHA, points="1", headers=headers)
    assert response.status_code == 403 and response.json()["response"]["status"]["code"] == 403
    assert till.get("/v1.1/user/rewards", external_id=ASHA, headers=headers).status_code == 403
