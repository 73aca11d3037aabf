"""Writes to orgs."""

from django.db import connection, transaction


def _org_owned_models():
    """Every tenant-owned model, dependents first (the order deletes must follow)."""
    from catalogue.models import (
        CatalogueReward,
        CustomFieldDefinition,
        FulfillmentStatusDefinition,
        IssueRequest,
        PaymentConfig,
        Promotion,
        RewardIssue,
        RewardSegment,
        ValidationCode,
        VendorException,
    )
    from coupons.models import Coupon, CouponPool
    from wallets.models import EarnedReward, LedgerEntry, Wallet

    from .models import (
        ApiClient,
        AppCredential,
        Campaign,
        Card,
        Customer,
        CustomerGroup,
        CustomerSegment,
        GroupMember,
        Segment,
        Till,
    )

    return [
        RewardIssue,
        IssueRequest,
        VendorException,
        ValidationCode,
        LedgerEntry,
        Wallet,
        EarnedReward,
        PaymentConfig,
        RewardSegment,
        CatalogueReward,
        Promotion,
        Coupon,
        CouponPool,
        Campaign,
        GroupMember,
        CustomerGroup,
        Card,
        CustomerSegment,
        Customer,
        Segment,
        CustomFieldDefinition,
        FulfillmentStatusDefinition,
        Till,
        ApiClient,
        AppCredential,
    ]


@transaction.atomic
def org_purge(*, org_id: int) -> None:
    """Delete an org and everything it owns, ledger included (``load_scenario --replace``).

    The only path that may delete ledger entries: on PostgreSQL the append-only
    trigger lets them go while ``rewards.allow_ledger_purge`` is on, and it is
    switched off again before returning. Change history (django-simple-history)
    is kept.
    """
    from .models import Org, OrgConnection

    _allow_ledger_purge(True)
    try:
        for model in _org_owned_models():
            model.objects.filter(org_id=org_id).delete()
    finally:
        _allow_ledger_purge(False)
    OrgConnection.objects.filter(from_org_id=org_id).delete()
    OrgConnection.objects.filter(to_org_id=org_id).delete()
    Org.objects.filter(pk=org_id).delete()


def _allow_ledger_purge(allowed: bool) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL rewards.allow_ledger_purge = '{'on' if allowed else 'off'}'")
