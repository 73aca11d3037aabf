"""No input produces a 5xx on the till, catalogue and revoke routes, and a refused call changes
nothing: hypothesis throws bodies and query strings at them; deep nesting and huge strings too."""

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalogue.models import RewardIssue
from coupons.models import Coupon
from tests.catalogue import test_issue_fuzz as issue_fuzz
from tests.catalogue.conftest import ASHA, assert_ledgers_add_up, basic
from wallets.models import LedgerEntry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TEXT = issue_fuzz.TEXT | st.just("x" * 5000)
JSON = issue_fuzz.JSON
maybe = issue_fuzz.maybe


CUSTOMER = maybe(
    st.fixed_dictionaries(
        {},
        optional={
            "mobile": maybe(st.sampled_from(["919900000001", 919900000001, "1"])),
            "email": maybe(st.sampled_from(["asha@example.com", "@"])),
            "external_id": maybe(st.sampled_from([ASHA, "nobody"])),
        },
    )
)
REDEEM_ITEM = maybe(
    st.fixed_dictionaries(
        {},
        optional={
            "points_redeemed": maybe(st.sampled_from(["30", 30, "-1", "0", 1e30, "1.001", "600"])),
            "transaction_number": maybe(st.sampled_from(["t-1", "t-2", ""])),
            "customer": CUSTOMER,
            "validation_code": maybe(st.sampled_from(["123456", ""])),
            "group_redemption": maybe(st.booleans()),
            "user_group2_id": maybe(st.sampled_from([77, 78, 2**64, "77"])),
            "notes": TEXT,
        },
    )
)
REDEEM_LIST = maybe(st.lists(REDEEM_ITEM, max_size=2))
REDEEM_BODY = maybe(st.fixed_dictionaries({"root": maybe(st.fixed_dictionaries({"redeem": REDEEM_LIST}))}))
COUPON_BODY = maybe(
    st.fixed_dictionaries(
        {
            "root": maybe(
                st.fixed_dictionaries(
                    {
                        "coupon": maybe(
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "code": maybe(st.sampled_from(["NOPE", ""])),
                                    "customer": CUSTOMER,
                                    "transaction": maybe(
                                        st.fixed_dictionaries(
                                            {},
                                            optional={"number": TEXT, "amount": maybe(st.sampled_from(["1", -1]))},
                                        )
                                    ),
                                },
                            )
                        )
                    }
                )
            )
        }
    )
)
REVERSE_BODY = maybe(
    st.fixed_dictionaries(
        {},
        optional={
            "redemptionId": TEXT,
            "pointsToBeReversed": maybe(st.sampled_from([1, "1", -1, "x", 1e30])),
            "identifier": maybe(
                st.fixed_dictionaries(
                    {
                        "type": maybe(st.sampled_from(["mobile", "email", "externalId"])),
                        "value": maybe(st.sampled_from([ASHA, "919900000001"])),
                    }
                )  # fmt: skip
            ),
        },
    )
)
CATALOGUE_BODY = maybe(
    st.fixed_dictionaries(
        {},
        optional={
            "txnId": maybe(st.sampled_from([1, -1, 2**64, "1"])),
            "notes": TEXT,
            "transactions": maybe(
                st.lists(
                    maybe(st.fixed_dictionaries({"transactionId": maybe(st.sampled_from([1, 2**64])), "x": JSON})),
                    max_size=3,
                )
            ),
        },
    )
)
POSTS = [
    ("post", "/v1.1/points/redeem", REDEEM_BODY),
    ("post", "/v1.1/coupon/redeem", COUPON_BODY),
    ("post", "/v2/points/reverse", REVERSE_BODY),
    ("post", "/v1/user/reward/revoke", CATALOGUE_BODY),
    ("put", "/v1/management/transactions", CATALOGUE_BODY),
]
QUERY = st.dictionaries(
    st.sampled_from(["points", "code", "mobile", "email", "external_id", "userId", "customerId", "page", "size",
                     "status", "rewardId", "skip_validation", "user_group2_id", "validation_code", "details"]),
    TEXT | st.sampled_from(["30", "0", "-1", "100", "101", "true", ASHA]),
    max_size=5,
)  # fmt: skip
GETS = ["/v1.1/points/isredeemable", "/v1.1/coupon/isredeemable", "/v1.1/user/rewards", "/v1.1/user/rewards/351",
        "/v1.1/reward-transactions", "/v1.1/points/validationcode"]  # fmt: skip


def _books():
    return (
        LedgerEntry.objects.count(),
        list(Coupon.objects.filter(holder__isnull=False).values_list("pk", "status")),
        list(RewardIssue.objects.values_list("pk", "status", "fulfillment_status")),
    )


@pytest.mark.parametrize(("method", "path", "strategy"), POSTS, ids=[p for _, p, _ in POSTS])
def test_no_body_produces_a_5xx(demo, client, method, path, strategy):
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=strategy)
    def check(body):
        before = _books()
        response = getattr(client, method)(
            f"{path}?username=o2.till&skip_validation=true",
            json.dumps(body),
            content_type="application/json",
            headers={"Authorization": basic()},
        )
        assert response.status_code < 500, (body, response.content[:300])
        json.loads(response.content)
        if response.status_code != 200:
            assert _books() == before, body

    check()
    assert_ledgers_add_up()


@pytest.mark.parametrize("path", GETS)
def test_no_query_produces_a_5xx(demo, client, path):
    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
    @given(query=QUERY)
    def check(query):
        before = LedgerEntry.objects.count()
        text = "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in query.items())
        response = client.get(f"{path}?username=o2.till&{text}", headers={"Authorization": basic()})
        assert response.status_code < 500, (query, response.content[:300])
        assert LedgerEntry.objects.count() == before

    check()


WITH_ISSUE = [*POSTS, ("post", "/v1.1/user/rewards/issue/", None)]


@pytest.mark.parametrize(("method", "path", "_"), WITH_ISSUE, ids=[p for _, p, _ in WITH_ISSUE])
@pytest.mark.parametrize(
    "payload",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"root": ' * 5_000 + "1" + "}" * 5_000,
        json.dumps({"root": {"redeem": {"points_redeemed": "1", "notes": "x" * 2_000_000}}}),
        b"\xff\xfe not utf-8",
        '{"root": {"redeem": {"points_redeemed": "1", "customer": {"mobile": "\\u0000"}}}}',
        "",
    ],
    ids=["deep-list", "deep-object", "huge-string", "not-utf8", "nul", "empty"],
)
def test_deep_nesting_huge_strings_and_bad_bytes_get_a_4xx_and_change_nothing(demo, client, method, path, _, payload):
    before = _books()
    response = getattr(client, method)(
        f"{path}?username=o2.till&skip_validation=true",
        payload,
        content_type="application/json",
        headers={"Authorization": basic()},
    )
    assert 400 <= response.status_code < 500, response.content[:300]
    json.loads(response.content)
    assert _books() == before
