"""Bad input to the AppVirality companion calls: 102 (or the contract's code), never a 5xx, nothing changed."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgs.models import Customer, OutboxEvent
from wallets.models import ConversionEvent, EarnedReward

from .conftest import ASHA

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


def state() -> tuple:
    rewards = tuple(EarnedReward.objects.order_by("pk").values_list("pk", "status", "review_status", "redeemed_amount"))
    customers = tuple(Customer.objects.order_by("pk").values_list("pk", "external_id", "email", "name", "referrer_id"))
    return rewards, customers, ConversionEvent.objects.count(), OutboxEvent.objects.count()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


BAD_BODIES = [
    # wrong types
    {"UserIdInstore": ASHA, "eventName": ["Signup"]},
    {"UserIdInstore": ASHA, "eventName": "Signup", "transactionValue": True},
    {"UserIdInstore": ASHA, "eventName": "Signup", "transactionValue": {"v": 1}},
    {"UserIdInstore": ASHA, "eventName": "Signup", "extraInfo": 12},
    {"UserIdInstore": {"a": 1}, "eventName": "Signup"},
    {"UserIdInstore": ASHA, "pageSize": "1e3"},
    {"UserIdInstore": ASHA, "pageIndex": 2**70},
    {"rewardslist": [{"rewarddtlid": "rd-1001", "reward_status": "Approved", "comment": ["x"]}]},
    {"rewardslist": [{"rewarddtlid": "rd-1001", "reward_status": "Cancelled"}]},
    {"rewardslist": {"rewarddtlid": "rd-1001"}},
    {"rewarddtlid": True},
    # huge values
    {"UserIdInstore": ASHA, "eventName": "Transaction", "transactionValue": "9" * 400},
    {"UserIdInstore": ASHA, "eventName": "Transaction", "transactionValue": 10**30},
    {"UserIdInstore": ASHA, "eventName": "Transaction", "transactionValue": "1e999999"},
    {"UserIdInstore": ASHA, "eventName": "Transaction", "transactionValue": "NaN"},
    {"UserIdInstore": ASHA, "eventName": "Signup", "extraInfo": "x" * 1_000_000},
    {"UserIdInstore": ASHA, "eventName": "Signup", "extraInfo": "x" * 1001},
    {"UserIdInstore": ASHA, "eventName": "Signup", "tskey": "t" * 101},
    {"UserIdInstore": "u" * 100_000, "eventName": "Signup"},
    {"UserIdInstore": ASHA, "name": "n" * 5000, "referrercode": "c" * 5000},
    {"rewarddtlid": "r" * 101},
]


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("body", BAD_BODIES, ids=lambda body: json.dumps(body)[:40])
def test_bad_fields_answer_102_or_a_contract_code_and_change_nothing(av, verb, body):
    before = state()
    http, answer = av(verb, body)
    assert http < 500 and (http in (400, 413)) == (answer["statuscode"] == 102)
    assert state() == before  # a field the verb does not read may be bad too: then it answers as without it


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize(
    "raw",
    [
        nested(100_000).encode(),
        ('{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey", "x": ' + nested(50_000) + "}").encode(),
        b'{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey", "UserIdInstore": "\\u0000"}',
        b"\xff\xfe{}",
        b'{"apikey": NaN}',
        b"",
    ],
    ids=["deep", "deep-field", "nul", "encoding", "nan", "empty"],
)
def test_unreadable_bodies_answer_102(av, verb, raw):
    before = state()
    http, answer = av(verb, raw=raw)
    assert (http, answer["statuscode"]) == (400, 102)
    assert state() == before


def test_a_one_megabyte_extra_info_answers_102(av):
    # over the request reader's body limit: 102 with HTTP 413; within it but over 1,000 characters: 102 with 400
    http, answer = av(
        "registerconversionevent", {"UserIdInstore": ASHA, "eventName": "Signup", "extraInfo": "é" * 1_000_000}
    )
    assert (http, answer["statuscode"]) == (413, 102)
    http, answer = av(
        "registerconversionevent", {"UserIdInstore": ASHA, "eventName": "Signup", "extraInfo": "x" * 20_000}
    )
    assert (http, answer["statuscode"]) == (400, 102)
    assert not ConversionEvent.objects.exists()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["UserIdInstore", "EmailId", "userkey", "eventName", "transactionValue", "tskey", "extraInfo", "campaignId",
     "growthHack", "rewardslist", "rewarddtlid", "pageIndex", "pageSize", "referrercode", "name", "mobile"]
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(verb=st.sampled_from(VERBS), fields=st.dictionaries(FIELDS, json_values, max_size=6))
def test_no_body_produces_a_5xx(av, verb, fields):
    http, answer = av(verb, fields)
    assert http < 500 and isinstance(answer["statuscode"], int)
    assert (http in (400, 413)) == (answer["statuscode"] == 102)
