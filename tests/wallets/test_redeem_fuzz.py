"""No input produces a 5xx: property-based bodies, wrong types, huge and deeply nested JSON, lone
surrogates, NULs in every encoding JSON allows, huge exponents and long digit strings."""

import json
from decimal import Decimal

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile import ENCODINGS, HOSTILE_VALUES, MB, answered_within_a_second, hostile_bodies
from wallets.models import Wallet

pytestmark = pytest.mark.django_db

URL = "/v2_0/redeemrewards"
KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}
FIELDS = ["userkey", "UserIdInstore", "EmailId", "rewarddtlids", "amount", "poolId", "campaignId", "growthHack"]
PLAUSIBLE = {
    "userkey": st.sampled_from(["2d0f2c8e-7c7e-4a57-9c43-5f3f6b1f0a11", "nope", ""]),
    "UserIdInstore": st.sampled_from(["ext_id98543198", "ext-ravi", "ext-meena", "ghost", ""]),
    "EmailId": st.sampled_from(["asha@example.com", "RAVI@EXAMPLE.COM", "x@y", ""]),
    "rewarddtlids": st.lists(st.sampled_from(["rd-1001", "rd-1002", "rd-1003", "rd-2001", "rd-3001", "zz", 7])),
    "amount": st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False).map(str),
        st.integers(),
        st.sampled_from(["1.00", "0.5", "١", "２", "1_0", " 1", "1e2"]),
    ),
    "poolId": st.one_of(st.sampled_from([531, "531", 234, "999", "1e3"]), st.integers()),
    "campaignId": st.sampled_from(["refer-a-friend", "loyalty-coffee", "gold-only", "nope"]),
    "growthHack": st.sampled_from(["Word_of_Mouth", "referral", "LOYALTY_PROGRAM", "viral"]),
}

# Any text, lone surrogates, NUL and non-ASCII digits included (json.dumps escapes them as \\uXXXX).
nasty_text = st.text(st.characters() | st.characters(categories=["Cs"]) | st.sampled_from("\x00١２_ "), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def random_case(key: str):
    return st.lists(st.booleans(), min_size=len(key), max_size=len(key)).map(
        lambda flips: "".join(c.upper() if f else c.lower() for c, f in zip(key, flips, strict=True))
    )


@st.composite
def bodies(draw):
    body = (
        dict(KEYS)
        if draw(st.booleans())
        else draw(st.dictionaries(st.sampled_from(["apikey", "privatekey"]), json_values))
    )
    for field in draw(st.lists(st.sampled_from(FIELDS), unique=True)):
        value = draw(PLAUSIBLE[field] | json_values)
        body[draw(random_case(field))] = value
    if draw(st.booleans()):
        body[draw(nasty_text)] = draw(json_values)  # an ignored key, which may be a surrogate or hold a NUL
    return body


@pytest.fixture
def post(client, demo, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0

    def send(raw: bytes | str, **headers):
        response = client.post(URL, data=raw, content_type="application/json", headers=headers)
        assert response.status_code < 500, response.content
        body = response.json()
        assert set(body) >= {"success", "statuscode", "message"}
        assert isinstance(body["statuscode"], int)
        return response.status_code, body

    return send


def books_balance():
    for wallet in Wallet.objects.all():
        total = wallet.entries.aggregate(total=Sum("delta"))["total"] or Decimal("0.00")
        assert wallet.balance == total >= 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies(), key=st.none() | st.text(max_size=300), encoding=st.sampled_from(ENCODINGS))
def test_any_body_gets_a_contract_answer(post, body, key, encoding):
    headers = {"Idempotency-Key": key} if key is not None and key.isprintable() and key.isascii() else {}
    http, answer = post(json.dumps(body).encode(encoding), **headers)
    assert (http, answer["success"]) in {(200, True), (200, False), (400, False), (401, False), (409, False)}
    books_balance()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_get_a_contract_answer(post, raw):
    post(raw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=hostile_bodies({**KEYS, "UserIdInstore": "ext-ravi", "amount": "1", "poolId": 531}))
def test_a_hostile_value_anywhere_in_any_encoding_is_102_fast_and_moves_nothing(post, raw):
    with answered_within_a_second():
        http, answer = post(raw)
    assert (http, answer["statuscode"]) == (400, 102), answer
    books_balance()


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        json.dumps({**KEYS, "UserIdInstore": "x" * 3_000_000, "amount": "1"}).encode(),
        json.dumps({**KEYS, "UserIdInstore": "ext-ravi", "rewarddtlids": list(range(100_000))}).encode(),
        json.dumps({**KEYS, "UserIdInstore": "ext-ravi", "amount": "9" * 5000}).encode(),
        b"\xff\xfe\x00garbage",
        json.dumps({**KEYS, "UserIdInstore": "ext-ravi\u0000", "amount": "1"}).encode(),
        *(
            json.dumps({**KEYS, "UserIdInstore": "ext-ravi", "amount": "1", "x": "\x00"}).encode(encoding)
            for encoding in ("utf-16", "utf-32")
        ),
        *(
            (json.dumps({**KEYS, "UserIdInstore": "ext-ravi", "amount": "1"})[:-1] + f', "x": {value}}}').encode()
            for value in HOSTILE_VALUES.values()
        ),
        json.dumps({**KEYS, "UserIdInstore": "ext-ravi", "amount": "1", "x": "y" * MB}).encode(),
    ],
    ids=["deep list", "deep object", "3 MB", "100k ids", "huge number", "not utf-8", "NUL in text"]
    + ["NUL in UTF-16", "NUL in UTF-32", *HOSTILE_VALUES, "just over 1 MB"],
)
def test_extreme_bodies(post, raw):
    with answered_within_a_second():
        http, answer = post(raw)
    assert answer["success"] is False
