"""Fulfilment of issued rewards (Capillary ``PUT /v1/management/transactions``): the status and
custom fields of several transactions, all or nothing, each change kept in ``RewardIssueChange``."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from .errors import FulfilmentInvalid, IssueNotFound
from .models import RewardIssue, RewardIssueChange
from .selectors import org_definitions


@dataclass(frozen=True)
class FulfilmentChange:
    transaction_id: int
    customer_id: int | None = None
    reward_id: int | None = None
    fulfillment_status: str | None = None
    custom_fields: dict | None = None


@transaction.atomic
def issues_fulfilment_update(
    *, org_ids: frozenset[int], changes: list[FulfilmentChange], till_username: str
) -> list[RewardIssue]:
    """Apply every change or none: the issues are locked in id order, every change checked
    (``IssueNotFound`` for an unknown or out-of-scope transaction, ``FulfilmentInvalid`` for the
    rest), then all written with their history rows. Returns the issues in the changes' order."""
    ids = [change.transaction_id for change in changes]
    if len(set(ids)) < len(ids):
        raise FulfilmentInvalid("a transactionId is listed twice")
    issues = {
        issue.pk: issue
        for issue in RewardIssue.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk")
    }
    for change in changes:
        issue = issues.get(change.transaction_id)
        if issue is None or issue.org_id not in org_ids:
            raise IssueNotFound(f"transaction {change.transaction_id} not found")
    fields, statuses = org_definitions(org_ids={issue.org_id for issue in issues.values()})
    for index, change in enumerate(changes):
        issue = issues[change.transaction_id]
        if change.customer_id is not None and change.customer_id != issue.customer_id:
            raise FulfilmentInvalid(f"transactions[{index}].customerId is not the transaction's customer")
        if change.reward_id is not None and change.reward_id != issue.reward_id:
            raise FulfilmentInvalid(f"transactions[{index}].rewardId is not the transaction's reward")
        if change.fulfillment_status is not None and change.fulfillment_status not in statuses[issue.org_id]:
            raise FulfilmentInvalid(
                f"transactions[{index}].fulfillmentStatus: {change.fulfillment_status[:100]!r} is not defined"
            )
        unknown = set(change.custom_fields or {}) - fields[issue.org_id]
        if unknown:
            raise FulfilmentInvalid(
                f"transactions[{index}].transactionCustomFields: {sorted(unknown)[0][:100]!r} is not defined"
            )
    history = []
    for change in changes:
        issue = issues[change.transaction_id]
        before_status, before_fields = issue.fulfillment_status, issue.custom_fields
        if change.fulfillment_status is not None:
            issue.fulfillment_status = change.fulfillment_status
        if change.custom_fields:
            issue.custom_fields = {**(issue.custom_fields or {}), **change.custom_fields}
        RewardIssue.objects.filter(pk=issue.pk).update(
            fulfillment_status=issue.fulfillment_status, custom_fields=issue.custom_fields
        )
        history.append(
            RewardIssueChange(
                org_id=issue.org_id,
                issue=issue,
                till_username=till_username,
                fulfillment_status_before=before_status,
                fulfillment_status_after=issue.fulfillment_status,
                custom_fields_before=before_fields,
                custom_fields_after=issue.custom_fields,
            )
        )
    RewardIssueChange.objects.bulk_create(history)
    return [issues[change.transaction_id] for change in changes]
