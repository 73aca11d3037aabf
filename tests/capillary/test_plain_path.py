"""Issue Reward's plain request path (``capillary/plain.py``) answers as the DRF view would.

1. ``simple_issue_input`` gives exactly what ``IssueInputSerializer`` gives, on generated bodies
   around the common shape (valid and not): where it decides, the serializer agrees; where the
   serializer refuses, it does not decide (it returns None and the serializer answers).
2. The same call answered by both paths (``format=json`` sends it through DRF) gets the same
   status, body and headers, for answers and refusals alike.
"""

import json
import re

import pytest
from django.urls import resolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capillary.apis import IssueInputSerializer
from capillary.plain import simple_issue_input
from tests.catalogue.conftest import ASHA, ISSUE_URL, TILL, basic

TEXT_FIELDS = ("mobile", "email", "externalId", "transactionNumber", "notes", "eventLogId", "brand", "validationCode")
VALID_TEXT = st.text(alphabet="ab1 ", min_size=1, max_size=6)
# What may replace one value of a valid body: each kind of edge (lengths at and over each limit,
# other JSON types, ids and quantities out of range), and keys of the other shapes.
EDGES = st.sampled_from(
    ["", " ", "x" * 20, "x" * 21, "y" * 150, "y" * 151, "z" * 200, "z" * 201, "z" * 254, "z" * 255, "z" * 256]
    + ["w" * 64, "w" * 65, "n" * 1000, "n" * 1001, None, True, False, 0, -1, 1, 2, 1.0, 1.5, "7", "x", [], {}]
    + [10_000, 10_001, 2**63 - 1, 2**63, 2**64, "9" * 19]
)
OTHER_KEYS = st.sampled_from(
    ["orgId", "params", "paymentConfig", "customFields", "userGroup2Id", "orgLevelDetails", "x"]
)
REWARD = st.fixed_dictionaries(
    {"rewardId": st.integers(1, 1000)},
    optional={"quantity": st.integers(1, 5), "requestId": VALID_TEXT, "orgId": st.integers(1, 1000)},
)


@st.composite
def bodies(draw):
    """A valid body, then at most two of its values replaced by an edge or a key of another shape added."""
    body = draw(st.fixed_dictionaries({}, optional={name: VALID_TEXT for name in TEXT_FIELDS}))
    body.setdefault("externalId", draw(VALID_TEXT))
    rewards = body["rewards"] = draw(st.lists(REWARD, min_size=1, max_size=3))
    for _ in range(draw(st.integers(0, 2))):
        target = body if draw(st.booleans()) else draw(st.sampled_from(rewards))
        key = draw(st.sampled_from(sorted(target)) | OTHER_KEYS)
        target[key] = draw(EDGES)
    return body


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies())
def test_the_common_shape_is_read_as_the_serializer_reads_it(body):
    fast = simple_issue_input(body)
    serializer = IssueInputSerializer(data=body)
    if serializer.is_valid():
        if fast is not None:
            assert fast == json.loads(json.dumps(serializer.validated_data))
    else:
        assert fast is None, serializer.errors


def _edges():
    """One value replaced in a valid body: each text field at and over its maxLength, each number at
    and over its range, other JSON types, keys of the other shapes."""
    lengths = {"mobile": 20, "email": 254, "externalId": 150, "notes": 1000, "brand": 200, "validationCode": 64}
    for name in TEXT_FIELDS:
        limit = lengths.get(name, 255)
        for value in ("a" * limit, "a" * (limit + 1), "", None, 7, True, ["a"]):
            yield {"externalId": "e", name: value}, None
    for key in ("rewardId", "quantity", "requestId", "orgId", "params", "paymentConfig", "x"):
        for value in (1, 2, 10_000, 10_001, 2**63 - 1, 2**63, 0, -1, True, False, None, 1.0, 1.5, "7", "a" * 256):
            yield {"externalId": "e"}, {key: value}
    for key in ("orgLevelDetails", "userGroup2Id", "user_group2_id", "other"):
        yield {"externalId": "e", key: None}, None


@pytest.mark.parametrize(("top", "reward"), list(_edges()))
def test_each_edge_is_read_as_the_serializer_reads_it(top, reward):
    body = {**top, "rewards": [{"rewardId": 350, **(reward or {})}]}
    test_the_common_shape_is_read_as_the_serializer_reads_it.hypothesis.inner_test(body)


def test_the_common_shape_does_decide():
    """The shape the bench and the seed send is read without the serializer."""
    body = {"externalId": ASHA, "rewards": [{"rewardId": 350, "quantity": 2, "requestId": "r-1"}]}
    assert simple_issue_input(body) == body
    assert simple_issue_input({"mobile": "919999", "rewards": [{"rewardId": 350}]}) == {
        "mobile": "919999",
        "rewards": [{"rewardId": 350, "quantity": 1}],
    }


@pytest.mark.parametrize("path", [ISSUE_URL, ISSUE_URL.rstrip("/"), "/api_gateway/rewards/core" + ISSUE_URL])
def test_every_issue_route_takes_the_plain_path(path):
    view = resolve(path).func
    assert view.__module__ == "core.plain_views"
    assert view.cls.__name__ == "RewardIssueApi"  # what the schema documents


CASES = [
    ("issued", {"externalId": ASHA, "rewards": [{"rewardId": 350}]}, {}),
    ("malformed", '{"externalId": ', {}),
    ("no customer", {"rewards": [{"rewardId": 350}]}, {}),
    ("unknown reward", {"externalId": ASHA, "rewards": [{"rewardId": 999999}]}, {}),
    ("wrong password", {"externalId": ASHA, "rewards": [{"rewardId": 350}]}, {"auth": basic(TILL, "nope")}),
    ("no credentials", {"externalId": ASHA, "rewards": [{"rewardId": 350}]}, {"auth": ""}),
    ("bad scope", {"externalId": ASHA, "rewards": [{"rewardId": 350}]}, {"headers": {"DATA-SCOPE": "ALL"}}),
    ("out of scope", {"externalId": ASHA, "rewards": [{"rewardId": 350}]}, {"headers": {"DATA-SCOPE-ORG": "1"}}),
    ("not a till", {"externalId": ASHA, "rewards": [{"rewardId": 350}]}, {"username": "someone.else"}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "body", "options"), CASES, ids=[case[0] for case in CASES])
def test_both_paths_answer_alike(client, name, body, options):
    def answer(through_drf: bool):
        query = f"?username={options.get('username', TILL)}&skip_validation=true" + (
            "&format=json" if through_drf else ""
        )
        auth = options.get("auth", basic())
        headers = {**({"Authorization": auth} if auth else {}), **options.get("headers", {})}
        payload = body if isinstance(body, str) else json.dumps(body)
        response = client.post(ISSUE_URL + query, payload, content_type="application/json", headers=headers)
        kept = {k: v for k, v in response.items() if k.lower() in ("content-type", "www-authenticate", "retry-after")}
        return response.status_code, _without_ids(response.json()), kept

    plain, drf = answer(False), answer(True)
    assert plain == drf
    assert plain[0] < 500


def _without_ids(body: dict) -> dict:
    """The answer without what differs between two calls that both issue (transaction ids, codes)."""
    text = json.dumps(body, sort_keys=True)
    return json.loads(
        re.sub(r'"(transactionId|pointsReferenceId|issuedOn|createdAt)": ("[^"]*"|[0-9]+)', r'"\1": 0', text)
    )
