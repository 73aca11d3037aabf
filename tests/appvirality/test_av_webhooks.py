"""Webhooks in AppVirality's shape: a real receiver on 127.0.0.1 gets the conversion's body with the
endpoint's securekey, through the outbox (events on commit, deliveries, retries)."""

import json

import pytest

from orgs.models import Customer, OutboxEvent, WebhookDelivery, WebhookEndpoint
from tests.processes import wait_for, webhook_receiver

from .conftest import ASHA, ASHA_KEY, KEYS, O2

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
SECRET = "whsec-av-0123456789"


def post(client, verb, body):
    response = client.post(f"/v2_0/{verb}", json.dumps({**KEYS, **body}), content_type="application/json")
    return response.json()


@pytest.mark.usefixtures("conversion_path")
def test_a_conversion_that_rewards_both_sides_reaches_an_appvirality_receiver(demo, client):
    with webhook_receiver(SECRET) as receiver:
        WebhookEndpoint.objects.create(
            org_id=O2, url=receiver.url, secret=SECRET, securekey="av-secure-key", format="appvirality"
        )
        native = []
        with webhook_receiver(SECRET) as plain:
            WebhookEndpoint.objects.create(org_id=O2, url=plain.url, secret=SECRET, securekey="plain")
            post(
                client,
                "updateuserinfo",
                {
                    "UserIdInstore": "friend-1",
                    "EmailId": "friend@example.com",
                    "name": "Friend",
                    "referrercode": "ASHA2026",
                },
            )
            answer = post(
                client,
                "registerconversionevent",
                {"UserIdInstore": "friend-1", "eventName": "Signup", "extraInfo": "order 42"},
            )
            assert answer["statuscode"] == 1 and len(answer["rewards"]) == 2
            wait_for(lambda: receiver.received and plain.received, timeout=30, what="both webhooks")
            native = plain.received
    [(event_id, document, valid)] = receiver.received
    assert valid and event_id == str(OutboxEvent.objects.get(kind="conversion").event_id)
    friend = Customer.objects.get(org_id=O2, external_id="friend-1")
    rewards = {r["beneficiary"]: r for r in answer["rewards"]}
    assert document["securekey"] == "av-secure-key"
    assert (document["success"], document["campaignid"], document["eventname"], document["extraInfo"]) == (
        True, "refer-a-friend", "Signup", "order 42",
    )  # fmt: skip
    assert document["friend"]["participantid"] == str(friend.user_key)
    assert (document["friend"]["emailid"], document["friend"]["storeuserid"], document["friend"]["name"]) == (
        "friend@example.com", "friend-1", "Friend",
    )  # fmt: skip
    assert (document["friend"]["rewarddtlid"], document["friend"]["amount"]) == (
        rewards["friend"]["rewarddtlid"],
        "2.50",
    )
    assert document["referrer"]["participantid"] == ASHA_KEY and document["referrer"]["storeuserid"] == ASHA
    assert (document["referrer"]["rewarddtlid"], document["referrer"]["amount"]) == (
        rewards["referrer"]["rewarddtlid"],
        "5.00",
    )
    assert document["referrer"]["reward_unit"] == "INR" and document["referrer"]["couponcode"] is None
    for side in ("friend", "referrer"):
        assert set(document[side]) >= {
            "participantid", "emailid", "name", "storeuserid", "rewardid", "rewarddtlid", "reward_type",
            "rewarded_date", "amount", "reward_unit", "reward_description", "couponcode", "expires",
        }  # fmt: skip
    # the native endpoint gets this service's envelope of the same event
    [(_, envelope, _)] = native
    assert envelope["kind"] == "conversion" and envelope["securekey"] == "plain"
    assert len(envelope["data"]["rewards"]) == 2


def test_a_status_change_reaches_it_too_and_failures_are_retried(demo, client):
    with webhook_receiver(SECRET) as receiver:
        receiver.status = 500
        endpoint = WebhookEndpoint.objects.create(
            org_id=O2, url=receiver.url, secret=SECRET, securekey="k", format="appvirality"
        )
        answer = post(
            client, "changerewardstatus", {"rewardslist": [{"rewarddtlid": "rd-1001", "reward_status": "Suspicious"}]}
        )
        assert answer["statuscode"] == 1
        wait_for(lambda: receiver.received, timeout=30, what="the webhook")
    [(_, document, _)] = receiver.received
    assert document["referrer"] is None and document["friend"]["rewarddtlid"] == "rd-1001"
    assert document["friend"]["reward_status"] == "Suspicious" and "Suspicious" in document["message"]
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("PENDING", 1, 500)


def test_an_appvirality_endpoint_gets_no_other_kinds(demo, client):
    with webhook_receiver(SECRET) as receiver:
        WebhookEndpoint.objects.create(org_id=O2, url=receiver.url, secret=SECRET, format="appvirality")
        redeem = {"UserIdInstore": ASHA, "amount": "1.00"}
        assert (
            client.post("/v2_0/redeemrewards", json.dumps({**KEYS, **redeem}), content_type="application/json").json()[
                "statuscode"
            ]
            == 1
        )
        assert OutboxEvent.objects.filter(kind="redemption").exists()
    assert receiver.received == [] and not WebhookDelivery.objects.exists()
