"""The demo's own vendor reward (350, answered by the sandbox vendor) against the seed's sample."""

import httpx
import pytest
from django.core.management import call_command

from tests.catalogue.test_issue_api import seed_documents, shape

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
# Values that differ from call to call (and the seed's orgId, which names another org than its request).
PER_INSTANCE = ("orgId", "transactionId", "pointsReferenceId", "pointsReferenceIds")
PER_INSTANCE_VENDOR = ("voucher", "valid_till")


def test_the_seed_sample_against_the_demo_answers_the_seed_response_field_for_field(live_server):
    # given the demo as `make run` loads it, its sandbox vendor served by this server
    call_command("load_scenario", "scenarios/demo.json", "--server-url", live_server.url)
    request, expected = seed_documents()
    # when the seed's own request comes in through the gateway route
    response = httpx.post(
        f"{live_server.url}/api_gateway/rewards/core/v1.1/user/rewards/issue/?username=o2.till&skip_validation=true",
        json=request,
        auth=("o2.till", "o2-till-password"),
        timeout=30,
    )
    # then it answers the seed's response: the same fields, types and values, coupon_series_id included
    assert response.status_code == 200, response.text
    body = response.json()
    assert shape(body) == shape(expected)
    [got], [want] = body["rewards"], expected["rewards"]
    assert got["orgId"] == request["rewards"][0]["orgId"]
    [got_vendor], [want_vendor] = got["vendor"], want["vendor"]
    assert got_vendor["voucher"].startswith("SBX") and got_vendor["valid_till"] > "2026"
    for key in PER_INSTANCE_VENDOR:
        got_vendor.pop(key), want_vendor.pop(key)
    assert (
        got_vendor == want_vendor == {"pointsRedeemed": "2", "offer_name": "marvel-loadtest", "coupon_series_id": "234"}
    )
    for key in PER_INSTANCE:
        got.pop(key), want.pop(key)
    assert got == want
    assert body["status"] == expected["status"]
