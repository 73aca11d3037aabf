"""Claiming a key once: the one idempotency helper of both APIs (the Idempotency-Key store of
Redeem Rewards, the requestIds of Issue Reward).

A claim is one ``INSERT ... ON CONFLICT ... RETURNING``: a row comes back for each key this
transaction now holds. A concurrent transaction claiming the same key waits on the unique index
until the holder commits (then gets nothing back for it: the key is taken) or rolls back (then
gets the key). So two copies of a call never both go ahead, and no lock is held beyond the
claiming transaction.
"""

from collections.abc import Sequence

from django.db import connection


def keys_claim(
    *,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence],
    unique: Sequence[str],
    returning: Sequence[str],
    renew: tuple[str, object] | None = None,
    cleared: Sequence[str] = (),
) -> list[tuple]:
    """Insert ``rows`` (values of ``columns``) unless their ``unique`` columns are taken; the
    ``returning`` columns of each row claimed now.

    ``renew = (condition, value)``: a taken row that meets ``condition`` (SQL on the existing row,
    one ``%s`` for ``value``, e.g. ``("created_at < %s", expiry)``) is claimed anew: its other
    columns take the new values and ``cleared`` columns become NULL.
    """
    quote = connection.ops.quote_name
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = (
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES {', '.join([row_sql] * len(rows))} ON CONFLICT ({', '.join(quote(c) for c in unique)}) "
    )
    params = [value for row in rows for value in row]
    if renew is None:
        sql += "DO NOTHING"
    else:
        condition, value = renew
        assignments = [f"{quote(c)} = EXCLUDED.{quote(c)}" for c in columns if c not in unique]
        assignments += [f"{quote(c)} = NULL" for c in cleared]
        sql += f"DO UPDATE SET {', '.join(assignments)} WHERE {quote(table)}.{condition}"
        params.append(value)
    sql += f" RETURNING {', '.join(quote(c) for c in returning)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
