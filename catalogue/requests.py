"""requestIds: the idempotency of Issue Reward. A requestId is claimed by inserting its
``IssueRequest`` row (``core.idempotency.keys_claim``): a concurrent copy waits on the unique
index until the first commits, then answers with the first result. The same requestId with
another payload is refused; a reward that fails lets its requestId go, so a retry may issue it."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from core.idempotency import keys_claim

from . import selectors
from .errors import RequestIdConflict
from .models import IssueRequest
from .resolve import Line, is_vendor

_COLUMNS = ("org_id", "request_key", "request_id", "payload_hash", "state", "created_at")


def requests_claim(lines: list[Line]) -> dict[int, int]:
    """Claim the lines' requestIds in one statement (sorted by key, so two calls claiming the same
    ids wait for each other instead of deadlocking); {line index: claim id} of those claimed now.
    A line missing from the answer has its requestId held by another call. A VENDOR line's claim
    is PENDING (held across the partner call), the others' DONE."""
    keyed = sorted((line for line in lines if line.request_key is not None), key=lambda ln: (ln.org_id, ln.request_key))
    if not keyed:
        return {}
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    rows = [
        (
            line.org_id,
            line.request_key,
            line.item.request_id,
            line.payload_hash,
            IssueRequest.State.PENDING if is_vendor(line) else IssueRequest.State.DONE,
            now,
        )
        for line in keyed
    ]
    claimed = {
        (org_id, key): pk
        for org_id, key, pk in keys_claim(
            table=IssueRequest._meta.db_table,
            columns=_COLUMNS,
            rows=rows,
            unique=("org_id", "request_key"),
            returning=("org_id", "request_key", "id"),
        )
    }
    return {
        line.index: claimed[(line.org_id, line.request_key)]
        for line in keyed
        if (line.org_id, line.request_key) in claimed
    }


def requests_all_claimed(lines: list[Line], claims: dict[int, int]) -> bool:
    return all(line.index in claims for line in lines if line.request_key is not None)


def request_release(claim_pk: int | None) -> None:
    """A vendor call that handed nothing out lets its (PENDING) requestId go."""
    if claim_pk is not None:
        IssueRequest.objects.filter(pk=claim_pk, state=IssueRequest.State.PENDING).delete()


def request_free(claim_pk: int | None) -> None:
    """A reward that was not issued lets its requestId go, in the transaction that claimed it."""
    if claim_pk is not None:
        IssueRequest.objects.filter(pk=claim_pk).delete()


def requests_match_seen(lines: list[Line]) -> None:
    """Mark the lines whose requestId was seen before (replayed if DONE); another payload under a
    requestId seen before fails the call (``RequestIdConflict``)."""
    seen = selectors.issue_requests_find(keys=[(ln.org_id, ln.request_key) for ln in lines if ln.request_key])
    for line in lines:
        request = seen.get((line.org_id, line.request_key))
        if request is None:
            continue
        if request.payload_hash != line.payload_hash:
            raise RequestIdConflict(f"rewards[{line.index}].requestId was used before for another reward payload")
        line.seen_before = True
        if request.state == IssueRequest.State.DONE:
            line.replay = request.issue_found


def request_holder(line: Line) -> IssueRequest | None:
    """The row of the line's requestId as another call left it (None: that call let it go)."""
    return IssueRequest.objects.filter(org_id=line.org_id, request_key=line.request_key).first()
