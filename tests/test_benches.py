"""The benchmark scripts' loaders still fit the schema: they write with raw SQL, which no other
test would notice going stale. Small sizes, on the test database."""

import importlib
import sys
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
