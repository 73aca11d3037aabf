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


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Till passwords are hashed with PBKDF2 in production; tests do not need its cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def demo_document():
    return json.loads(DEMO_SCENARIO.read_text())


@pytest.fixture
def demo(db, demo_document):
    """The demo scenario, loaded through the loader itself."""
    from backoffice.scenario import scenario_load

    return scenario_load(document=demo_document)
