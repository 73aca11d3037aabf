"""The OpenAPI schema documents the Redeem Rewards endpoint: request, responses, every status code."""

import pytest
from django.core.management import call_command

from appvirality.wire import STATUS_CODES

pytestmark = pytest.mark.django_db


def test_schema_is_valid_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_every_status_code_is_documented_with_its_http_status(client):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/v2_0/redeemrewards"]["post"]
    assert set(operation["responses"]) == {"200", "400", "401", "409", "413", "429"}
    for status in STATUS_CODES.values():
        assert f"| {status.code} | {status.http_status} | {status.message} |" in operation["description"]
    request = schema["components"]["schemas"]["RedeemRewardsRequest"]["properties"]
    assert {"apikey", "privatekey", "userkey", "UserIdInstore", "EmailId", "rewarddtlids", "amount", "poolId"} <= set(
        request
    )
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation["parameters"])
