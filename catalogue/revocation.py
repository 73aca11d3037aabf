"""Revoking an issued reward: one service for the back office (staff, any org) and for tills
(Capillary ``POST /v1/user/reward/revoke``, only where the org enables it)."""

from __future__ import annotations

from django.db import transaction

from core.errors import AlreadyReversed, OperationRefused, staff_reason
from coupons.errors import CouponAlreadyRedeemed
from coupons.issued import coupons_void_for_revocation
from events.outbox import event_emit
from orgs.models import EventKind, Org
from wallets.models import LedgerEntry, Wallet
from wallets.services import wallet_post

from .errors import IssueNotFound, NotRevocable, RevokeDisabled
from .models import CatalogueReward, RewardIssue, RewardIssueRevocation


def reward_issue_revoke(
    *,
    reward_issue_id: int,
    reason: str,
    staff_user=None,
    till_username: str | None = None,
    org_ids: frozenset[int] | None = None,
) -> RewardIssueRevocation:
    """Revoke an issued reward in one transaction: status CANCELLED, its points refunded to the
    wallet that paid (one REVERSAL ledger entry), its coupons voided; a cart promotion's units are
    released with it (they count ISSUED issues only).

    By staff (``staff_user``): any org; a vendor voucher is recorded as revoked (staff settle with
    the vendor); revoking twice raises ``AlreadyReversed``. By a till (``till_username``, with the
    call's ``org_ids``): only where the issuing org has ``revoke_enabled`` (``RevokeDisabled``),
    not a vendor reward (``NotRevocable``); revoking again returns the first revocation with
    ``replayed = True``. Either way a coupon of the issue used at a till makes it ``NotRevocable``.

    The issue's row is locked first (then its coupons, then the wallet): concurrent revocations
    run one after the other, and the second finds it CANCELLED: one refund, however many arrive.
    """
    by_till = till_username is not None
    reason = ((reason or "").strip() or "revoked at till") if by_till else staff_reason(reason)
    with transaction.atomic():
        issue = (
            RewardIssue.objects.select_for_update(of=("self",))
            .select_related("reward")
            .filter(pk=reward_issue_id)
            .first()
        )
        if issue is None or (org_ids is not None and issue.org_id not in org_ids):
            raise IssueNotFound(f"no issued reward {reward_issue_id}")
        if by_till and not Org.objects.filter(pk=issue.org_id, revoke_enabled=True).exists():
            raise RevokeDisabled(f"org {issue.org_id} does not allow revoking issued rewards")
        if issue.status != RewardIssue.Status.ISSUED:
            first = RewardIssueRevocation.objects.select_related("ledger_entry").filter(issue=issue).first()
            if first is None:
                raise NotRevocable(f"issued reward {issue.pk} is {issue.status}")
            if not by_till:
                raise AlreadyReversed(f"issued reward {issue.pk} has been revoked already")
            first.replayed = True
            return first
        if by_till and issue.reward.type == CatalogueReward.Type.VENDOR:
            raise NotRevocable("a vendor reward cannot be revoked at a till: ask staff")
        codes = [item["code"] for item in issue.coupon_codes or [] if isinstance(item, dict) and "code" in item]
        try:
            voided = coupons_void_for_revocation(
                org_id=issue.org_id, pool_id=issue.reward.coupon_pool_id, codes=codes, holder_id=issue.customer_id
            )
        except CouponAlreadyRedeemed as exc:
            raise NotRevocable(f"a coupon of issued reward {issue.pk} was used at a till") from exc
        RewardIssue.objects.filter(pk=issue.pk).update(status=RewardIssue.Status.CANCELLED)
        entry = None
        if issue.points > 0:
            owner = {"group_id": issue.group_id} if issue.group_id else {"customer_id": issue.customer_id}
            wallet = Wallet.objects.filter(org_id=issue.org_id, kind=Wallet.Kind.POINTS, **owner).first()
            if wallet is None:
                raise OperationRefused("the wallet that paid for this reward no longer exists")
            where = f" at till {till_username}" if by_till else ""
            entry = wallet_post(
                wallet=wallet,
                delta=issue.points,
                kind=LedgerEntry.Kind.REVERSAL,
                reference=f"revoke:{issue.points_reference_id}",
                memo=f"reward {issue.reward_id} x{issue.quantity} revoked{where}"[:255],
            )
        actor = f"till:{till_username}" if by_till else staff_user.get_username()
        revocation = RewardIssueRevocation.objects.create(
            org_id=issue.org_id,
            issue=issue,
            reason=reason,
            staff_user=staff_user,
            staff_username=actor[:150],
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
            "staff": actor,
        }
        event_emit(org_id=issue.org_id, kind=EventKind.REVERSAL, payload=payload)
        revocation.replayed = False
        return revocation
