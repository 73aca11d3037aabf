"""One statement as one transaction: for a hot path whose whole write is a single statement (a
CTE or a PostgreSQL function), so it costs one round trip instead of BEGIN, the statement and
COMMIT."""

from collections.abc import Mapping, Sequence

from django.db import DatabaseError, connection, transaction


def statement_rows(sql: str, params: Sequence | Mapping, *, declined: str | None = None) -> list[tuple] | None:
    """Run ``sql`` and return its rows as tuples, all or nothing.

    Outside a transaction the statement runs in autocommit: it is its own transaction (no BEGIN /
    COMMIT round trips; ``transaction.on_commit`` callbacks registered afterwards run at once, the
    statement having committed). Inside one (a caller's ``atomic``, a test) it runs in a savepoint,
    so an error it raises undoes only its own writes and leaves the caller's transaction usable.

    ``declined``: the SQLSTATE a function raises to say "not by this statement" (having written
    nothing, since the error undoes it): None is returned instead of the error.
    """
    try:
        if connection.in_atomic_block:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    except DatabaseError as exc:
        if declined is not None and getattr(exc.__cause__, "sqlstate", None) == declined:
            return None
        raise
