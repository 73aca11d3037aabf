"""Prepared statements (``DATABASE_PREPARE_THRESHOLD``): on PostgreSQL with server-side binding,
a statement a connection runs often is prepared on the server once, then only executed."""

import pytest
from django.conf import settings
from django.db import connection

from wallets.owners import customer_for_issue

pytestmark = pytest.mark.django_db


def _prepared_lookups() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%FROM orgs_customer c%"]
        )
        return cursor.fetchone()[0]


def test_the_customer_lookup_is_prepared_after_the_threshold():
    if connection.vendor != "postgresql" or not settings.DATABASES["default"]["OPTIONS"].get("server_side_binding"):
        pytest.skip("prepared statements need PostgreSQL with server-side binding")
    threshold = settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"]
    assert threshold == 5
    connection.ensure_connection()
    assert connection.connection.prepare_threshold == threshold
    before = _prepared_lookups()
    for n in range(threshold):
        customer_for_issue(org_id=1, mobile=None, email=None, external_id=f"nobody-{n}")
    assert _prepared_lookups() == before  # sent as it is, parsed and planned each time
    customer_for_issue(org_id=1, mobile=None, email=None, external_id="nobody-else")
    assert _prepared_lookups() == before + 1
    for n in range(3):
        customer_for_issue(org_id=1, mobile=None, email=None, external_id=f"nobody-again-{n}")
    assert _prepared_lookups() == before + 1  # prepared once, then reused
