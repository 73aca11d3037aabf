"""Schemathesis against the service's own OpenAPI schema: every operation, bounded and
deterministic examples (the schema's own, its coverage cases and generated ones); no answer is a
5xx or takes a second, and every answer is one the schema documents."""

import itertools

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from orgs.models import md5_hex
from tests.hostile import answered_within_a_second

pytestmark = pytest.mark.django_db

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261201,
        "generation": {"max-examples": 15, "deterministic": True, "mode": "all"},
        "phases": {"stateful": {"enabled": False}},
        # The schema cannot say "one of mobile, email, externalId" or "a known reward": a schema-valid
        # body may well be refused (400), and the sandbox partner takes any body. Every other check runs.
        "checks": {"positive_data_acceptance": {"enabled": False}, "negative_data_rejection": {"enabled": False}},
        "auth": {"openapi": {"tillBasic": {"username": "o2.till", "password": md5_hex("o2-till-password")}}},
    }
)
KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}


@pytest.fixture
def in_test_transaction():
    """Calls go through the WSGI handler in this thread: like Django's test client, keep its
    request signals from closing the connection that holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _schema():
    from rewards_site.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=CONFIG)


schema = _schema()
_calls = itertools.count()


def reach_the_rules(case) -> None:
    """Generated credentials and till names almost never match: use the demo's, so that the
    generated fields are read by the rules (wrong credentials have their own tests)."""
    if case.path == "/v2_0/redeemrewards" and isinstance(case.body, dict):
        case.body = {**case.body, **KEYS}
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and len(key) < 200:  # unique keys: a reused one is 105, whatever the body
        case.headers["Idempotency-Key"] = f"{key}-{next(_calls)}"
    if isinstance(case.query, dict) and "username" in case.query:
        case.query["username"] = "o2.till"
    for header in ("DATA-SCOPE", "DATA-SCOPE-ORG", "DATA-SCOPE-ORGS"):  # the call's own org
        (case.headers or {}).pop(header, None)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_a_second_as_documented(case, demo, in_test_transaction, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    # The till-auth throttle has its own tests; here schemathesis's invalid-credentials probe of
    # every generated case (ST401) would reach it and get 429 instead of the 401 it checks for.
    settings.TILL_AUTH_FAILURES_PER_TILL = settings.TILL_AUTH_FAILURES_PER_ADDRESS = ""
    reach_the_rules(case)
    with answered_within_a_second(f"{case.method} {case.path}"):
        response = case.call()
    assert response.status_code < 500, response.text[:500]
    case.validate_response(response)
