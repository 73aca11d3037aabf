"""The benchmark scripts' loaders still fit the schema: they write with raw SQL, which no other
test would notice going stale. Small sizes, on the test database."""

import importlib
import re
import sys
from decimal import Decimal
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def bench_module():
    sys.path.insert(0, str(BENCH))
    try:
        yield lambda name: importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


def test_the_reconciliation_benchmark_loads_books_that_reconcile_clean(bench_module):
    from wallets.models import Discrepancy, LedgerEntry
    from wallets.reconciliation import reconciliation_run

    reconcile = bench_module("reconcile")
    reconcile.load(2_000)
    assert LedgerEntry.objects.filter(org_id=reconcile.BENCH_ORG).count() == 2_000
    result = reconciliation_run()
    assert result.open_findings == [] and not Discrepancy.objects.exists()


def test_the_till_benchmark_issues_coupons_a_till_can_redeem(bench_module, client):
    import json

    from backoffice.scenario import scenario_load
    from coupons.models import Coupon

    till = bench_module("till")
    document = till.scenario()
    document["orgs"][0]["customers"] = document["orgs"][0]["customers"][:20]
    scenario_load(document=document, replace=True)
    till.load_coupons(50, customers=20)
    assert Coupon.objects.filter(org_id=till.BENCH_ORG, status="ISSUED").count() == 50
    headers = {"Authorization": till._auth()}
    body = till.coupon_body(27, "t-1", customers=20)  # held by bench-8
    response = client.post(till.COUPON_PATH, json.dumps(body), content_type="application/json", headers=headers)
    assert response.status_code == 200, response.content
    response = client.post(
        till.POINTS_PATH, json.dumps(till.points_body(3, "t-2")), content_type="application/json", headers=headers
    )
    assert response.status_code == 200, response.content


def replayed_for_bench_7(companion, verb: str, function: str) -> list[tuple]:
    """The rows of the companion bench's replay of ``verb`` for user bench-7: the captured call must
    be one statement of ``function``, no transaction."""
    from django.db import connection

    companion.seed(20)
    events = companion.capture(verb, n=1)
    assert [e for e in events if f"{function}(" in e] == events
    replayed = companion.pgbench_script(verb, events, 1).splitlines()[-1]
    with connection.cursor() as cursor:
        cursor.execute(re.sub(r":n\b", "7", replayed).rstrip(";"))  # not the casts' ::numeric
        return cursor.fetchall()


def test_the_companion_benchmark_replays_the_balance_statement_the_app_sends(bench_module):
    from orgs.models import Customer

    companion = bench_module("companion")
    rows = replayed_for_bench_7(companion, "getuserbalance", "wallets_user_balance")
    bench_7 = Customer.objects.get(org_id=companion.ORG, external_id="bench-7")
    assert [(row[0], row[2], row[7]) for row in rows] == [(bench_7.pk, "bench-referral", Decimal("30.00"))]


def test_the_companion_benchmark_replays_the_conversion_call_the_app_sends(bench_module, monkeypatch):
    from events import outbox
    from orgs.models import Customer
    from wallets.models import EarnedReward

    monkeypatch.setattr(outbox, "_dispatch_soon", lambda event_pks: None)  # the bench queues them to Redis
    companion = bench_module("companion")
    [(outcome, _lines, event_ids)] = replayed_for_bench_7(
        companion, "registerconversionevent", "wallets_conversion_call"
    )
    bench_7 = Customer.objects.get(org_id=companion.ORG, external_id="bench-7")
    paid = EarnedReward.objects.filter(conversion__customer=bench_7).values_list("beneficiary", "customer_id", "amount")
    assert (outcome, len(event_ids)) == ("paid", 1)
    assert sorted(paid) == [("friend", bench_7.pk, Decimal("2.50")), ("referrer", bench_7.referrer_id, Decimal("5.00"))]
