"""The rest of the AppVirality server API (docs/contracts/appvirality-companion.md), through HTTP.

Every call and every status code of the contract with its HTTP status, the check order where two
apply, and the reward life cycle as Redeem Rewards sees it. Concurrency lives in
test_companion_concurrency.py, bad input in test_companion_fuzz.py, webhooks in test_av_webhooks.py.
"""

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from coupons.models import Coupon, CouponPool
from orgs.models import AppCredential, Campaign, Customer, OutboxEvent
from wallets.models import CampaignRule, ConversionEvent, EarnedReward

from .conftest import ASHA, ASHA_KEY, KEYS, MEENA, O2, RAVI

pytestmark = pytest.mark.django_db

VERBS = [
    "updateuserinfo",
    "registerconversionevent",
    "getuserbalance",
    "getusercoupons",
    "getcouponpools",
    "checkrewardstatus",
    "changerewardstatus",
    "getfriendslist",
]


def codes(result) -> tuple[int, int]:
    http, body = result
    return http, body["statuscode"]


def signup(av, external_id: str, code: str = "ASHA2026", **extra):
    http, body = av("updateuserinfo", {"UserIdInstore": external_id, "referrercode": code, **extra})
    assert (http, body["statuscode"]) == (200, 1), body
    return body


# --- conventions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_answers_101_with_http_401_for_wrong_credentials(av, verb):
    assert codes(av(verb, {"UserIdInstore": ASHA}, keys={"apikey": "demo-o2-apikey", "privatekey": "wrong"})) == (
        401,
        101,
    )
    assert codes(av(verb, {"UserIdInstore": ASHA}, keys={})) == (401, 101)


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_answers_102_with_http_400_for_a_body_that_is_not_an_object(av, verb):
    assert codes(av(verb, raw=b"[1, 2]")) == (400, 102)
    assert codes(av(verb, raw=b"{not json")) == (400, 102)


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_answers_106_with_http_429_over_the_rate_limit(av, verb, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    # three calls: even if a minute's window ends between two of them, two share one
    answers = [codes(av(verb, {"UserIdInstore": ASHA})) for _ in range(3)]
    assert (429, 106) in answers


@pytest.mark.parametrize("path", ["/v2_0/GetUserBalance", "/v2_0/getuserbalance/", "/v2_0/GETUSERBALANCE/"])
def test_the_verb_is_case_insensitive_and_a_trailing_slash_is_accepted(client, demo, path):
    response = client.post(path, data=json.dumps({**KEYS, "UserIdInstore": ASHA}), content_type="application/json")
    assert (response.status_code, response.json()["statuscode"]) == (200, 1)


def test_redeem_rewards_is_case_insensitive_too(client, demo):
    body = {**KEYS, "UserIdInstore": ASHA, "amount": "1.00"}
    response = client.post("/v2_0/RedeemRewards/", data=json.dumps(body), content_type="application/json")
    assert response.json()["statuscode"] == 1


def test_an_unknown_verb_is_not_found(client, demo):
    assert client.post("/v2_0/nosuchcall", data="{}", content_type="application/json").status_code == 404


def test_keys_are_case_insensitive_and_unknown_ones_ignored(av):
    http, body = av("GetUserBalance", {"USERIDINSTORE": ASHA, "whatever": [1, 2]})
    assert (http, body["statuscode"]) == (200, 1)


def test_the_schema_documents_every_call_with_its_status_codes(client, demo):
    schema = client.get("/api/schema/", headers={"accept": "application/json"}).json()
    for verb in VERBS:
        operation = schema["paths"][f"/v2_0/{verb}"]["post"]
        assert {"200", "400", "401", "429"} <= set(operation["responses"]), verb
        assert "| 101 | 401 |" in operation["description"] and "| 102 | 400 |" in operation["description"]
    assert "| 111 | 200 |" in schema["paths"]["/v2_0/updateuserinfo"]["post"]["description"]
    assert "| 11 | 200 |" in schema["paths"]["/v2_0/checkrewardstatus"]["post"]["description"]
    assert "| 57 | 200 |" in schema["paths"]["/v2_0/changerewardstatus"]["post"]["description"]
    assert "| 69 | 200 |" in schema["paths"]["/v2_0/registerconversionevent"]["post"]["description"]


UNKNOWN_KEY = "00000000-0000-4000-8000-000000000000"
# For every verb, a body that reaches each status code the schema documents for it (101, 102 and 106
# are reached for every verb above). Run in this order on the demo data, after Asha's rd-1001 is redeemed.
REACHED = {
    "updateuserinfo": {
        1: {"UserIdInstore": "new-1"},
        2: {"userkey": UNKNOWN_KEY, "UserIdInstore": "x"},
        5: {"UserIdInstore": RAVI, "EmailId": "asha@example.com"},
        111: {"UserIdInstore": "new-2", "referrercode": "NOPE0000"},
    },
    "registerconversionevent": {
        1: {"UserIdInstore": RAVI, "eventName": "Signup"},
        0: {"UserIdInstore": RAVI, "eventName": "Signup", "campaignId": "nope"},
        2: {"userkey": UNKNOWN_KEY, "eventName": "Signup"},
        3: {"UserIdInstore": RAVI, "eventName": "Signup", "growthHack": "Viral"},
        5: {"UserIdInstore": "nobody", "eventName": "Signup"},
        69: {"UserIdInstore": RAVI, "eventName": "Signup", "campaignId": "gold-only"},
    },
    "getuserbalance": {
        1: {"UserIdInstore": ASHA},
        0: {"UserIdInstore": ASHA, "campaignId": "nope"},
        2: {"userkey": UNKNOWN_KEY},
        3: {"UserIdInstore": ASHA, "growthHack": "Viral"},
        5: {"UserIdInstore": "nobody"},
    },
    "getusercoupons": {1: {"UserIdInstore": ASHA}, 2: {"userkey": UNKNOWN_KEY}, 5: {"EmailId": "nobody@example.com"}},
    "getcouponpools": {
        1: {"UserIdInstore": ASHA},
        0: {"UserIdInstore": ASHA, "campaignid": "nope"},
        2: {"userkey": UNKNOWN_KEY},
        5: {"UserIdInstore": "nobody"},
        69: {"UserIdInstore": RAVI, "campaignid": "gold-only"},
    },
    "checkrewardstatus": {1: {"rewarddtlid": "rd-1002"}, 11: {"rewarddtlid": "rd-nope"}},
    "changerewardstatus": {
        11: {"rewardslist": [{"rewarddtlid": "nope", "reward_status": "Approved"}]},
        57: {"rewardslist": [{"rewarddtlid": "rd-1001", "reward_status": "Rejected"}]},
        1: {"rewardslist": [{"rewarddtlid": "rd-1002", "reward_status": "Suspicious"}]},
    },
    "getfriendslist": {1: {"UserIdInstore": ASHA}, 2: {"userkey": UNKNOWN_KEY}, 5: {"UserIdInstore": "nobody"}},
}


@pytest.mark.parametrize("verb", VERBS)
def test_every_documented_status_code_of_every_verb_is_reached_with_its_http_status(av, client, verb):
    schema = client.get("/api/schema/", headers={"accept": "application/json"}).json()
    documented = {
        int(code): int(http)
        for code, http in re.findall(
            r"^\| (\d+) \| (\d+) \|", schema["paths"][f"/v2_0/{verb}"]["post"]["description"], re.M
        )
    }
    assert set(REACHED[verb]) | {101, 102, 106} == set(documented), verb
    redeem = {**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"]}
    assert (
        client.post("/v2_0/redeemrewards", data=json.dumps(redeem), content_type="application/json").status_code == 200
    )
    for code, body in REACHED[verb].items():
        assert codes(av(verb, body)) == (documented[code], code), (verb, body)


# --- updateuserinfo --------------------------------------------------------------------------------


def test_a_new_user_is_created_with_a_userkey_and_a_referral_code_and_the_referrer(av):
    body = signup(av, "new-1", code="asha2026", EmailId="New1@Example.com", name="New One", mobile="919911111111")
    customer = Customer.objects.get(org_id=O2, external_id="new-1")
    assert (body["userkey"], body["referralcode"], body["referrerSet"]) == (
        str(customer.user_key),
        customer.referral_code,
        True,
    )
    assert len(customer.referral_code) == 8 and customer.referral_code.isalnum() and customer.referral_code.isupper()
    assert (customer.email, customer.name, customer.mobile) == ("new1@example.com", "New One", "919911111111")
    assert customer.referrer.external_id == ASHA


def test_a_user_may_be_created_from_an_email_alone(av):
    http, body = av("updateuserinfo", {"EmailId": "only@example.com"})
    assert (http, body["statuscode"]) == (200, 1)
    assert Customer.objects.get(org_id=O2, email="only@example.com").external_id == body["userkey"]


def test_the_referrer_is_set_once_and_a_later_code_is_ignored(av):
    signup(av, "new-1")
    ravi_code = Customer.objects.get(org_id=O2, external_id=RAVI).referral_code
    http, body = av("updateuserinfo", {"UserIdInstore": "new-1", "referrercode": ravi_code, "name": "Renamed"})
    assert (http, body["statuscode"], body["referrerSet"]) == (200, 1, False)
    again = av("updateuserinfo", {"UserIdInstore": "new-1", "referrercode": "ASHA2026"})[1]
    assert (again["statuscode"], again["referrerSet"]) == (1, False)
    customer = Customer.objects.get(org_id=O2, external_id="new-1")
    assert (customer.referrer.external_id, customer.name) == (ASHA, "Renamed")


def test_omitted_fields_keep_their_value(av):
    av("updateuserinfo", {"UserIdInstore": RAVI, "name": "Ravi K"})
    assert Customer.objects.get(org_id=O2, external_id=RAVI).email == "ravi@example.com"
    assert Customer.objects.get(org_id=O2, external_id=RAVI).name == "Ravi K"


@pytest.mark.parametrize("case", ["unknown", "own", "referee", "other app"])
def test_an_invalid_referrer_code_answers_111_and_changes_nothing(av, case):
    other = Customer.objects.create(org_id=4004543, external_id="travel-1", referral_code="TRAVEL01")
    AppCredential.objects.create(org_id=4004543, apikey="travel-apikey", privatekey_digest="0" * 64)
    user, code = {
        "unknown": ("new-2", "ZZZZ9999"),
        "own": (ASHA, "ASHA2026"),
        "referee": (ASHA, Customer.objects.get(org_id=O2, external_id=MEENA).referral_code),  # meena's referrer is asha
        "other app": ("new-2", other.referral_code),
    }[case]
    before = Customer.objects.filter(org_id=O2).count()
    http, body = av("updateuserinfo", {"UserIdInstore": user, "referrercode": code, "name": "Changed"})
    assert (http, body["statuscode"]) == (200, 111)
    assert Customer.objects.filter(org_id=O2).count() == before
    assert not Customer.objects.filter(org_id=O2, name="Changed").exists()


def test_update_by_an_unknown_userkey_answers_2(av):
    key = "00000000-0000-4000-8000-000000000000"
    assert codes(av("updateuserinfo", {"userkey": key, "UserIdInstore": "x"})) == (200, 2)


def test_an_email_of_another_user_answers_5(av):
    assert codes(av("updateuserinfo", {"UserIdInstore": RAVI, "EmailId": "asha@example.com"})) == (200, 5)
    assert Customer.objects.get(org_id=O2, external_id=RAVI).email == "ravi@example.com"


@pytest.mark.parametrize(
    "body",
    [{"name": "no identifier"}, {"EmailId": "not-an-email"}, {"UserIdInstore": "x", "name": "n" * 201}],
)
def test_updateuserinfo_answers_102_for_bad_fields(av, body):
    assert codes(av("updateuserinfo", body)) == (400, 102)


# --- registerconversionevent ------------------------------------------------------------------------


@pytest.mark.usefixtures("conversion_path")
def test_a_referral_signup_pays_the_referrer_and_the_friend(av):
    friend = signup(av, "new-1")
    http, body = av("registerconversionevent", {"UserIdInstore": "new-1", "eventName": "signup"})
    assert (http, body["statuscode"]) == (200, 1)
    by_side = {reward["beneficiary"]: reward for reward in body["rewards"]}
    assert by_side["referrer"]["userkey"] == ASHA_KEY and by_side["referrer"]["amount"] == "5.00"
    assert by_side["friend"]["userkey"] == friend["userkey"] and by_side["friend"]["amount"] == "2.50"
    assert {reward["reward_status"] for reward in body["rewards"]} == {"Approved"}
    assert {reward["campaignId"] for reward in body["rewards"]} == {"refer-a-friend"}
    referrer_reward = EarnedReward.objects.get(code=by_side["referrer"]["rewarddtlid"])
    assert (referrer_reward.customer.external_id, referrer_reward.amount) == (ASHA, Decimal("5.00"))


@pytest.mark.usefixtures("conversion_path")
def test_without_a_referrer_a_word_of_mouth_rule_pays_nothing(av):
    http, body = av("registerconversionevent", {"UserIdInstore": RAVI, "eventName": "Signup"})
    assert (http, body["statuscode"], body["rewards"]) == (200, 1, [])
    assert "no rule" in body["message"]


@pytest.mark.usefixtures("conversion_path")
def test_a_percentage_rule_pays_half_up_to_cents_and_never_above_its_cap(av):
    signup(av, "new-1")
    body = av(
        "registerconversionevent", {"UserIdInstore": "new-1", "eventName": "Transaction", "transactionValue": 123.45}
    )[1]
    amounts = {(r["campaignId"], r["beneficiary"]): r["amount"] for r in body["rewards"]}
    # 10 % of 123.45 = 12.345 -> 12.35 (half-up); 5 % = 6.1725 -> 6.17; cashback 2 % = 2.469 -> 2.47
    assert amounts == {
        ("refer-a-friend", "referrer"): "12.35",
        ("refer-a-friend", "friend"): "6.17",
        ("shop-cashback", "user"): "2.47",
    }
    body = av(
        "registerconversionevent", {"UserIdInstore": "new-1", "eventName": "Transaction", "transactionValue": "5000"}
    )[1]
    amounts = {(r["campaignId"], r["beneficiary"]): r["amount"] for r in body["rewards"]}
    assert amounts == {
        ("refer-a-friend", "referrer"): "20.00",
        ("refer-a-friend", "friend"): "10.00",
        ("shop-cashback", "user"): "25.00",
    }
    assert all(isinstance(reward.amount, Decimal) for reward in EarnedReward.objects.filter(conversion__isnull=False))


@pytest.mark.usefixtures("conversion_path")
def test_a_rule_with_review_days_holds_its_rewards_under_review(av):
    body = av(
        "registerconversionevent", {"UserIdInstore": RAVI, "eventName": "transaction", "transactionValue": "100"}
    )[1]
    [reward] = body["rewards"]
    assert (reward["campaignId"], reward["reward_status"], reward["amount"]) == ("shop-cashback", "UnderReview", "2.00")
    stored = EarnedReward.objects.get(code=reward["rewarddtlid"])
    assert timedelta(days=6, hours=23) < stored.review_until - timezone.now() <= timedelta(days=7)


@pytest.mark.usefixtures("conversion_path")
def test_per_user_limits_how_many_events_of_a_user_pay_under_a_rule(av):
    signup(av, "new-1")
    first = av("registerconversionevent", {"UserIdInstore": "new-1", "eventName": "Signup"})[1]
    second = av("registerconversionevent", {"UserIdInstore": "new-1", "eventName": "Signup"})[1]
    assert (len(first["rewards"]), second["rewards"]) == (2, [])


@pytest.mark.usefixtures("conversion_path")
def test_the_same_tskey_answers_the_first_answer_again_even_with_another_body(av):
    signup(av, "new-1")
    first = av("registerconversionevent", {"UserIdInstore": "new-1", "eventName": "Signup", "tskey": "order-1"})[1]
    again = av(
        "registerconversionevent",
        {"UserIdInstore": "new-1", "eventName": "Transaction", "transactionValue": "50", "tskey": "order-1"},
    )[1]
    assert again["rewards"] == first["rewards"] and (first["replayed"], again["replayed"]) == (False, True)
    assert EarnedReward.objects.filter(conversion__isnull=False).count() == 2
    assert ConversionEvent.objects.count() == 1


@pytest.mark.usefixtures("conversion_path")
def test_a_refused_call_does_not_use_up_its_tskey(av):
    signup(av, "new-1")
    refused = av(
        "registerconversionevent", {"UserIdInstore": "new-1", "eventName": "Signup", "tskey": "k", "campaignId": "nope"}
    )
    assert codes(refused) == (200, 0)
    accepted = av("registerconversionevent", {"UserIdInstore": "new-1", "eventName": "Signup", "tskey": "k"})[1]
    assert (accepted["statuscode"], len(accepted["rewards"]), accepted["replayed"]) == (1, 2, False)


@pytest.mark.usefixtures("conversion_path")
def test_filters_narrow_the_campaigns_that_pay(av):
    signup(av, "new-1")
    body = {"UserIdInstore": "new-1", "eventName": "Transaction", "transactionValue": "100"}
    only_loyalty = av("registerconversionevent", {**body, "growthHack": "loyalty_program"})[1]
    assert {r["campaignId"] for r in only_loyalty["rewards"]} == {"shop-cashback"}
    only_referral = av("registerconversionevent", {**body, "campaignId": "refer-a-friend"})[1]
    assert {r["campaignId"] for r in only_referral["rewards"]} == {"refer-a-friend"}


@pytest.mark.usefixtures("conversion_path")
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"UserIdInstore": RAVI, "eventName": "Signup", "campaignId": "nope"}, (200, 0)),
        ({"UserIdInstore": RAVI, "eventName": "Signup", "growthHack": "Viral"}, (200, 3)),
        ({"userkey": "00000000-0000-4000-8000-000000000000", "eventName": "Signup"}, (200, 2)),
        ({"UserIdInstore": "nobody", "eventName": "Signup"}, (200, 5)),
        ({"EmailId": "nobody@example.com", "eventName": "Signup"}, (200, 5)),
        ({"UserIdInstore": RAVI, "eventName": "Signup", "campaignId": "gold-only"}, (200, 69)),  # ravi is SILVER
        ({"UserIdInstore": RAVI}, (400, 102)),
        ({"UserIdInstore": RAVI, "eventName": "Transaction", "transactionValue": "abc"}, (400, 102)),
        ({"UserIdInstore": RAVI, "eventName": "Transaction", "transactionValue": "-5"}, (400, 102)),
        ({"UserIdInstore": RAVI, "eventName": "Transaction", "transactionValue": "1.005"}, (400, 102)),
        ({"UserIdInstore": RAVI, "eventName": "Transaction", "transactionValue": "1000000000000"}, (400, 102)),
        ({"UserIdInstore": RAVI, "eventName": "Transaction"}, (400, 102)),  # a percentage rule needs the value
        ({"eventName": "Signup"}, (400, 102)),
        # check order: 102 before the user, the user before 3, 3 before 0
        ({"UserIdInstore": "nobody", "eventName": "Signup", "tskey": "k" * 101}, (400, 102)),
        ({"UserIdInstore": "nobody", "eventName": "Signup", "growthHack": "Viral"}, (200, 5)),
        ({"UserIdInstore": RAVI, "eventName": "Signup", "growthHack": "Viral", "campaignId": "nope"}, (200, 3)),
        ({"UserIdInstore": RAVI, "eventName": "Transaction", "campaignId": "nope"}, (200, 0)),
    ],
)
def test_registerconversionevent_status_codes(av, body, expected):
    assert codes(av("registerconversionevent", body)) == expected
    assert not EarnedReward.objects.filter(conversion__isnull=False).exists()
    assert not ConversionEvent.objects.exists()


@pytest.mark.usefixtures("conversion_path")
def test_a_blocked_user_answers_69(av):
    Customer.objects.filter(org_id=O2, external_id=RAVI).update(blocked=True)
    assert codes(av("registerconversionevent", {"UserIdInstore": RAVI, "eventName": "Signup"})) == (200, 69)
    assert codes(av("getcouponpools", {"UserIdInstore": RAVI})) == (200, 69)


@pytest.mark.usefixtures("conversion_path")
def test_a_by_event_coupon_campaign_hands_out_a_coupon_at_once_or_waits_for_stock(av):
    campaign = Campaign.objects.create(
        org_id=O2, code="welcome-coupon", growth_hack="Loyalty_Program", reward_type="COUPONS",
        coupon_distribution="BY_EVENT",
    )  # fmt: skip
    CampaignRule.objects.create(org_id=O2, campaign=campaign, event="Install", user_coupon=True, per_user=5)
    low = CouponPool.objects.create(id=9001, org_id=O2, name="Welcome A", campaign=campaign, value="50.00", unit="INR")
    high = CouponPool.objects.create(id=9002, org_id=O2, name="Welcome B", campaign=campaign)
    Coupon.objects.create(org_id=O2, pool=low, code="WEL-A1")
    Coupon.objects.create(org_id=O2, pool=high, code="WEL-B1")
    handed = []
    for _ in range(3):
        [reward] = av("registerconversionevent", {"UserIdInstore": RAVI, "eventName": "install"})[1]["rewards"]
        handed.append(EarnedReward.objects.get(code=reward["rewarddtlid"]))
    assert [r.coupon.code if r.coupon else None for r in handed] == ["WEL-A1", "WEL-B1", None]  # lowest pool first
    assert [r.status for r in handed] == ["REDEEMED", "REDEEMED", "UNREDEEMED"]
    coupons = av("getusercoupons", {"UserIdInstore": RAVI})[1]["coupons"]
    assert [c["couponCode"] for c in coupons] == ["WEL-B1", "WEL-A1"]  # newest first
    assert coupons[1]["couponValue"] == "50.00" and coupons[1]["couponUnit"] == "INR"
    # stock arrives: the review job hands the waiting reward its coupon
    from wallets.earning import rewards_review_release

    Coupon.objects.create(org_id=O2, pool=high, code="WEL-B2")
    assert rewards_review_release()["coupons"] == 1
    assert EarnedReward.objects.get(pk=handed[2].pk).coupon.code == "WEL-B2"


# --- getuserbalance --------------------------------------------------------------------------------


@pytest.mark.usefixtures("balance_path")
def test_the_balance_before_and_after_a_redemption(av, client):
    before = av("getuserbalance", {"UserIdInstore": ASHA})[1]["userBalance"]
    assert (before["total"], before["claimed"], before["pending"], before["underReview"]) == (
        "25.00",
        "0.00",
        "25.00",
        "0.00",
    )
    client.post(
        "/v2_0/redeemrewards",
        data=json.dumps({**KEYS, "UserIdInstore": ASHA, "amount": "12.50"}),
        content_type="application/json",
    )
    after = av("getuserbalance", {"UserIdInstore": ASHA})[1]["userBalance"]
    assert (after["total"], after["claimed"], after["pending"]) == ("25.00", "12.50", "12.50")
    [hack] = after["growthHacks"]
    assert hack["ghName"] == "Word_of_Mouth" and [c["campaignId"] for c in hack["campaigns"]] == ["refer-a-friend"]
    assert hack["campaigns"][0]["rewardUnit"] == "INR"


@pytest.mark.usefixtures("balance_path")
def test_the_balance_counts_review_statuses_apart_and_rejected_nowhere(av):
    av("registerconversionevent", {"UserIdInstore": RAVI, "eventName": "Transaction", "transactionValue": "100"})
    balance = av("getuserbalance", {"UserIdInstore": RAVI})[1]["userBalance"]
    # ravi: rd-1003 (refer-a-friend, 20.00) approved; gold-only reward (ravi not GOLD: not pending); 2.00 under review
    loyalty = next(h for h in balance["growthHacks"] if h["ghName"] == "Loyalty_Program")
    assert loyalty["underReview"] == "2.00"
    EarnedReward.objects.filter(campaign__code="shop-cashback").update(review_status="REJECTED")
    rejected = av("getuserbalance", {"UserIdInstore": RAVI, "growthHack": "Loyalty_Program"})[1]["userBalance"]
    assert [c["campaignId"] for h in rejected["growthHacks"] for c in h["campaigns"]] == ["gold-only"]
    gold = rejected["growthHacks"][0]["campaigns"][0]
    assert gold["pending"] == "0.00" and gold["total"] != "0.00"  # not eligible: counts in total only


@pytest.mark.usefixtures("balance_path")
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"UserIdInstore": ASHA, "campaignId": "nope"}, (200, 0)),
        ({"UserIdInstore": ASHA, "growthHack": "Viral"}, (200, 3)),
        ({"userkey": "00000000-0000-4000-8000-000000000000"}, (200, 2)),
        ({"EmailId": "nobody@example.com"}, (200, 5)),
        ({}, (400, 102)),
        ({"UserIdInstore": ASHA, "campaignId": ["x"]}, (400, 102)),
    ],
)
def test_getuserbalance_status_codes(av, body, expected):
    assert codes(av("getuserbalance", body)) == expected


# --- getusercoupons and getcouponpools --------------------------------------------------------------


def test_user_coupons_leave_out_expired_and_used_ones(av, client):
    pool = CouponPool.objects.get(pk=531)
    pool.details, pool.image, pool.value, pool.unit = "One free coffee", "https://img.example.com/c.png", "3.50", "EUR"
    pool.save()
    body = {**KEYS, "UserIdInstore": ASHA, "poolId": 531}
    assert (
        client.post("/v2_0/redeemrewards", data=json.dumps(body), content_type="application/json").json()["statuscode"]
        == 1
    )
    [held] = Coupon.objects.filter(holder__external_id=ASHA, pool_id=531)
    coupons = av("getusercoupons", {"UserIdInstore": ASHA})[1]["coupons"]
    assert coupons == [
        {
            "couponCode": held.code,
            "couponExpiry": None,
            "couponValue": "3.50",
            "couponUnit": "EUR",
            "campaignID": "loyalty-coffee",
            "campaignName": "",
            "name": "Free coffee",
            "details": "One free coffee",
            "image": "https://img.example.com/c.png",
        }
    ]
    expiry = timezone.now() + timedelta(days=3)
    Coupon.objects.filter(pk=held.pk).update(expires_at=expiry)
    assert av("getusercoupons", {"UserIdInstore": ASHA})[1]["coupons"][0]["couponExpiry"] == expiry.strftime("%d-%b-%Y")
    Coupon.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert av("getusercoupons", {"UserIdInstore": ASHA})[1]["coupons"] == []
    Coupon.objects.filter(pk=held.pk).update(
        expires_at=None, status="REDEEMED", redeemed_at=timezone.now(), redeemed_transaction_number="till-1"
    )
    assert av("getusercoupons", {"UserIdInstore": ASHA})[1]["coupons"] == []  # used at a till


@pytest.mark.parametrize("body", [{"userkey": "00000000-0000-4000-8000-000000000000"}, {"UserIdInstore": "nobody"}, {}])
def test_getusercoupons_and_getfriendslist_status_codes(av, body):
    expected = (200, 2) if "userkey" in body else (200, 5) if body else (400, 102)
    assert codes(av("getusercoupons", body)) == expected
    assert codes(av("getfriendslist", body)) == expected
    assert codes(av("getcouponpools", body)) == expected


def test_coupon_pools_lists_user_will_choose_pools_with_their_stock(av):
    body = av("getcouponpools", {"UserIdInstore": ASHA})[1]
    assert body["campaigns"] == [
        {
            "campaignId": "loyalty-coffee",
            "campaignName": "",
            "growthhack": "Loyalty_Program",
            "pools": [
                {
                    "poolId": 531,
                    "name": "Free coffee",
                    "details": "",
                    "image": "",
                    "value": None,
                    "unit": "",
                    "available": 1000,
                }
            ],
        }
    ]
    Coupon.objects.filter(pool_id=531, pk__in=Coupon.objects.filter(pool_id=531).values("pk")[:10]).update(
        status="VOID"
    )
    assert (
        av("getcouponpools", {"UserIdInstore": ASHA, "campaignId": "loyalty-coffee"})[1]["campaigns"][0]["pools"][0][
            "available"
        ]
        == 990
    )
    assert av("getcouponpools", {"UserIdInstore": ASHA, "campaignid": "refer-a-friend"})[1]["campaigns"] == []
    assert codes(av("getcouponpools", {"UserIdInstore": ASHA, "campaignid": "nope"})) == (200, 0)
    assert codes(av("getcouponpools", {"UserIdInstore": RAVI, "campaignid": "gold-only"})) == (200, 69)


# --- checkrewardstatus and changerewardstatus -------------------------------------------------------


def test_check_reward_status(av):
    http, body = av("checkrewardstatus", {"rewarddtlid": "rd-1001"})
    assert (http, body["statuscode"], body["reward_status"], body["amount"], body["campaignId"], body["userkey"]) == (
        200, 1, "Approved", "10.00", "refer-a-friend", ASHA_KEY,
    )  # fmt: skip
    assert codes(av("checkrewardstatus", {"rewarddtlid": "rd-nope"})) == (200, 11)
    assert codes(av("checkrewardstatus", {})) == (400, 102)
    assert codes(av("checkrewardstatus", {"rewarddtlid": {"a": 1}})) == (400, 102)


def test_change_reward_status_all_or_nothing_with_history_and_events(av, client):
    av("registerconversionevent", {"UserIdInstore": RAVI, "eventName": "Transaction", "transactionValue": "100"})
    review = EarnedReward.objects.get(campaign__code="shop-cashback").code
    events = OutboxEvent.objects.filter(kind="reward_status").count()
    http, body = av(
        "changerewardstatus",
        {
            "rewardslist": [
                {"rewarddtlid": review, "reward_status": "approved", "comment": "checked"},
                {"rewarddtlid": "rd-1002", "reward_status": "Under Review"},
            ]
        },
    )
    assert (http, body["statuscode"]) == (200, 1)
    assert body["rewardslist"] == [
        {"rewarddtlid": review, "reward_status": "Approved"},
        {"rewarddtlid": "rd-1002", "reward_status": "UnderReview"},
    ]
    reward = EarnedReward.objects.get(code=review)
    assert (reward.review_status, reward.review_comment, reward.reviewed_by) == (
        "APPROVED",
        "checked",
        f"AppVirality app {O2}",
    )
    assert reward.history.first().history_change_reason == f"AppVirality app {O2}"
    assert OutboxEvent.objects.filter(kind="reward_status").count() == events + 2
    # under review again: Redeem Rewards does not see it (0), and the balance counts it apart
    redeem = {**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1002"]}
    assert (
        client.post("/v2_0/redeemrewards", data=json.dumps(redeem), content_type="application/json").json()[
            "statuscode"
        ]
        == 0
    )
    assert av("getuserbalance", {"UserIdInstore": ASHA})[1]["userBalance"]["underReview"] == "15.00"


def test_change_reward_status_answers_11_before_57_and_changes_nothing(av, client):
    redeem = {**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"]}
    client.post("/v2_0/redeemrewards", data=json.dumps(redeem), content_type="application/json")
    both = [
        {"rewarddtlid": "rd-1001", "reward_status": "Rejected"},
        {"rewarddtlid": "nope", "reward_status": "Rejected"},
    ]
    assert codes(av("changerewardstatus", {"rewardslist": both})) == (200, 11)
    with_open = [
        {"rewarddtlid": "rd-1002", "reward_status": "Rejected"},
        {"rewarddtlid": "rd-1001", "reward_status": "Rejected"},
    ]
    assert codes(av("changerewardstatus", {"rewardslist": with_open})) == (200, 57)
    assert EarnedReward.objects.get(code="rd-1002").review_status == "APPROVED"
    assert av("checkrewardstatus", {"rewarddtlid": "rd-1001"})[1]["reward_status"] == "Rewarded"


def test_a_partly_redeemed_reward_stays_approved_and_cannot_change(av, client):
    redeem = {**KEYS, "UserIdInstore": ASHA, "amount": "4.00"}
    client.post("/v2_0/redeemrewards", data=json.dumps(redeem), content_type="application/json")
    assert av("checkrewardstatus", {"rewarddtlid": "rd-1001"})[1]["reward_status"] == "Approved"
    assert codes(
        av("changerewardstatus", {"rewardslist": [{"rewarddtlid": "rd-1001", "reward_status": "Rejected"}]})
    ) == (200, 57)


@pytest.mark.parametrize(
    "rewardslist",
    [
        [],
        [{"rewarddtlid": "rd-1001", "reward_status": "Rewarded"}],
        [{"rewarddtlid": "rd-1001", "reward_status": "Paid"}],
        [{"rewarddtlid": "rd-1001", "reward_status": 1}],
        [
            {"rewarddtlid": "rd-1001", "reward_status": "Rejected"},
            {"rewarddtlid": "rd-1001", "reward_status": "Approved"},
        ],
        [{"rewarddtlid": f"rd-{i}", "reward_status": "Approved"} for i in range(101)],
        "rd-1001",
        [["rd-1001", "Approved"]],
    ],
)
def test_change_reward_status_answers_102_for_a_bad_list(av, rewardslist):
    assert codes(av("changerewardstatus", {"rewardslist": rewardslist})) == (400, 102)
    assert EarnedReward.objects.get(code="rd-1001").review_status == "APPROVED"


# --- getfriendslist ----------------------------------------------------------------------------------


def test_the_friends_list_is_paged_oldest_first(av):
    for n in range(3):
        signup(av, f"friend-{n}", EmailId=f"f{n}@example.com", name=f"Friend {n}")
    page = av("getfriendslist", {"UserIdInstore": ASHA, "pageIndex": 1, "pageSize": 2})[1]
    assert page["totalCount"] == 4 and [f["UserIdInstore"] for f in page["friends"]] == [MEENA, "friend-0"]
    second = av("getfriendslist", {"EmailId": "asha@example.com", "pageIndex": "2", "pageSize": "2"})[1]
    assert [f["UserIdInstore"] for f in second["friends"]] == ["friend-1", "friend-2"]
    friend = second["friends"][0]
    assert (friend["emailId"], friend["name"]) == ("f1@example.com", "Friend 1")
    assert timezone.datetime.strptime(friend["regDate"], "%d-%b-%Y %H:%M:%S")
    assert (
        av("getfriendslist", {"UserIdInstore": ASHA, "pageIndex": 9})[1] | {"friends": []}
        == av("getfriendslist", {"UserIdInstore": ASHA, "pageIndex": 9})[1]
    )


@pytest.mark.parametrize(
    "paging", [{"pageSize": 0}, {"pageSize": 101}, {"pageIndex": 0}, {"pageIndex": "x"}, {"pageSize": True}]
)
def test_the_friends_list_answers_102_for_bad_paging(av, paging):
    assert codes(av("getfriendslist", {"UserIdInstore": ASHA, **paging})) == (400, 102)
