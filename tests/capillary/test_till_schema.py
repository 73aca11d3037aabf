"""The OpenAPI schema documents the till, catalogue and revoke routes with every code and its HTTP status."""

import pytest

from capillary.catalogue_apis import FULFILMENT_CODES, OWN_CODES, READ_CODES
from capillary.till_apis import COUPON_ITEM_CODES, ENVELOPE_CODES, POINTS_ITEM_CODES, REVERSE_CODES

pytestmark = pytest.mark.django_db

EXPECTED = [
    ("/v1.1/points/isredeemable", "get", {k: v for k, v in POINTS_ITEM_CODES.items() if k != 811}),
    ("/v1.1/points/redeem", "post", POINTS_ITEM_CODES),
    ("/v2/points/reverse", "post", REVERSE_CODES),
    ("/v1.1/coupon/isredeemable", "get", COUPON_ITEM_CODES),
    ("/v1.1/coupon/redeem", "post", COUPON_ITEM_CODES),
    ("/v1.1/user/rewards", "get", READ_CODES),
    ("/v1.1/user/rewards/{reward_id}", "get", READ_CODES),
    ("/v1.1/reward-transactions", "get", READ_CODES),
    ("/v1/user/reward/revoke", "post", OWN_CODES),
    ("/v1/management/transactions", "put", FULFILMENT_CODES),
]


@pytest.mark.parametrize(("path", "method", "codes"), EXPECTED, ids=[p for p, _, _ in EXPECTED])
def test_every_code_is_in_the_schema(client, path, method, codes):
    operation = client.get("/api/schema/?format=json").json()["paths"][path][method]
    for code, meaning in codes.items():
        assert f"| {code} | {meaning} |" in operation["description"], code
    assert {"200", "400", "401"} <= set(operation["responses"])


def test_the_own_codes_name_their_http_status():
    assert [("HTTP 400" in OWN_CODES[9001]), ("HTTP 404" in OWN_CODES[9002]), ("HTTP 400" in OWN_CODES[9004])] == [
        True
    ] * 3


def test_the_v11_envelope_codes_are_documented_on_the_till_routes(client):
    schema = client.get("/api/schema/?format=json").json()
    response = schema["paths"]["/v1.1/points/redeem"]["post"]["responses"]["200"]
    for code in ENVELOPE_CODES:
        assert f"| {code} |" in response["description"]
    assert "/v1.1/points/validationcode" in schema["paths"] and "/v1.1/points/validation_code" in schema["paths"]
