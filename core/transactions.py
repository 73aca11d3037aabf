"""Transaction helpers shared by the services."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def joined_transaction() -> Iterator[None]:
    """Join the caller's transaction as is, or open one when there is none.

    For services that refuse *before* they write (a ``DomainError`` leaves the
    transaction clean and usable): they need no savepoint, which saves two
    round trips per nested call. A database error still aborts the caller's
    transaction, as it should.
    """
    if connection.in_atomic_block:
        yield
    else:
        with transaction.atomic():
            yield
