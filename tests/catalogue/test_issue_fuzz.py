"""No input produces a 5xx: hypothesis throws bodies, headers and query strings at the APIs, and
hides lone surrogates, NULs (in every encoding JSON allows), huge exponents, long digit strings and
deep nesting in otherwise plausible bodies of every endpoint."""

import base64
import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalogue.models import CatalogueReward
from tests.catalogue.conftest import ASHA, O2, TRAVEL, assert_ledgers_add_up, basic
from tests.hostile import ENCODINGS, answered_within_a_second, hostile_bodies

pytestmark = pytest.mark.django_db

NASTY_TEXT = st.sampled_from(
    ["", " ", "\x00", "\ud800", "9" * 40, "-1", "1e400", "NaN", "ñ", "0x10", "1.5", "١", "２", "1_0", "\udfff"]
)
TEXT = st.text(max_size=12) | st.text(st.characters(categories=["Cs"]), max_size=3) | NASTY_TEXT
NUMBERS = st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=12
)


def maybe(strategy):
    return strategy | JSON


PAYMENT_CONFIG = maybe(
    st.fixed_dictionaries(
        {},
        optional={
            "id": maybe(st.sampled_from([54, 60, 61, 62, 90, 91, 0, 2**63])),
            "redemptionValue": maybe(st.sampled_from([1, 0.5, "2", 0, -1, 10**20, 1e-9])),
            "points": maybe(st.sampled_from(["7", 7, 0.001, -5, "1e30"])),
        },
    )
)
REWARD = maybe(
    st.fixed_dictionaries(
        {"rewardId": maybe(st.sampled_from([350, 351, 352, 353, 900, 0, -1, 2**64]))},
        optional={
            "quantity": maybe(st.sampled_from([1, 2, 1.56, "3", 0, -2, 10**9, "x"])),
            "orgId": maybe(st.sampled_from([O2, TRAVEL, 1, 2**64])),
            "paymentConfig": PAYMENT_CONFIG,
            "customFields": maybe(st.dictionaries(st.sampled_from(["giftMessage", "x", ""]), SCALARS, max_size=2)),
            "fulfillmentDetails": maybe(st.fixed_dictionaries({"status": maybe(st.sampled_from(["BOOKED", "x"]))})),
            "requestId": maybe(st.sampled_from(["r-1", "r-2", ""])),
            "params": JSON,
        },
    )
)
BODY = maybe(
    st.fixed_dictionaries(
        {"rewards": maybe(st.lists(REWARD, max_size=4))},
        optional={
            "externalId": maybe(st.sampled_from([ASHA, "ext-ravi", "ext-meena", "nobody"])),
            "mobile": maybe(st.sampled_from([919900000001, "919900000002", 9.1e11])),
            "email": maybe(st.sampled_from(["asha@example.com", "@"])),
            "user_group2_id": maybe(st.sampled_from([77, 78, 2**64])),
            "userGroup2ExternalId": maybe(st.sampled_from(["family-77", "x"])),
            "user_group2_primary_user_id": maybe(st.sampled_from([ASHA, "99999999999999999999999"])),
            "orgLevelDetails": maybe(
                st.lists(
                    st.fixed_dictionaries(
                        {"orgId": maybe(st.sampled_from([O2, TRAVEL, 5]))},
                        optional={"userGroup2Id": maybe(st.just(77)), "notes": TEXT, "params": JSON},
                    ),
                    max_size=2,
                )
            ),
            "validationCode": TEXT,
            "transactionNumber": TEXT,
            "eventLogId": TEXT,
        },
    )
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "DATA-SCOPE": st.sampled_from(["SELF", "OTHER", "other", "", "x"]),
        "DATA-SCOPE-ORG": st.sampled_from([f"{O2},{TRAVEL}", str(TRAVEL), "a,b", "99999999999999999999", ",", ""]),
        "X-CAP-API-OAUTH-TOKEN": st.sampled_from(["", "a.b.c", "eyJhbGciOiJub25lIn0.e30."]),
    },
)
AUTH = st.sampled_from(
    [basic(), basic(md5=False), basic(password="x"), "Basic", "Basic %%%", "Bearer x", ""]
    + ["Basic " + base64.b64encode(b"o2.till\x00:x").decode(), "Basic " + base64.b64encode(b"\xff:\xfe").decode()]
)
USERNAME = st.sampled_from(["o2.till", "o2travel.till", "", "%00", "%FF", "a" * 300])
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(
    body=BODY,
    headers=HEADERS,
    auth=st.just(basic()) | st.just(basic()) | AUTH,  # mostly valid: get past authentication
    username=st.just("o2.till") | st.just("o2.till") | USERNAME,
    skip=st.sampled_from(["true", "true", "false", "", "x"]),
    encoding=st.sampled_from(ENCODINGS),
)
def test_no_issue_call_produces_a_5xx(demo, client, body, headers, auth, username, skip, encoding):
    CatalogueReward.objects.filter(pk=350).update(vendor_url="http://127.0.0.1:9/closed", vendor_timeout_ms=200)
    response = client.post(
        f"/v1.1/user/rewards/issue/?username={username}&skip_validation={quote(skip)}",
        json.dumps(body).encode(encoding),
        content_type="application/json",
        headers={"Authorization": auth, **headers},
    )
    assert response.status_code < 500, response.content
    assert response.json()["status"]["code"]
    assert_ledgers_add_up()


@FUZZ
@given(body=JSON, auth=AUTH, headers=HEADERS)
def test_no_token_or_validation_code_call_produces_a_5xx(demo, client, body, auth, headers):
    token = client.post("/v3/oauth/token/generate", json.dumps(body), content_type="application/json")
    code = client.post(
        "/v1.1/points/validation_code?username=o2.till",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": auth, **headers},
    )
    assert token.status_code < 500 and code.status_code < 500


ENDPOINTS = {
    "/v1.1/user/rewards/issue/?username=o2.till&skip_validation=true": {
        "externalId": ASHA,
        "rewards": [{"rewardId": 353, "quantity": 1, "paymentConfig": {"points": "100"}, "customFields": {}}],
    },
    "/v1.1/points/validation_code?username=o2.till": {"externalId": ASHA, "orgId": O2},
    "/v3/oauth/token/generate": {"key": "demo-o2-oauth-key", "secret": "demo-o2-oauth-secret"},
}


@FUZZ
@given(url=st.sampled_from(sorted(ENDPOINTS)), data=st.data())
def test_a_hostile_value_anywhere_in_any_encoding_is_a_fast_400_on_every_endpoint(demo, client, url, data):
    raw = data.draw(hostile_bodies(ENDPOINTS[url]))
    with answered_within_a_second(url):
        response = client.post(url, raw, content_type="application/json", headers={"Authorization": basic()})
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    code = body["errors"][0]["code"] if "oauth" in url else body["status"]["code"]
    assert code == 400
    assert_ledgers_add_up()
