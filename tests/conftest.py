"""Test-wide fixtures and the PostgreSQL marker policy.

Tests marked ``postgres`` need PostgreSQL features. On SQLite they are
skipped with a loud banner; with ``REQUIRE_POSTGRES=1`` (set by CI) running on
anything but PostgreSQL is an error instead.
"""

import json
import os
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIServer

# The live server's listen backlog (10) resets connections when concurrency tests
# release 40 clients at once; a production server (gunicorn) listens with 2048.
WSGIServer.request_queue_size = 128

DEMO_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "demo.json"


def pytest_addoption(parser):
    parser.addoption(
        "--drop-db",
        action="store_true",
        help="Create the test database afresh and drop it at the end, whatever --reuse-db says (make test).",
    )


@pytest.fixture(scope="session")
def django_db_keepdb(request) -> bool:
    """pytest-django's: keep the test database for the next run (--reuse-db), unless --drop-db."""
    return request.config.getvalue("reuse_db") and not request.config.getoption("drop_db")


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('HOST') or ''} {db['NAME']}"


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    needs_postgres = [item for item in items if item.get_closest_marker("postgres")]
    if connection.vendor == "postgresql" or not needs_postgres:
        return
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        raise pytest.UsageError(
            f"REQUIRE_POSTGRES=1 but the database is {connection.vendor}: "
            f"{len(needs_postgres)} PostgreSQL test(s) would be skipped. Set DATABASE_URL=postgres://..."
        )
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://... (see README)")
    for item in needs_postgres:
        item.add_marker(skip)
    config.stash[_SKIPPED] = len(needs_postgres)


_SKIPPED = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = config.stash.get(_SKIPPED, 0)
    if skipped:
        terminalreporter.write_sep(
            "!", f"{skipped} PostgreSQL test(s) SKIPPED: this run used SQLite, not PostgreSQL", red=True, bold=True
        )


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Rate-limit counters, cached credentials, catalogue and pools must not leak from one test into the next."""
    from django.core.cache import caches

    from catalogue.selectors import rewards_cache_clear
    from coupons.selectors import pools_cache_clear
    from orgs.credentials import app_credentials_cache_clear, till_auth_cache_clear
    from wallets.selectors import rules_cache_clear

    caches["default"].clear()
    app_credentials_cache_clear()
    rewards_cache_clear()
    pools_cache_clear()
    rules_cache_clear()
    till_auth_cache_clear()


_DB_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences", "django_db_serialized_rollback"}


@pytest.fixture(autouse=True)
def _books_balance(request):
    """After every test that uses the database: every wallet's balance equals the sum of its
    ledger and none is negative (one aggregate query). A test that breaks the books on purpose
    (reconciliation findings) says so with ``@pytest.mark.books_unbalanced``."""
    uses_db = request.node.get_closest_marker("django_db") or _DB_FIXTURES & set(request.fixturenames)
    if not uses_db or request.node.get_closest_marker("books_unbalanced"):
        yield
        return
    request.getfixturevalue("_django_db_helper")  # set up first, so torn down after the check below
    yield
    from django.db import connection

    if connection.connection is None or connection.needs_rollback:
        return  # nothing was queried, or the test left its transaction broken on purpose
    assert not _unbalanced_wallets(), "wallets (id, balance, ledger sum) negative or differing from their ledger"


def _unbalanced_wallets() -> list[tuple]:
    from django.db.models import F, Q, Sum, Value
    from django.db.models.functions import Coalesce

    from core.money import ZERO, MoneyField
    from wallets.models import Wallet

    ledger = Coalesce(Sum("entries__delta"), Value(ZERO), output_field=MoneyField())
    return list(
        Wallet.objects.annotate(ledger=ledger)
        .filter(Q(balance__lt=0) | ~Q(balance=F("ledger")))
        .values_list("pk", "balance", "ledger")[:10]
    )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Till passwords are hashed with PBKDF2 in production; tests do not need its cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def server_url(live_server):
    """Where the concurrency tests send their calls: the live server (one process, threads).
    tests/test_topology.py runs the same tests through HAProxy, two gunicorns and PgBouncer."""
    return live_server.url


@pytest.fixture(params=["one statement", "stepwise"])
def conversion_path(request, monkeypatch):
    """registerconversionevent both ways: on PostgreSQL in one round trip (the database function
    of wallets migration 0015), and step by step as on SQLite (``wallets.sql.CONVERSION_CALL`` empty)."""
    from wallets import sql as wallets_sql

    if request.param == "stepwise":
        monkeypatch.setattr(wallets_sql, "CONVERSION_CALL", {})
    return request.param


@pytest.fixture(params=["function", "statement"])
def balance_path(request, monkeypatch):
    """getuserbalance both ways: on PostgreSQL through the function of wallets migration 0011, and
    through ``wallets.sql.USER_BALANCE`` itself as on SQLite (``wallets.sql.USER_BALANCE_CALL`` empty)."""
    from wallets import sql as wallets_sql

    if request.param == "statement":
        monkeypatch.setattr(wallets_sql, "USER_BALANCE_CALL", {})
    return request.param


@pytest.fixture
def demo_document():
    return json.loads(DEMO_SCENARIO.read_text())


@pytest.fixture
def demo(db, demo_document):
    """The demo scenario, loaded through the loader itself."""
    from backoffice.scenario import scenario_load

    return scenario_load(document=demo_document)
