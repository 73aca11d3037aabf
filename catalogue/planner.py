"""The one planner of an issue: what a reward hands out (its goods, taken now), the ledger entry
that pays for it and its ``RewardIssue`` row. Both issue paths use it (``catalogue/services.py``:
the whole call in one transaction, or reward by reward), and so does the settling of a vendor
call; they differ only in their transaction boundaries. ``reward_issue_build`` is the one place a
``RewardIssue`` is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from events.outbox import customer_ref, event_emit, events_emit
from orgs.models import Customer, EventKind
from wallets.services import Posting

from .calls import IssueCallIn
from .goods import goods_take
from .models import RewardIssue
from .points import issue_posting, points_reference
from .resolve import Line


@dataclass(frozen=True)
class CallContext:
    """What the call's lines share: the till that calls and the call itself."""

    till_username: str
    call: IssueCallIn


@dataclass(frozen=True)
class IssueSpec:
    """What is issued, to whom, for how many points: a resolved line, or a vendor call that keeps
    it (``VendorCall``) until its voucher is paid."""

    org_id: int
    customer_id: int
    group_id: int | None
    wallet_id: int | None
    reward_id: int
    payment_config_id: int | None
    requested_quantity: int
    quantity: int
    points: Decimal
    redemption_value: Decimal | None
    claim_pk: int | None
    record: dict  # the record's fields that come from the call (till, requestId, notes, ...)


def line_spec(line: Line, ctx: CallContext, *, claim_pk: int | None) -> IssueSpec:
    call = ctx.call
    return IssueSpec(
        org_id=line.org_id,
        customer_id=line.payer.customer.pk,
        group_id=line.payer.group.pk if line.payer.group is not None else None,
        wallet_id=line.payer.wallet_id,
        reward_id=line.reward.pk,
        payment_config_id=line.config.pk if line.config is not None else None,
        requested_quantity=line.item.requested_quantity,
        quantity=line.item.quantity,
        points=line.points,
        redemption_value=line.redemption_value,
        claim_pk=claim_pk,
        record={
            "till_username": ctx.till_username or "",
            "request_id": line.item.request_id,
            "event_log_id": call.event_log_id,
            "transaction_number": call.transaction_number or "",
            "notes": line.notes,
            "brand": call.brand or "",
            "custom_fields": line.item.custom_fields,
            "fulfillment_status": line.item.fulfillment_status or "",
        },
    )


def reward_issue_build(spec: IssueSpec, *, reference: str, goods: dict, line: Line | None = None) -> RewardIssue:
    """The ``RewardIssue`` row of ``spec`` (not saved), paid under ``reference``, with ``goods``
    (coupon codes, promotion, voucher). With ``line``, the row carries the customer, group, reward
    and payment config the call has read already: the answer is rendered without reading them."""
    issue = RewardIssue(
        org_id=spec.org_id,
        points_reference_id=reference,
        customer_id=spec.customer_id,
        group_id=spec.group_id,
        group_loyalty_redemption=spec.group_id is not None,
        reward_id=spec.reward_id,
        payment_config_id=spec.payment_config_id,
        requested_quantity=spec.requested_quantity,
        quantity=spec.quantity,
        points=spec.points,
        redemption_value=spec.redemption_value,
        idempotency_id=spec.claim_pk,
        **spec.record,
        **goods,
    )
    if line is not None:
        issue.customer, issue.group, issue.reward = line.payer.customer, line.payer.group, line.reward
        issue.payment_config = line.config
    return issue


@dataclass(frozen=True)
class Plan:
    """One reward as it will be issued: its row and the ledger entry that pays for it."""

    line: Line
    issue: RewardIssue
    posting: Posting | None


def line_plan(line: Line, ctx: CallContext, *, claim_pk: int | None, pending_promotions: dict | None = None) -> Plan:
    """Take the line's goods (``goods_take``: raises ``RewardNotIssued`` having written nothing)
    and decide its ledger entry and issue row."""
    goods = goods_take(line, pending_promotions=pending_promotions)
    reference = points_reference()
    issue = reward_issue_build(line_spec(line, ctx, claim_pk=claim_pk), reference=reference, goods=goods, line=line)
    posting = issue_posting(
        reward_id=line.reward.pk, quantity=line.item.quantity, points=line.points, reference=reference
    )
    return Plan(line=line, issue=issue, posting=posting)


def issue_record(issue: RewardIssue, *, customer: Customer) -> RewardIssue:
    """Save one issue and write its event, in the caller's transaction."""
    issue.save(force_insert=True)
    issue_event(issue, customer=customer)
    return issue


def issues_record(plans: list[Plan]) -> list[RewardIssue]:
    """Save several issues and their events: one INSERT each, in the caller's transaction."""
    issues = RewardIssue.objects.bulk_create([plan.issue for plan in plans])
    events_emit(
        events=[
            (issue.org_id, EventKind.ISSUE, issue_payload(issue, customer=plan.line.payer.customer))
            for plan, issue in zip(plans, issues, strict=True)
        ]
    )
    return issues


def issue_event(issue: RewardIssue, *, customer: Customer) -> None:
    event_emit(org_id=issue.org_id, kind=EventKind.ISSUE, payload=issue_payload(issue, customer=customer))


def issue_payload(issue: RewardIssue, *, customer: Customer) -> dict:
    return {
        "transactionId": issue.pk,
        "rewardId": issue.reward_id,
        "customer": customer_ref(customer),
        "groupId": issue.group_id,
        "quantity": issue.quantity,
        "points": issue.points,
        "pointsReferenceId": issue.points_reference_id,
        "requestId": issue.request_id,
        "transactionNumber": issue.transaction_number,
        "couponCodes": [c["code"] for c in issue.coupon_codes],
        "promotionId": issue.promotion_id,
        "voucher": issue.voucher or None,
    }
