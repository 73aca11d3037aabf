"""Fixtures of the wallets tests."""

import pytest


@pytest.fixture(params=["one statement", "step by step"])
def redeem_path(request, settings):
    """Redeem Rewards on each of its two paths (wallets/redeem.py): on PostgreSQL a call by
    amount or by pool is first tried as one statement; step by step is what SQLite runs, and what
    answers every call the statement does not do. The contract tests run on both, so that the
    two cannot drift. On SQLite there is one path: the first parameter is skipped."""
    from django.db import connection

    if request.param == "one statement" and connection.vendor != "postgresql":
        pytest.skip("one statement is PostgreSQL's path")
    settings.REDEEM_ONE_STATEMENT = request.param == "one statement"
    return request.param
