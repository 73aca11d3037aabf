"""Every API endpoint refuses every class of hostile body in its vendor's own format, within a
second, writing nothing; numbers are ASCII digits; strings have length limits; the schema says so."""

import json
from decimal import Decimal

import pytest
from django.apps import apps

from tests.catalogue.conftest import ASHA, basic
from tests.hostile import MB, answered_within_a_second, hostile_cases
from wallets.models import Wallet
from wallets.services import wallet_adjust

pytestmark = pytest.mark.django_db

KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}
REDEEM = "/v2_0/redeemrewards"
ISSUE = "/v1.1/user/rewards/issue/?username=o2.till&skip_validation=true"
GATEWAY_ISSUE = "/api_gateway/rewards/core/v1.1/user/rewards/issue/?username=o2.till&skip_validation=true"
VALIDATION_CODE = "/v1.1/points/validation_code?username=o2.till"
TOKEN = "/v3/oauth/token/generate"

# endpoint -> (a well-formed body, the vendor format of a refusal)
ENDPOINTS = {
    REDEEM: ({**KEYS, "UserIdInstore": "ext-ravi", "amount": "1"}, "appvirality"),
    ISSUE: ({"externalId": ASHA, "rewards": [{"rewardId": 353}]}, "capillary"),
    GATEWAY_ISSUE: ({"externalId": ASHA, "rewards": [{"rewardId": 353}]}, "capillary"),
    VALIDATION_CODE: ({"externalId": ASHA}, "capillary"),
    TOKEN: ({"key": "demo-o2-oauth-key", "secret": "demo-o2-oauth-secret"}, "oauth"),
}


def cases_of(body: dict) -> dict[str, bytes]:
    return {**hostile_cases(body), "too large": json.dumps({**body, "x": "x" * MB}).encode()}


CLASSES = list(cases_of({}))


def rows() -> dict[str, int]:
    """The number of rows of every table of the project."""
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def vendor_code(response, fmt: str) -> int:
    """The vendor's code of a refusal, after checking the body has the vendor's shape."""
    assert response["Content-Type"] == "application/json", response.content[:200]
    body = response.json()
    if fmt == "appvirality":
        assert set(body) == {"success", "statuscode", "message"} and body["success"] is False
        return body["statuscode"]
    if fmt == "capillary":
        assert body["rewards"] == [] and body["status"]["success"] is False and body["status"]["message"]
        return body["status"]["code"]
    assert body["data"] is None and body["errors"][0]["message"]
    return body["errors"][0]["code"]


def post(client, url: str, raw: bytes | str, content_type: str = "application/json", **headers):
    return client.post(url, raw, content_type=content_type, headers={"Authorization": basic(), **headers})


@pytest.mark.parametrize("name", CLASSES)
def test_each_class_of_hostile_body_is_refused_fast_in_the_vendors_format_writing_nothing(demo, client, settings, name):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    expected = 413 if name == "too large" else 400
    for url, (body, fmt) in ENDPOINTS.items():
        before = rows()
        with answered_within_a_second(f"{url} {name}"):
            response = post(client, url, cases_of(body)[name])
        assert response.status_code == expected, (url, response.content[:300])
        assert vendor_code(response, fmt) == (102 if fmt == "appvirality" else expected), url
        assert rows() == before, url


def test_the_well_formed_bodies_of_these_cases_are_answered(demo, client, settings):
    """The cases above fail because of what was added to them, not because the base was wrong."""
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    for url, (body, _) in ENDPOINTS.items():
        response = post(client, url, json.dumps(body))
        assert response.status_code == 200, (url, response.content[:300])


def test_the_reported_poolid_1e2000000_answers_102_at_once(demo, client):
    body = '{"apikey":"demo-o2-apikey","privatekey":"demo-o2-privatekey","UserIdInstore":"ext-ravi","poolId":%s}'
    for number in ("1e300000", "1e2000000"):
        with answered_within_a_second(number):
            response = post(client, REDEEM, body % number)
        assert (response.status_code, response.json()["statuscode"]) == (400, 102)


def test_a_lone_surrogate_in_the_apikey_or_in_a_key_name_is_102_not_a_crash(demo, client):
    for raw in ('{"apikey": "\\ud800", "privatekey": "x"}', with_ravi('"x\\ud800": 1')):
        response = post(client, REDEEM, raw)
        assert (response.status_code, response.json()["statuscode"]) == (400, 102)


def with_ravi(member: str) -> str:
    return json.dumps({**KEYS, "UserIdInstore": "ext-ravi", "amount": "1"})[:-1] + f", {member}}}"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_a_nul_in_a_utf16_or_utf32_redeem_body_is_102_and_redeems_nothing(demo, client, encoding):
    raw = json.dumps({**KEYS, "UserIdInstore": "ext-ravi", "amount": "1", "note": "\x00"}).encode(encoding)
    response = post(client, REDEEM, raw)
    assert (response.status_code, response.json()["statuscode"]) == (400, 102)
    assert "NUL" in response.json()["message"]


def test_utf16_and_utf32_bodies_are_read_like_utf8(demo, client, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    for encoding in ("utf-16", "utf-32"):
        raw = json.dumps({**KEYS, "UserIdInstore": "ext-ravi", "amount": "1"}).encode(encoding)
        assert post(client, REDEEM, raw).json()["statuscode"] == 1
        raw = json.dumps({"externalId": ASHA, "rewards": [{"rewardId": 353}]}).encode(encoding)
        assert post(client, ISSUE, raw).status_code == 200


@pytest.mark.parametrize("url", [ISSUE, VALIDATION_CODE, TOKEN])
def test_deep_nesting_on_the_capillary_routes_is_a_400_even_without_credentials(client, db, url):
    response = client.post(url, "[" * 5000 + "]" * 5000, content_type="application/json")
    expected_status = 400 if url == TOKEN else 401  # authentication comes first where there is one
    assert response.status_code == expected_status
    response = post(client, url, "[" * 5000 + "]" * 5000)
    assert response.status_code in (400, 401) and response["Content-Type"] == "application/json"


@pytest.mark.parametrize("url", [ISSUE, VALIDATION_CODE, TOKEN])
def test_a_body_over_the_limit_gets_capillarys_json_413_not_djangos_html_400(demo, client, url, settings):
    response = post(client, url, json.dumps({"x": "x" * (settings.API_MAX_BODY_BYTES + 1)}))
    assert response.status_code == 413
    assert vendor_code(response, "oauth" if url == TOKEN else "capillary") == 413
    assert str(settings.API_MAX_BODY_BYTES) in response.content.decode()


def test_a_body_over_the_limit_gets_appviralitys_413(demo, client, settings):
    settings.API_MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post(client, REDEEM, json.dumps({**KEYS, "UserIdInstore": "x" * 1000}))
    assert response.status_code == 413 and vendor_code(response, "appvirality") == 102
    assert "1000 bytes" in response.json()["message"]


@pytest.mark.parametrize("url", [ISSUE, VALIDATION_CODE, TOKEN])
def test_a_wrong_content_type_is_415_in_capillarys_format(demo, client, url):
    response = post(client, url, "{}", content_type="text/plain")
    assert response.status_code == 415
    assert vendor_code(response, "oauth" if url == TOKEN else "capillary") == 415


def test_redeem_reads_json_whatever_the_content_type_says(demo, client, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    body = json.dumps({**KEYS, "UserIdInstore": "ext-ravi", "amount": "1"})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        assert post(client, REDEEM, body, content_type=content_type).json()["statuscode"] == 1
    assert post(client, REDEEM, "").json()["statuscode"] == 102


# --- numbers: ASCII digits only ---------------------------------------------------------------


@pytest.mark.parametrize("amount", ["١", "２", "1_0", " 1", "1\u00a0", "+1", "1e1", "߁"])
def test_redeem_amounts_are_ascii_digits_only(demo, client, amount):
    response = post(client, REDEEM, json.dumps({**KEYS, "UserIdInstore": "ext-ravi", "amount": amount}))
    assert (response.status_code, response.json()["statuscode"]) == (400, 102)


@pytest.mark.parametrize("pool", ["５３１", "5_31", "531 ", "٥٣١"])
def test_redeem_pool_ids_are_ascii_digits_only(demo, client, pool):
    response = post(
        client, REDEEM, json.dumps({**KEYS, "userkey": "2d0f2c8e-7c7e-4a57-9c43-5f3f6b1f0a11", "poolId": pool})
    )
    assert (response.status_code, response.json()["statuscode"]) == (400, 102)


@pytest.mark.parametrize(
    "reward",
    [
        {"rewardId": "٣٥٣"},
        {"rewardId": "3_53"},
        {"rewardId": 353, "quantity": "２"},
        {"rewardId": 353, "quantity": "1_0"},
        {"rewardId": 353, "orgId": "4_000_876"},
        {"rewardId": 350, "paymentConfig": {"redemptionValue": "٧"}},
        {"rewardId": 350, "paymentConfig": {"points": "1_0"}},
    ],
)
def test_issue_ids_quantities_and_amounts_are_ascii_digits_only(demo, client, reward):
    response = post(client, ISSUE, json.dumps({"externalId": ASHA, "rewards": [reward]}))
    assert response.status_code == 400 and vendor_code(response, "capillary") == 400
    assert "ASCII" in response.json()["status"]["message"]


@pytest.mark.parametrize("orgs", ["4_000_876", "４000876", "4000876,٤٠٠٤٥٤٣", "4000876 4004543"])
def test_data_scope_org_is_ascii_digits_only(demo, client, orgs):
    body = json.dumps({"externalId": ASHA, "rewards": [{"rewardId": 353}]})
    response = post(client, ISSUE, body, **{"DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": orgs})
    assert response.status_code == 400 and "DATA-SCOPE-ORG" in response.json()["status"]["message"]


def test_data_scope_org_with_spaces_around_commas_still_works(demo, client):
    body = json.dumps({"externalId": ASHA, "rewards": [{"rewardId": 353}]})
    response = post(client, ISSUE, body, **{"DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": " 4000876 , 4004543 "})
    assert response.status_code == 200


# --- strings: length limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("eventLogId", 255),
        ("transactionNumber", 255),
        ("notes", 1000),
        ("reward.requestId", 255),
        ("reward.customFields.giftMessage", 255),
        ("orgLevelDetails.notes", 1000),
    ],
)
def test_every_stored_or_echoed_string_has_a_length_limit(demo, client, field, limit):
    def body(length: int) -> dict:
        reward = {"rewardId": 353}
        call = {"externalId": ASHA, "rewards": [reward], "orgLevelDetails": [{"orgId": 4000876}]}
        if field.startswith("reward.customFields."):
            reward["customFields"] = {field.rsplit(".", 1)[1]: "x" * length}
        elif field.startswith("reward."):
            reward[field.split(".")[1]] = "r" * length
        elif field.startswith("orgLevelDetails."):
            call["orgLevelDetails"][0]["notes"] = "n" * length
        else:
            call[field] = "x" * length
        return call

    before = rows()
    refused = post(client, ISSUE, json.dumps(body(limit + 1)))
    assert refused.status_code == 400 and vendor_code(refused, "capillary") == 400
    assert rows() == before
    assert post(client, ISSUE, json.dumps(body(limit))).status_code == 200


def test_a_megabyte_request_no_longer_makes_a_ten_megabyte_answer(demo, client, admin_user):
    # given Asha can pay for ten lounge passes
    wallet = Wallet.objects.get(org_id=4000876, kind="POINTS", customer__external_id=ASHA)
    wallet_adjust(wallet_id=wallet.pk, delta=Decimal("1000.00"), reason="enough for ten", staff_user=admin_user)
    rewards = [{"rewardId": 353, "requestId": f"r-{i}"} for i in range(10)]
    raw = json.dumps({"externalId": ASHA, "eventLogId": "e" * 1_000_000, "rewards": rewards})
    before = rows()
    # when one call sends a megabyte eventLogId for them
    response = post(client, ISSUE, raw)
    assert response.status_code == 400 and len(response.content) < 1000
    assert rows() == before


def test_with_every_string_at_its_limit_the_answer_stays_small(demo, client):
    rewards = [
        {"rewardId": 353, "requestId": f"{i}".ljust(255, "r"), "customFields": {"giftMessage": "g" * 255}}
        for i in range(4)
    ]
    body = {"externalId": ASHA, "eventLogId": "e" * 255, "transactionNumber": "t" * 255, "notes": "n" * 1000}
    response = post(client, ISSUE, json.dumps({**body, "rewards": rewards}))
    assert response.status_code == 200 and len(response.content) < 16_000


@pytest.mark.parametrize("field", ["UserIdInstore", "EmailId", "userkey"])
def test_an_identifier_longer_than_the_call_record_holds_is_102_not_a_500(demo, client, field):
    """Found by the schema fuzzing: a 255-character identifier passed the 255 limit and broke the
    call record's 254-character column (a 500 on PostgreSQL)."""
    response = post(client, REDEEM, json.dumps({**KEYS, field: "a" * 250 + "@x.io", "amount": "1"}))
    assert (response.status_code, response.json()["statuscode"]) == (400, 102)
    response = post(client, REDEEM, json.dumps({**KEYS, "EmailId": "a" * 249 + "@x.io", "amount": "1"}))
    assert (response.status_code, response.json()["statuscode"]) == (200, 5)


def test_redeem_strings_and_the_idempotency_key_have_limits(demo, client):
    for body in (
        {**KEYS, "UserIdInstore": "x" * 256, "amount": "1"},
        {**KEYS, "UserIdInstore": "ext-ravi", "rewarddtlids": ["r" * 101]},
        {**KEYS, "UserIdInstore": "ext-ravi", "amount": "1", "campaignId": "c" * 256},
    ):
        assert post(client, REDEEM, json.dumps(body)).json()["statuscode"] == 102
    for key in ("", "k" * 256, "caf\u00e9", "tab\there"):
        response = post(
            client, REDEEM, json.dumps({**KEYS, "UserIdInstore": "ext-ravi", "amount": "1"}), **{"Idempotency-Key": key}
        )
        assert response.json()["statuscode"] == 102, key
    assert post(client, REDEEM, json.dumps({"apikey": "k" * 256, "privatekey": "p"})).json()["statuscode"] == 101


# --- schema and OPTIONS -----------------------------------------------------------------------


@pytest.fixture
def schema(client):
    return client.get("/api/schema/?format=json").json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def test_every_operation_with_a_body_documents_413_and_415(schema):
    for path, _, operation in operations(schema):
        if "requestBody" not in operation:
            continue
        assert "413" in operation["responses"], path
        if path.startswith("/v2_0/"):  # AppVirality calls read JSON whatever the Content-Type
            assert "never answers 415" in operation["description"], path
        else:
            assert "415" in operation["responses"], path


def test_the_schema_carries_the_limits_the_api_enforces(schema):
    components = schema["components"]["schemas"]
    issue = components["IssueInput"]["properties"]
    assert (issue["rewards"]["minItems"], issue["rewards"]["maxItems"]) == (1, 50)
    assert issue["orgLevelDetails"]["maxItems"] == 50
    for name, limit in {"eventLogId": 255, "transactionNumber": 255, "notes": 1000, "externalId": 150}.items():
        assert issue[name]["maxLength"] == limit, name
    reward = components["RewardInput"]["properties"]
    assert reward["requestId"]["maxLength"] == 255
    assert reward["customFields"]["additionalProperties"]["oneOf"][0]["maxLength"] == 255
    assert (reward["rewardId"]["minimum"], reward["rewardId"]["maximum"]) == (1, 2**63 - 1)
    redeem = schema["paths"]["/v2_0/redeemrewards"]["post"]
    [key] = [p for p in redeem["parameters"] if p["name"] == "Idempotency-Key"]
    assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 255)
    request = components["RedeemRewardsRequest"]["properties"]
    assert request["UserIdInstore"]["maxLength"] == 254 and request["rewarddtlids"]["maxItems"] == 1000


@pytest.mark.parametrize("url", ["/v2_0/redeemrewards", "/v1.1/user/rewards/issue/", TOKEN, VALIDATION_CODE])
def test_options_shows_no_internal_docstring(client, url):
    response = client.options(url)
    assert response.status_code == 200
    assert "description" not in response.json() and "request.body" not in response.content.decode()
