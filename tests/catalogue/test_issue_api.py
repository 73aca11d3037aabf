"""Issue Reward on the wire: the seed's sample, every code of the contract's table, the body's
features (quantity, payment configs, orgs, groups, custom fields, validation codes, requestId)."""

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from catalogue.models import CatalogueReward, IssueRequest, PaymentConfig, RewardIssue
from orgs.credentials import till_auth_cache_clear
from orgs.models import Org, Till
from tests.catalogue.conftest import (
    ASHA,
    O2,
    OTHER_SCOPE,
    TRAVEL,
    VOUCHER,
    assert_ledgers_add_up,
    basic,
    group_points,
    points,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("issue_path")]
# A copy of ../shared/seeds/ kept with the tests, so that they need nothing outside the repository.
SEED = Path(__file__).resolve().parent / "fixtures" / "capillary-issue-reward-connected-orgs.txt"


def seed_documents() -> tuple[dict, dict]:
    """The seed's sample request and its first sample response, parsed from the vendor document."""
    text = SEED.read_text()
    decoder = json.JSONDecoder()
    request, _ = decoder.raw_decode(text, text.index('{\n    "brand"'))
    response, _ = decoder.raw_decode(text, text.index('{\n    "status"'))
    return request, response


def shape(value):
    """Keys and JSON types, recursively (numbers are one type, as in JSON)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def status_of(response) -> tuple:
    body = response.json()
    return response.status_code, body["status"]["code"], [r["status"]["code"] for r in body["rewards"]]


# --- the seed --------------------------------------------------------------------------------


def test_the_seed_sample_answers_the_seed_response_field_for_field(demo, issue, vendor):
    # given the seed's request, against the demo (its ids are the demo's), the vendor answering the seed's voucher
    vendor.route()
    request, expected = seed_documents()
    # when
    response = issue(request)
    # then every field is there, with the seed's types, and the seed's values where they are not ids
    assert response.status_code == 200
    body = response.json()
    assert shape(body) == shape(expected)
    [got], [want] = body["rewards"], expected["rewards"]
    for key in ("orgId", "transactionId", "pointsReferenceId", "pointsReferenceIds"):
        got.pop(key), want.pop(key)
    assert got == want
    assert body["status"] == expected["status"]
    assert body["rewards"][0]["vendor"][0]["voucher"] == VOUCHER
    # and 2 points (value 1 at ratio 0.5) left the customer's O2 wallet, recorded with the voucher
    assert points(ASHA) == Decimal("498.00")
    record = RewardIssue.objects.get()
    assert (record.org_id, record.points, record.voucher, record.transaction_number) == (
        O2,
        Decimal("2.00"),
        VOUCHER,
        "123456789",
    )
    assert vendor.requests[0]["customer"]["externalId"] == ASHA


def test_the_gateway_route_and_a_missing_trailing_slash_serve_the_same_api(demo, issue):
    body = {"externalId": ASHA, "rewards": [{"rewardId": 353}]}
    assert issue(body, url="/api_gateway/rewards/core/v1.1/user/rewards/issue/").status_code == 200
    assert issue(body, url="/v1.1/user/rewards/issue").status_code == 200
    assert points(ASHA) == Decimal("300.00")


# --- the codes of the table ------------------------------------------------------------------


def test_8010_when_some_rewards_are_issued_and_12005_for_a_cart_promotion_at_its_limit(demo, issue):
    response = issue({"externalId": ASHA, "rewards": [{"rewardId": 353}, {"rewardId": 352}, {"rewardId": 352}]})
    assert status_of(response) == (200, 8010, [200, 200, 12005])
    assert response.json()["rewards"][1]["promotions"] == [{"promotionId": "cart-10-off", "pointsRedeemed": "25"}]
    # points moved for the two issued rewards only
    assert points(ASHA) == Decimal("375.00")
    assert RewardIssue.objects.count() == 2


def test_8003_when_no_reward_is_issued_and_each_reward_says_why(demo, issue):
    CatalogueReward.objects.filter(pk=353).update(enabled=False)
    CatalogueReward.objects.filter(pk=351).update(ends_at=timezone.now())
    response = issue({"externalId": ASHA, "rewards": [{"rewardId": 353}, {"rewardId": 351}]})
    assert status_of(response) == (400, 8003, [8003, 8003])
    assert response.json()["status"] == {"success": False, "code": 8003, "message": "fail to issue reward"}
    assert points(ASHA) == Decimal("500.00") and not RewardIssue.objects.exists()


def test_8004_with_partner_error_804_when_points_are_short_and_nothing_is_issued(demo, issue):
    # 100 + 11 x 40 = 540 points; Asha has 500
    response = issue({"externalId": ASHA, "rewards": [{"rewardId": 353}, {"rewardId": 351, "quantity": 11}]})
    assert response.status_code == 400
    status = response.json()["status"]
    assert (status["code"], status["partnerError"]["codes"]) == (8004, [804])
    assert points(ASHA) == Decimal("500.00") and not RewardIssue.objects.exists()


def test_8004_with_partner_error_816_when_the_customer_is_unknown(demo, issue):
    response = issue({"externalId": "nobody", "rewards": [{"rewardId": 353}]})
    status = response.json()["status"]
    assert (response.status_code, status["code"], status["partnerError"]["codes"]) == (400, 8004, [816])


def test_8004_with_1632_for_an_unknown_group_and_1620_for_a_non_member(demo, issue):
    unknown = issue({"externalId": ASHA, "user_group2_id": 999, "rewards": [{"rewardId": 352}]})
    assert (unknown.status_code, unknown.json()["status"]["partnerError"]["codes"]) == (400, [1632])
    stranger = issue({"externalId": "ext-meena", "userGroup2Id": 77, "rewards": [{"rewardId": 352}]})
    assert (stranger.status_code, stranger.json()["status"]["partnerError"]["codes"]) == (400, [1620])
    assert group_points() == Decimal("1000.00")


def test_12016_for_a_payment_config_of_another_reward(demo, issue):
    response = issue({"externalId": ASHA, "rewards": [{"rewardId": 353, "paymentConfig": {"id": 60}}]})
    assert status_of(response) == (400, 12016, [])


def test_12035_when_a_reward_with_several_payment_configs_gets_no_id(demo, issue):
    response = issue({"externalId": ASHA, "rewards": [{"rewardId": 900, "orgId": TRAVEL}]}, headers=OTHER_SCOPE)
    assert status_of(response) == (400, 12035, [])


def test_12034_outside_the_rewards_segments_and_12050_without_an_active_card(demo, issue):
    PaymentConfig.objects.filter(pk=62).update(points="10.00")  # the gold pass, within Ravi's 30 points
    silver = issue({"externalId": "ext-ravi", "rewards": [{"rewardId": 353}]})
    assert status_of(silver) == (400, 8003, [12034])
    inactive_card = issue({"externalId": "ext-meena", "rewards": [{"rewardId": 352}]})
    assert status_of(inactive_card) == (400, 8003, [12050])
    assert points("ext-ravi") == Decimal("30.00") and points("ext-meena") == Decimal("200.00")


def test_10003_for_a_request_id_reused_with_another_payload(demo, issue):
    first = issue({"externalId": ASHA, "rewards": [{"rewardId": 353, "requestId": "req-1"}]})
    assert first.status_code == 200
    other = issue({"externalId": ASHA, "rewards": [{"rewardId": 352, "requestId": "req-1"}]})
    assert status_of(other) == (400, 10003, [])
    twice = issue(
        {"externalId": ASHA, "rewards": [{"rewardId": 352, "requestId": "x"}, {"rewardId": 351, "requestId": "x"}]}
    )
    assert status_of(twice) == (400, 10003, [])
    assert points(ASHA) == Decimal("400.00")


def test_the_same_request_id_and_payload_answers_the_first_result_and_moves_nothing(demo, issue):
    body = {"externalId": ASHA, "eventLogId": "ev-1", "rewards": [{"rewardId": 351, "quantity": 2, "requestId": "r"}]}
    first = issue(body)
    again = issue(body)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert points(ASHA) == Decimal("420.00")
    assert RewardIssue.objects.count() == 1 and IssueRequest.objects.get().state == "DONE"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{not json", "JSON"),
        ("[]", "Invalid data"),
        ({"rewards": [{"rewardId": 353}]}, "one of mobile, email, externalId"),
        ({"externalId": ASHA, "rewards": []}, "rewards"),
        ({"externalId": ASHA, "rewards": [{"rewardId": 353, "quantity": 0.5}]}, "rewards[0].quantity"),
        ({"externalId": ASHA, "rewards": [{"rewardId": 353, "quantity": -1}]}, "rewards[0].quantity"),
        ({"externalId": ASHA, "rewards": [{"rewardId": 4242}]}, "reward 4242 not found"),
        ({"externalId": ASHA, "rewards": [{"rewardId": 353, "customFields": {"nope": 1}}]}, "customFields"),
        ({"externalId": ASHA, "rewards": [{"rewardId": 353, "fulfillmentDetails": {"status": "LOST"}}]}, "LOST"),
        ({"externalId": ASHA, "rewards": [{"rewardId": 350}]}, "redemptionValue or points"),
        ({"externalId": "a\u0000b", "rewards": [{"rewardId": 353}]}, "NUL"),
        ({"externalId": ASHA, "user_group2_id": 77, "userGroup2Id": 78, "rewards": [{"rewardId": 353}]}, "differs"),
    ],
)
def test_400_for_bad_input_with_a_message_naming_the_problem(demo, issue, body, fragment):
    response = issue(body)
    assert response.status_code == 400
    status = response.json()["status"]
    assert status["code"] == 400 and status["success"] is False
    assert fragment in status["message"]
    assert points(ASHA) == Decimal("500.00")


def test_401_for_wrong_or_missing_credentials_or_another_tills_username(demo, issue, client):
    body = {"externalId": ASHA, "rewards": [{"rewardId": 353}]}
    assert status_of(issue(body, auth=basic(password="wrong"))) == (401, 401, [])
    assert status_of(issue(body, auth="")) == (401, 401, [])
    assert status_of(issue(body, auth="Basic !!!")) == (401, 401, [])
    assert status_of(issue(body, username="o2travel.till")) == (401, 401, [])
    assert status_of(issue(body, username="")) == (401, 401, [])
    # a deactivated till is refused once its remembered success expires (TILL_AUTH_CACHE_SECONDS)
    Till.objects.filter(username="o2.till").update(is_active=False)
    till_auth_cache_clear()
    assert status_of(issue(body)) == (401, 401, [])
    assert points(ASHA) == Decimal("500.00")


def test_basic_auth_takes_the_md5_or_the_plain_password_and_remembers_a_success(demo, issue):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    body = {"externalId": ASHA, "rewards": [{"rewardId": 352, "requestId": "same"}]}
    assert issue(body, auth=basic(md5=False)).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert issue(body, auth=basic(md5=False)).status_code == 200
    assert not [q for q in queries if "orgs_till" in q["sql"]]
    assert issue(body, auth=basic(md5=True)).status_code == 200


def test_403_for_a_till_of_an_unconnected_org_and_nothing_changes(demo, issue):
    # given an org with a till, connected to nobody
    stranger = Org.objects.create(id=5_555_555, name="Stranger")
    till = Till(org=stranger, username="stranger.till")
    till.set_password("stranger-password")
    till.save()
    auth = basic("stranger.till", "stranger-password")
    body = {"externalId": ASHA, "rewards": [{"rewardId": 353, "orgId": O2}]}
    # when it names the demo org in its scope, or only in the body
    scoped = issue(
        body, username="stranger.till", auth=auth, headers={"DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": str(O2)}
    )
    unscoped = issue(body, username="stranger.till", auth=auth)
    # then 403 both times and nothing moved
    assert status_of(scoped) == status_of(unscoped) == (403, 403, [])
    assert points(ASHA) == Decimal("500.00") and not RewardIssue.objects.exists()


def test_403_for_a_connected_org_outside_the_self_scope(demo, issue):
    body = {"externalId": ASHA, "rewards": [{"rewardId": 900, "orgId": TRAVEL, "paymentConfig": {"id": 91}}]}
    assert status_of(issue(body)) == (403, 403, [])
    assert status_of(issue(body, headers={"DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": str(O2)})) == (403, 403, [])
    assert points(ASHA, TRAVEL) == Decimal("80.00")


def test_400_for_unreadable_scope_headers(demo, issue):
    body = {"externalId": ASHA, "rewards": [{"rewardId": 353}]}
    assert status_of(issue(body, headers={"DATA-SCOPE": "EVERYTHING"})) == (400, 400, [])
    assert status_of(issue(body, headers={"DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": "x"})) == (400, 400, [])
    assert status_of(issue(body, headers={"DATA-SCOPE": "OTHER"})) == (400, 400, [])


# --- connected orgs, arithmetic, groups, fields ------------------------------------------------


def test_a_connected_org_in_scope_pays_from_that_orgs_balance_with_conv_ratio_arithmetic(demo, issue):
    # value 3 x quantity 2 at ratio 0.5: 12 points; explicit 7 points: value 3.5
    body = {
        "externalId": ASHA,
        "orgLevelDetails": [{"orgId": TRAVEL}],
        "rewards": [
            {"rewardId": 900, "quantity": "2.9", "paymentConfig": {"id": 90, "redemptionValue": 3}},
            {"rewardId": 900, "quantity": 1.56, "paymentConfig": {"id": 90, "points": "7"}},
            {"rewardId": 900, "paymentConfig": {"id": 91}},
        ],
    }
    response = issue(body, headers={"DATA-SCOPE-ORGS": f"{TRAVEL}", "DATA-SCOPE": "OTHER"})
    assert status_of(response) == (200, 200, [200, 200, 200])
    rewards = response.json()["rewards"]
    assert [(r["orgId"], r["requestedQuantity"], r["quantity"]) for r in rewards] == [
        (TRAVEL, 2, 2),
        (TRAVEL, 1, 1),
        (TRAVEL, 1, 1),
    ]
    assert [r["redemptionDetails"]["totalRedemptionValue"] for r in rewards] == [6, 3.5, 60]
    assert rewards[0]["paymentConfig"] == {"paymentMode": "CONV_RATIO", "id": 90, "conversionRatio": 0.5}
    assert points(ASHA, TRAVEL) == Decimal("1.00")  # 80 - 12 - 7 - 60
    assert points(ASHA, O2) == Decimal("500.00")


def test_a_group_member_pays_from_the_groups_points_and_the_issue_is_marked(demo, issue):
    body = {"externalId": "ext-ravi", "user_group2_external_id": "family-77", "rewards": [{"rewardId": 351}]}
    response = issue(body)
    assert response.status_code == 200
    assert group_points() == Decimal("960.00") and points("ext-ravi") == Decimal("30.00")
    record = RewardIssue.objects.get()
    assert record.group_loyalty_redemption and record.group_id == 77 and record.customer.external_id == "ext-ravi"


def test_group_fields_in_org_level_details_and_by_primary_user(demo, issue):
    body = {
        "mobile": 919900000001,
        "orgLevelDetails": [{"orgId": O2, "userGroup2PrimaryUserId": ASHA, "notes": "family"}],
        "rewards": [{"rewardId": 352}],
    }
    assert issue(body).status_code == 200
    assert group_points() == Decimal("975.00")
    assert RewardIssue.objects.get().notes == "family"


def test_custom_fields_and_fulfillment_status_are_checked_stored_and_echoed(demo, issue):
    body = {
        "email": "ASHA@example.com",
        "transactionNumber": "T-9",
        "rewards": [
            {
                "rewardId": 353,
                "customFields": {"giftMessage": "Happy birthday"},
                "fulfillmentDetails": {"status": "BOOKED"},
            }
        ],
    }
    [reward] = issue(body).json()["rewards"]
    assert reward["customFields"] == {"giftMessage": "Happy birthday"}
    assert reward["fulfillmentDetails"] == {"status": "BOOKED"}
    record = RewardIssue.objects.get()
    assert (record.custom_fields, record.fulfillment_status, record.transaction_number) == (
        {"giftMessage": "Happy birthday"},
        "BOOKED",
        "T-9",
    )


def test_a_coupon_reward_hands_out_one_code_per_unit_from_its_series(demo, issue):
    [reward] = issue({"externalId": ASHA, "rewards": [{"rewardId": 351, "quantity": 3}]}).json()["rewards"]
    codes = reward["intouch"]["couponCodes"]
    assert len(set(codes)) == 3 and all(code.startswith("MOV-") for code in codes)
    assert reward["intouch"]["couponCode"] == codes[0] and reward["intouch"]["pointsRedeemed"] == "120"


def test_validation_codes_are_needed_without_skip_validation_and_work_once(demo, issue, client):
    body = {"externalId": ASHA, "rewards": [{"rewardId": 352}]}
    assert status_of(issue(body, skip=None)) == (400, 400, [])
    answer = client.post(
        "/v1.1/points/validation_code?username=o2.till",
        {"externalId": ASHA},
        content_type="application/json",
        headers={"Authorization": basic()},
    )
    code = answer.json()["validationCode"]["code"]
    assert re.fullmatch(r"\d{6}", code)
    assert issue({**body, "validationCode": code}, skip="false").status_code == 200
    assert status_of(issue({**body, "validationCode": code}, skip="false")) == (400, 400, [])
    assert points(ASHA) == Decimal("475.00")


def test_an_expired_validation_code_is_refused(demo, issue, client, settings):
    settings.VALIDATION_CODE_TTL_SECONDS = -1
    answer = client.post(
        "/v1.1/points/validation_code?username=o2.till",
        {"mobile": "919900000001"},
        content_type="application/json",
        headers={"Authorization": basic()},
    )
    code = answer.json()["validationCode"]["code"]
    body = {"externalId": ASHA, "validationCode": code, "rewards": [{"rewardId": 352}]}
    assert status_of(issue(body, skip="false")) == (400, 400, [])


# --- the schema ----------------------------------------------------------------------------


def test_every_code_is_documented_in_the_openapi_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/v1.1/user/rewards/issue/"]["post"]
    for code in (200, 8010, 8003, 8004, 804, 816, 1632, 1620, 12005, 12016, 12034, 12035, 12050, 10003, 400, 401, 403):
        assert f"| {code} |" in operation["description"] or f" {code} " in operation["description"], code
    assert {"200", "400", "401", "403"} <= set(operation["responses"])


def test_after_all_this_the_ledgers_add_up(demo, issue):
    issue({"externalId": ASHA, "rewards": [{"rewardId": 353}, {"rewardId": 351}, {"rewardId": 352}]})
    assert_ledgers_add_up()


def _statements(queries) -> list[str]:
    return [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def test_a_one_reward_call_takes_six_statements_or_three(demo, issue, issue_path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalogue.models import RewardSegment

    RewardSegment.objects.filter(reward_id=353).delete()  # segments cost two reads more
    issue({"externalId": ASHA, "rewards": [{"rewardId": 352, "requestId": "warm"}]})  # the till check is remembered
    with CaptureQueriesContext(connection) as queries:
        assert issue({"externalId": ASHA, "rewards": [{"rewardId": 353, "requestId": "q-1"}]}).status_code == 200
    # rewards, customer | claim, wallet update with its ledger entry (two on SQLite), issue record, outbox event;
    # on PostgreSQL's one-statement path: rewards, customer | the whole transaction
    statements = _statements(queries)
    if issue_path == "one statement":
        assert len(statements) == 3 and "catalogue_issue_local" in statements[-1], statements
    else:
        assert len(statements) == (6 if connection.vendor == "postgresql" else 7), statements


def test_a_five_reward_call_is_one_transaction_with_one_debit(demo, issue, issue_path):
    """Claims in one statement, one statement per coupon reward, one debit of the wallet with one
    ledger entry per reward, one insert of the issue records."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalogue.models import RewardSegment
    from wallets.models import LedgerEntry

    RewardSegment.objects.filter(reward_id=353).delete()
    issue({"externalId": ASHA, "rewards": [{"rewardId": 352, "requestId": "warm"}]})
    before = LedgerEntry.objects.count()
    rewards = [{"rewardId": 353, "requestId": f"m-{i}"} for i in range(4)] + [{"rewardId": 351, "requestId": "m-c"}]
    with CaptureQueriesContext(connection) as queries:
        response = issue({"externalId": ASHA, "rewards": rewards})
    assert response.status_code == 200 and response.json()["status"]["code"] == 200, response.json()
    statements = _statements(queries)
    if issue_path == "one statement":
        # rewards, customer | the whole transaction, in a savepoint of the test's transaction
        assert len(statements) == 3 and "catalogue_issue_local" in statements[-1], statements
        assert sum(q["sql"].startswith("SAVEPOINT") for q in queries) == 1
    elif connection.vendor == "postgresql":
        # rewards, customer | claims, coupon, debit, issue records, outbox events
        assert len(statements) == 7, statements
        # one transaction (here, inside the test's: one savepoint), not one per reward
        assert sum(q["sql"].startswith("SAVEPOINT") for q in queries) == 1
    entries = list(LedgerEntry.objects.order_by("id")[before:])
    assert len(entries) == 5
    references = [r["pointsReferenceId"] for r in response.json()["rewards"]]
    assert [e.reference for e in entries] == references  # one entry per reward, in the call's order
    # one issue event per reward, written in the same transaction
    from orgs.models import OutboxEvent

    events = OutboxEvent.objects.filter(kind="issue").order_by("id")
    assert [e.payload["pointsReferenceId"] for e in events][-5:] == references
    assert_ledgers_add_up()


def test_in_one_call_a_reward_whose_series_runs_short_fails_alone_and_leaves_its_request_id_free(demo, issue):
    from coupons.models import Coupon, CouponPool
    from coupons.services import coupons_bulk_add

    pool = CouponPool.objects.create(id=9_011, org_id=O2, name="Two")
    coupons_bulk_add(pool=pool, codes=["TWO-1", "TWO-2"])
    reward = CatalogueReward.objects.create(id=9_012, org_id=O2, name="Two", type="COUPON", coupon_pool=pool)
    PaymentConfig.objects.create(id=9_013, org_id=O2, reward=reward, mode="POINTS", points="1.00")
    body = {
        "externalId": ASHA,
        "rewards": [
            {"rewardId": 352, "requestId": "ok-1"},
            {"rewardId": 9_012, "quantity": 3, "requestId": "short-1"},
        ],
    }
    response = issue(body)
    assert status_of(response) == (200, 8010, [200, 8003])
    assert points(ASHA) == Decimal("475.00")  # the promotion only
    assert set(IssueRequest.objects.values_list("request_id", flat=True)) == {"ok-1"}
    assert Coupon.objects.filter(pool=pool, status="AVAILABLE").count() == 2
    # the failed requestId is free: once the series has the codes, the same payload issues
    coupons_bulk_add(pool=pool, codes=["TWO-3"])
    retry = issue({"externalId": ASHA, "rewards": [{"rewardId": 9_012, "quantity": 3, "requestId": "short-1"}]})
    assert status_of(retry) == (200, 200, [200])
    assert points(ASHA) == Decimal("472.00")
    assert_ledgers_add_up()


def test_a_call_mixing_a_seen_request_id_and_new_ones_replays_the_first_and_issues_the_rest(demo, issue):
    first = issue({"externalId": ASHA, "rewards": [{"rewardId": 353, "requestId": "seen"}]})
    assert status_of(first) == (200, 200, [200])
    mixed = issue(
        {
            "externalId": ASHA,
            "rewards": [{"rewardId": 353, "requestId": "seen"}, {"rewardId": 352, "requestId": "new"}],
        }
    )
    assert status_of(mixed) == (200, 200, [200, 200])
    assert mixed.json()["rewards"][0] == first.json()["rewards"][0]
    assert points(ASHA) == Decimal("375.00")  # 100 once, 25
    assert RewardIssue.objects.count() == 2


def test_a_replay_is_not_counted_against_the_balance(demo, issue):
    """The one-transaction path checks the balance before it knows which requestIds were seen;
    a call that replays rewards and would be short only if they were paid again still passes."""
    PaymentConfig.objects.filter(pk=62).update(points="300.00")
    first = issue({"externalId": ASHA, "rewards": [{"rewardId": 353, "requestId": "big"}]})
    assert status_of(first) == (200, 200, [200])
    again = issue(
        {
            "externalId": ASHA,
            "rewards": [{"rewardId": 353, "requestId": "big"}, {"rewardId": 352, "requestId": "small"}],
        }
    )
    assert status_of(again) == (200, 200, [200, 200])
    assert points(ASHA) == Decimal("175.00")


# --- the catalogue cache ------------------------------------------------------------------


def test_a_catalogue_change_saved_through_the_orm_or_admin_applies_to_the_next_call(demo, issue):
    assert status_of(issue({"externalId": ASHA, "rewards": [{"rewardId": 352}]}))[0] == 200  # cached now
    reward = CatalogueReward.objects.get(pk=353)
    reward.enabled = False
    reward.save()
    assert status_of(issue({"externalId": ASHA, "rewards": [{"rewardId": 353}]})) == (400, 8003, [8003])
    config = PaymentConfig.objects.get(pk=61)
    config.points = Decimal("5.00")
    config.save()
    issue({"externalId": ASHA, "rewards": [{"rewardId": 351}]})
    assert points(ASHA) == Decimal("435.00")  # 25 for the first promotion, then 40 for the coupon


def test_a_change_made_elsewhere_applies_within_catalogue_cache_seconds(demo, issue, settings):
    """Another process's change (here: an UPDATE that sends no signal) is seen once the TTL is over."""
    import time

    settings.CATALOGUE_CACHE_SECONDS = 1
    assert status_of(issue({"externalId": ASHA, "rewards": [{"rewardId": 353}]}))[0] == 200
    CatalogueReward.objects.filter(pk=353).update(enabled=False)
    assert status_of(issue({"externalId": ASHA, "rewards": [{"rewardId": 353}]}))[0] == 200  # still cached
    time.sleep(1.1)
    assert status_of(issue({"externalId": ASHA, "rewards": [{"rewardId": 353}]})) == (400, 8003, [8003])


def test_catalogue_cache_seconds_zero_reads_the_catalogue_on_every_call(demo, issue, settings):
    settings.CATALOGUE_CACHE_SECONDS = 0
    assert status_of(issue({"externalId": ASHA, "rewards": [{"rewardId": 353}]}))[0] == 200
    CatalogueReward.objects.filter(pk=353).update(enabled=False)
    assert status_of(issue({"externalId": ASHA, "rewards": [{"rewardId": 353}]})) == (400, 8003, [8003])


def test_the_input_fields_built_once_per_thread_validate_each_call_on_its_own():
    """The issue input's fields are reused across calls of a thread: a bad call leaves nothing
    behind for the next, in either order, and other threads build their own."""
    import threading

    from capillary.apis import IssueInputSerializer

    good = {"externalId": "x", "rewards": [{"rewardId": 1, "quantity": 2.7, "requestId": "r"}]}
    bad = {"externalId": "x", "rewards": [{"rewardId": 1}, {"rewardId": 0}]}
    for body, valid in ((good, True), (bad, False), (good, True), (bad, False)):
        serializer = IssueInputSerializer(data=body)
        assert serializer.is_valid() is valid, serializer.errors
        if valid:
            assert serializer.validated_data["rewards"][0]["quantity"] == 2
        else:
            errors = serializer.errors["rewards"]
            assert list(errors) == [1] and set(errors[1]) == {"rewardId"}, errors
    here = IssueInputSerializer(data=good).fields
    assert IssueInputSerializer(data=bad).fields is here
    elsewhere = []
    thread = threading.Thread(target=lambda: elsewhere.append(IssueInputSerializer(data=good).fields))
    thread.start()
    thread.join()
    assert elsewhere[0] is not here


def test_a_validation_code_is_not_spent_by_a_call_that_fails_as_a_whole(demo, issue, client):
    """The code is spent only once every check of the whole call has passed: a requestId used
    before for another payload (10003) leaves it usable."""
    assert status_of(issue({"externalId": ASHA, "rewards": [{"rewardId": 353, "requestId": "v-1"}]}))[0] == 200
    answer = client.post(
        "/v1.1/points/validation_code?username=o2.till",
        {"externalId": ASHA},
        content_type="application/json",
        headers={"Authorization": basic()},
    )
    code = answer.json()["validationCode"]["code"]
    other = {"externalId": ASHA, "validationCode": code, "rewards": [{"rewardId": 352, "requestId": "v-1"}]}
    assert status_of(issue(other, skip="false")) == (400, 10003, [])
    fine = {"externalId": ASHA, "validationCode": code, "rewards": [{"rewardId": 352, "requestId": "v-2"}]}
    assert status_of(issue(fine, skip="false")) == (200, 200, [200])
