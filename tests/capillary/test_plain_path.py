"""The plain views of Capillary's hot calls (``capillary/plain.py``: Issue Reward's POST, points
isredeemable, redeem and reverse, coupon isredeemable and redeem) answer byte for byte what their
DRF views answer: status, body and the headers a client reads, for every way authentication fails
or succeeds (Basic md5 or plain, OAuth in either header, ``username``, data scopes, the gateway
prefix), every kind of bad input, and the methods the DRF views answer alone (405 with ``Allow``)."""

import base64
import json
import re

import pytest
from django.urls import resolve

from capillary.auth import oauth_token_generate
from tests.catalogue.conftest import ASHA, O2, TRAVEL, basic

pytestmark = pytest.mark.django_db

DRF_URLCONF = "tests.capillary.drf_urls"
HEADERS = ("Content-Type", "WWW-Authenticate", "Retry-After")
ISSUE = "/v1.1/user/rewards/issue/"
ISSUE_ROUTES = (ISSUE, "/v1.1/user/rewards/issue", "/api_gateway/rewards/core/v1.1/user/rewards/issue/")
REDEEM = {
    "root": {"redeem": [{"points_redeemed": "30", "transaction_number": "t-1", "customer": {"external_id": "x"}}]}
}
COUPON = {"root": {"coupon": [{"code": "NOPE", "customer": {"external_id": ASHA}, "transaction": {"number": "t-1"}}]}}
REVERSE = {"redemptionId": "NOPE", "pointsToBeReversed": "1", "identifier": {"type": "externalId", "value": ASHA}}
# route -> (method, query beyond username, a well-formed body that writes nothing)
CALLS = {
    **{
        route: ("post", "skip_validation=true", {"externalId": ASHA, "rewards": [{"rewardId": 999999}]})
        for route in ISSUE_ROUTES
    },
    "/v1.1/points/isredeemable": ("get", f"external_id={ASHA}&points=1&skip_validation=true", None),
    "/v1.1/points/isredeemable/": ("get", "mobile=919900000001&points=99999", None),
    "/v1.1/points/redeem": ("post", "skip_validation=true", REDEEM),
    "/v1.1/points/redeem/": ("post", "", REDEEM),
    "/v2/points/reverse": ("post", "", REVERSE),
    "/v1.1/coupon/isredeemable": ("get", f"code=NOPE&external_id={ASHA}&details=extended", None),
    "/v1.1/coupon/redeem": ("post", "", COUPON),
}


def oauth() -> str:
    return oauth_token_generate(key="demo-o2-oauth-key", secret="demo-o2-oauth-secret")


def answer_of(response) -> tuple:
    return response.status_code, response.content, {name: response.get(name) for name in HEADERS}


def both(client, settings, method, url, *, raw=None, content_type="application/json", extra=None, **headers):
    """The answers of the plain view and of the DRF view to the same request."""

    def send():
        kwargs = {"data": raw, "content_type": content_type} if raw is not None else {}
        return answer_of(client.generic(method.upper(), url, headers=headers, **kwargs, **(extra or {})))

    plain = send()
    urlconf = settings.ROOT_URLCONF
    settings.ROOT_URLCONF = DRF_URLCONF
    try:
        drf = send()
    finally:
        settings.ROOT_URLCONF = urlconf
    return plain, drf


def url(route: str, query: str, username: str | None = "o2.till") -> str:
    parts = [f"username={username}"] if username is not None else []
    return route + "?" + "&".join(parts + ([query] if query else []))


def raw_body(body) -> bytes | None:
    return json.dumps(body).encode() if body is not None else None


@pytest.fixture
def demo_calls(demo, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0


def test_the_hot_calls_are_served_by_plain_views_and_the_comparison_by_drf_views(demo_calls, settings):
    for route in CALLS:
        assert hasattr(resolve(route).func, "drf_view"), route
    settings.ROOT_URLCONF = DRF_URLCONF
    for route in CALLS:
        assert not hasattr(resolve(route).func, "drf_view"), route


def _auth_cases() -> dict:
    no_colon = "Basic " + base64.b64encode(b"o2.till").decode()
    return {
        "no credentials": ({}, "o2.till"),
        "Basic md5": ({"Authorization": basic()}, "o2.till"),
        "Basic plain password": ({"Authorization": basic(md5=False)}, "o2.till"),
        "Basic not base64": ({"Authorization": "Basic !!!"}, "o2.till"),
        "Basic without a colon": ({"Authorization": no_colon}, "o2.till"),
        "Basic wrong password": ({"Authorization": basic(password="wrong")}, "o2.till"),
        "Basic unknown till": ({"Authorization": basic("no.such.till")}, "no.such.till"),
        "another scheme": ({"Authorization": "Bearer abc"}, "o2.till"),
        "no username": ({"Authorization": basic()}, None),
        "username of another till": ({"Authorization": basic()}, "o2travel.till"),
        "username with a NUL": ({"Authorization": basic()}, "o2.till%00"),
        "OAuth header": ({"X-CAP-API-OAUTH-TOKEN": "<token>"}, "o2.till"),
        "CAP-API-ACCESS-TOKEN": ({"CAP-API-ACCESS-TOKEN": "<token>"}, "o2.till"),
        "OAuth, a till of another org": ({"X-CAP-API-OAUTH-TOKEN": "<token>"}, "o2travel.till"),
        "OAuth, no username": ({"X-CAP-API-OAUTH-TOKEN": "<token>"}, None),
        "OAuth garbage": ({"X-CAP-API-OAUTH-TOKEN": "garbage"}, "o2.till"),
        "CAP-API-ACCESS-TOKEN garbage": ({"CAP-API-ACCESS-TOKEN": "garbage"}, "o2.till"),
        "Basic wins over OAuth": (
            {"Authorization": basic(password="wrong"), "X-CAP-API-OAUTH-TOKEN": "<token>"},
            "o2.till",
        ),
        "scope bogus": ({"Authorization": basic(), "DATA-SCOPE": "BOGUS"}, "o2.till"),
        "scope OTHER, no org": ({"Authorization": basic(), "DATA-SCOPE": "OTHER"}, "o2.till"),
        "scope OTHER, connected": (
            {"Authorization": basic(), "DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": str(TRAVEL)},
            "o2.till",
        ),
        "scope OTHER, two orgs": (
            {"Authorization": basic(), "DATA-SCOPE": "other", "DATA-SCOPE-ORGS": f"{O2}, {TRAVEL}"},
            "o2.till",
        ),
        "scope OTHER, not connected": (
            {"Authorization": basic(), "DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": "999"},
            "o2.till",
        ),
        "scope OTHER, not ids": ({"Authorization": basic(), "DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": "1,x"}, "o2.till"),
        "scope SELF": ({"Authorization": basic(), "DATA-SCOPE": " self "}, "o2.till"),
    }


AUTH_CASES = _auth_cases()


@pytest.mark.parametrize("case", list(AUTH_CASES))
@pytest.mark.parametrize("route", list(CALLS))
def test_every_authentication_answers_as_the_drf_view(demo_calls, client, settings, route, case):
    headers, username = AUTH_CASES[case]
    if "<token>" in headers.values():
        token = oauth()
        headers = {name: token if value == "<token>" else value for name, value in headers.items()}
    method, query, body = CALLS[route]
    plain, drf = both(client, settings, method, url(route, query, username), raw=raw_body(body), **headers)
    assert plain == drf


@pytest.mark.parametrize("route", list(CALLS))
def test_a_throttled_till_answers_as_the_drf_view(demo_calls, client, settings, route):
    settings.TILL_AUTH_FAILURES_PER_TILL = "1/h"
    method, query, body = CALLS[route]
    wrong = basic(password="wrong")
    for _ in range(3):
        client.generic(method.upper(), url(route, query), headers={"Authorization": wrong})
    plain, drf = both(client, settings, method, url(route, query), raw=raw_body(body), Authorization=wrong)
    assert plain[0] == 429

    def seconds_left_out(answer):  # the seconds to wait may tick between the two calls
        status, content, headers = answer
        return status, re.sub(rb"retry in \d+ s", b"retry in N s", content), {**headers, "Retry-After": None}

    assert seconds_left_out(plain) == seconds_left_out(drf)
    assert (plain[2]["Retry-After"] is None) == (drf[2]["Retry-After"] is None)


DEEP = b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}"
BODY_CASES = {
    "not JSON": (b"{", "application/json"),
    "a list": (b"[]", "application/json"),
    "null": (b"null", "application/json"),
    "a string": (b'"x"', "application/json"),
    "empty": (b"", "application/json"),
    "empty form": (b"", "application/x-www-form-urlencoded"),
    "a form": (b"a=1", "application/x-www-form-urlencoded"),
    "text": (b"{}", "text/plain"),
    "no Content-Type": (b"{}", ""),
    "JSON with a charset": (b"{}", "application/json; charset=utf-8"),
    "nested too deeply": (DEEP, "application/json"),
    "a NUL": (b'{"root": "\\u0000"}', "application/json"),
    "a lone surrogate": (b'{"root": "\\ud800"}', "application/json"),
    "a long number": (b'{"root": ' + b"1" * 50 + b"}", "application/json"),
    "NaN": (b'{"root": NaN}', "application/json"),
    "not UTF-8": (b'{"root": "\xff"}', "application/json"),
    "UTF-16": ('{"root": {}}'.encode("utf-16"), "application/json"),
    "too large": (b'{"x": "' + b"x" * (2 * 1024 * 1024) + b'"}', "application/json"),
}
POST_ROUTES = [route for route, (method, _, _) in CALLS.items() if method == "post"]


@pytest.mark.parametrize("case", list(BODY_CASES))
@pytest.mark.parametrize("route", POST_ROUTES)
def test_every_kind_of_bad_body_answers_as_the_drf_view(demo_calls, client, settings, route, case):
    raw, content_type = BODY_CASES[case]
    _, query, _ = CALLS[route]
    plain, drf = both(
        client, settings, "post", url(route, query), raw=raw, content_type=content_type, Authorization=basic()
    )
    assert plain == drf


def _item(key: str, **fields) -> dict:
    return {"root": {key: [{"transaction_number": "t-1", "customer": {"external_id": ASHA}, **fields}]}}


BAD_INPUT = {
    "/v1.1/points/redeem": [
        {"root": []},
        {"root": {"redeem": []}},
        {"root": {"redeem": [{}, {}]}},
        {"root": {"redeem": ["x"]}},
        {"redeem": {"points_redeemed": "1", "customer": {"external_id": ASHA}, "transaction_number": "solo"}},
        _item("redeem", points_redeemed="1", customer="x"),
        _item("redeem", points_redeemed="abc"),
        _item("redeem", points_redeemed="1.001"),
        _item("redeem", points_redeemed=True),
        _item("redeem", points_redeemed="999999"),
        _item("redeem", points_redeemed="1", transaction_number="x" * 300),
        _item("redeem", points_redeemed="1", transaction_number=["x"]),
        _item("redeem", points_redeemed="1", user_group2_id="abc"),
        _item("redeem", points_redeemed="1", group_redemption=True),
        _item("redeem", points_redeemed="1", user_group2_id="4242"),
        _item("redeem", points_redeemed="1", validation_code="000000"),
        _item("redeem", points_redeemed="1", customer={"mobile": 919900000002}),
        _item("redeem", points_redeemed="1", customer={"email": "Nobody@Example.com"}),
    ],
    "/v1.1/coupon/redeem": [
        {"root": {"coupon": {"code": "NOPE", "customer": {"external_id": ASHA}}}},
        {"root": {"coupon": [{"code": "NOPE", "customer": {"external_id": ASHA}, "transaction": "t"}]}},
        {"root": {"coupon": [{"code": "NOPE", "customer": {"external_id": ASHA}, "transaction": {}}]}},
        {"root": {"coupon": [{"code": "NOPE", "transaction": {"number": "t", "amount": "-1"}}]}},
        {"root": {"coupon": [{"code": "", "customer": {"external_id": ASHA}, "transaction": {"number": "t"}}]}},
        {"root": {"coupon": [{"code": "NOPE", "customer": {"external_id": "nobody"}, "transaction": {"number": "t"}}]}},
        {"root": {"coupon": [{"code": "x" * 65, "customer": {"external_id": ASHA}, "transaction": {"number": "t"}}]}},
    ],
    "/v2/points/reverse": [
        {"identifier": "x"},
        {"identifier": {"type": "phone", "value": "1"}},
        {"redemptionId": "NOPE", "pointsToBeReversed": "0", "identifier": {"type": "mobile", "value": "1"}},
        {"pointsToBeReversed": "1", "identifier": {"type": "externalId", "value": ASHA}},
        {"redemptionId": "NOPE", "pointsToBeReversed": "1", "identifier": {"type": "email", "value": "no@x.com"}},
    ],
    ISSUE: [
        {},
        {"externalId": ASHA},
        {"externalId": ASHA, "rewards": []},
        {"externalId": ASHA, "rewards": [{"rewardId": "abc"}]},
        {"externalId": ASHA, "rewards": [{"rewardId": 353, "quantity": 0}]},
        {"rewards": [{"rewardId": 353}]},
        {"externalId": "nobody", "rewards": [{"rewardId": 353}]},
        {"externalId": ASHA, "rewards": [{"rewardId": 353, "orgId": 999}]},
        {"externalId": ASHA, "userGroup2Id": 1, "user_group2_id": 2, "rewards": [{"rewardId": 353}]},
    ],
}


@pytest.mark.parametrize("route, n", [(route, n) for route, bodies in BAD_INPUT.items() for n in range(len(bodies))])
def test_every_kind_of_bad_input_answers_as_the_drf_view(demo_calls, client, settings, route, n):
    _, query, _ = CALLS[route]
    raw = raw_body(BAD_INPUT[route][n])
    plain, drf = both(client, settings, "post", url(route, query), raw=raw, Authorization=basic())
    assert plain == drf


BAD_QUERIES = {
    "/v1.1/points/isredeemable": [
        "points=abc",
        "points=",
        "",
        f"external_id={ASHA}&points=1",
        f"external_id={ASHA}&points=1&format=xml",
        f"external_id={ASHA}&points=1&format=JSON",
        f"external_id={ASHA}&points=1%00",
        f"external_id={'x' * 2001}",
        f"external_id={ASHA}&points=1&user_group2_id=x",
        f"external_id={ASHA}&points=1&group_redemption=true",
        "email=NOBODY@example.com&points=1",
        f"external_id={ASHA}&points=1&validation_code=1",
    ],
    "/v1.1/coupon/isredeemable": [
        "code=NOPE",
        f"external_id={ASHA}",
        f"code={'x' * 65}&external_id={ASHA}",
        "code=NOPE&mobile=1&format=xml",
    ],
}


@pytest.mark.parametrize(
    "route, n", [(route, n) for route, queries in BAD_QUERIES.items() for n in range(len(queries))]
)
def test_every_kind_of_bad_query_answers_as_the_drf_view(demo_calls, client, settings, route, n):
    plain, drf = both(client, settings, "get", url(route, BAD_QUERIES[route][n]), Authorization=basic())
    assert plain == drf


@pytest.mark.parametrize("method", ["put", "patch", "delete", "head", "options", "get", "post"])
@pytest.mark.parametrize("route", list(CALLS))
def test_the_other_methods_are_the_drf_views_with_allow(demo_calls, client, settings, route, method):
    own, query, _ = CALLS[route]
    if method == own:
        return
    plain, drf = both(client, settings, method, url(route, query), Authorization=basic())
    assert plain == drf

    def allow():
        return client.generic(method.upper(), url(route, query), headers={"Authorization": basic()}).get("Allow")

    if plain[0] == 405:
        assert allow() is not None


def test_a_redemption_and_its_replays_answer_the_same_on_both_paths(demo_calls, client, settings):
    body = raw_body(_item("redeem", points_redeemed="5", transaction_number="replayed"))
    first = answer_of(
        client.post(url("/v1.1/points/redeem", "skip_validation=true"), body, content_type="application/json",
                    headers={"Authorization": basic()})
    )  # fmt: skip
    assert first[0] == 200, first
    plain, drf = both(client, settings, "post", url("/v1.1/points/redeem", "skip_validation=true"), raw=body,
                      Authorization=basic())  # fmt: skip
    assert plain == drf == first


def test_a_coupon_redemption_and_its_replays_answer_the_same_on_both_paths(demo_calls, client, settings, issue):
    from tests.capillary.conftest import issue_coupon

    _, code = issue_coupon(issue)
    body = raw_body(
        {"root": {"coupon": [{"code": code, "customer": {"external_id": ASHA}, "transaction": {"number": "t-9"}}]}}
    )
    first = answer_of(client.post(url("/v1.1/coupon/redeem", ""), body, content_type="application/json",
                                  headers={"Authorization": basic()}))  # fmt: skip
    assert first[0] == 200, first
    plain, drf = both(client, settings, "post", url("/v1.1/coupon/redeem", ""), raw=body, Authorization=basic())
    assert plain == drf == first
    isredeemable = url("/v1.1/coupon/isredeemable", f"code={code}&external_id={ASHA}&details=extended")
    plain, drf = both(client, settings, "get", isredeemable, Authorization=basic())
    assert plain == drf


def test_an_issue_and_its_replay_answer_the_same_on_both_paths(demo_calls, client, settings):
    body = raw_body({"externalId": ASHA, "rewards": [{"rewardId": 353, "requestId": "replayed"}]})
    route = url(ISSUE, "skip_validation=true")
    first = answer_of(client.post(route, body, content_type="application/json", headers={"Authorization": basic()}))
    assert first[0] == 200, first
    plain, drf = both(client, settings, "post", route, raw=body, Authorization=basic())
    assert plain == drf == first
