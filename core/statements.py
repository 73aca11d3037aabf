"""One statement, its rows as tuples: for hot paths that do a whole call in one statement.

Outside ``transaction.atomic`` the statement runs in autocommit: it is its own transaction, with
no BEGIN or COMMIT round trip, and ``transaction.on_commit`` callbacks registered after it run at
once. Inside one, it joins that transaction. With server-side binding (the default) psycopg
prepares a statement it has run five times on a connection, so keep the SQL text fixed and pass
every value as a parameter.
"""

from collections.abc import Sequence

from django.db import connection


def rows_fetch(statement: str, params: Sequence) -> list[tuple]:
    """Run ``statement`` with ``params``; its rows, as tuples (no model built)."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()
