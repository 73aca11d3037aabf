"""Revoking an issued reward (the back office's "Revoke this reward")."""

from __future__ import annotations

from django.db import transaction

from core.errors import AlreadyReversed, OperationRefused, staff_reason
from coupons.services import coupons_void_issued
from events.outbox import event_emit
from orgs.models import EventKind
from wallets.models import LedgerEntry, Wallet
from wallets.services import wallet_post

from .models import RewardIssue, RewardIssueRevocation


def reward_issue_revoke(*, reward_issue_id: int, reason: str, staff_user) -> RewardIssueRevocation:
    """Revoke an issued reward (Capillary's revoke), in one transaction: status CANCELLED, its
    points refunded to the wallet that paid (a REVERSAL ledger entry), its coupons voided.

    Revoking twice is impossible: the status moves ISSUED -> CANCELLED in one conditional
    UPDATE (a concurrent second revocation finds no ISSUED row), and the revocation record is
    unique per issue. A vendor voucher cannot be taken back from the vendor: it is recorded
    as revoked, and staff settle with the vendor.
    """
    reason = staff_reason(reason)
    with transaction.atomic():
        issue = RewardIssue.objects.select_related("reward").filter(pk=reward_issue_id).first()
        if issue is None:
            raise OperationRefused(f"no issued reward {reward_issue_id}")
        cancelled = RewardIssue.objects.filter(pk=issue.pk, status=RewardIssue.Status.ISSUED).update(
            status=RewardIssue.Status.CANCELLED
        )
        if not cancelled:
            raise AlreadyReversed(f"issued reward {issue.pk} has been revoked already")
        entry = None
        if issue.points > 0:
            owner = {"group_id": issue.group_id} if issue.group_id else {"customer_id": issue.customer_id}
            wallet = Wallet.objects.filter(org_id=issue.org_id, kind=Wallet.Kind.POINTS, **owner).first()
            if wallet is None:
                raise OperationRefused("the wallet that paid for this reward no longer exists")
            entry = wallet_post(
                wallet=wallet,
                delta=issue.points,
                kind=LedgerEntry.Kind.REVERSAL,
                reference=f"revoke:{issue.points_reference_id}",
                memo=f"reward {issue.reward_id} x{issue.quantity} revoked"[:255],
            )
        voided = 0
        codes = [item["code"] for item in issue.coupon_codes or [] if isinstance(item, dict) and "code" in item]
        if codes:
            voided = coupons_void_issued(
                org_id=issue.org_id, holder_id=issue.customer_id, pool_id=issue.reward.coupon_pool_id, codes=codes
            )
        revocation = RewardIssueRevocation.objects.create(
            org_id=issue.org_id,
            issue=issue,
            reason=reason,
            staff_user=staff_user,
            staff_username=staff_user.get_username(),
            points=issue.points,
            ledger_entry=entry,
            coupons_voided=voided,
        )
        payload = {
            "of": "issue",
            "revocationId": revocation.pk,
            "transactionId": issue.pk,
            "pointsReferenceId": issue.points_reference_id,
            "rewardId": issue.reward_id,
            "customerId": issue.customer_id,
            "groupId": issue.group_id,
            "points": issue.points,
            "couponsVoided": voided,
            "ledgerEntry": entry.pk if entry is not None else None,
            "reason": reason,
            "staff": staff_user.get_username(),
        }
        event_emit(org_id=issue.org_id, kind=EventKind.REVERSAL, payload=payload)
        return revocation
