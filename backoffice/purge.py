"""Deleting an org and everything it owns (``load_scenario --replace``): the one place that knows
every tenant-owned table, so it sits above every app."""

from django.db import connection, transaction

from catalogue.models import (
    CatalogueReward,
    CustomFieldDefinition,
    FulfillmentStatusDefinition,
    IssueRefusal,
    IssueRequest,
    PaymentConfig,
    Promotion,
    RewardIssue,
    RewardIssueRevocation,
    RewardSegment,
    ValidationCode,
    VendorCall,
    VendorException,
)
from coupons.models import Coupon, CouponPool
from orgs.credentials import api_clients_changed
from orgs.models import (
    ApiClient,
    AppCredential,
    Campaign,
    Card,
    Customer,
    CustomerGroup,
    CustomerNote,
    CustomerSegment,
    GroupMember,
    Org,
    OrgConnection,
    OutboxEvent,
    Segment,
    Till,
    WebhookDelivery,
    WebhookEndpoint,
)
from wallets.models import (
    CampaignRule,
    ConversionEvent,
    Discrepancy,
    EarnedReward,
    IdempotencyKey,
    LedgerEntry,
    RedemptionCall,
    RedemptionReversal,
    RuleUsage,
    Wallet,
    WalletAdjustment,
)


def _org_owned_models():
    """Every tenant-owned model, dependents first (the order deletes must follow)."""
    return [
        WebhookDelivery,
        OutboxEvent,
        WebhookEndpoint,
        Discrepancy,
        VendorCall,
        RedemptionReversal,
        RedemptionCall,
        IdempotencyKey,
        RewardIssueRevocation,
        IssueRefusal,
        RewardIssue,
        IssueRequest,
        VendorException,
        ValidationCode,
        WalletAdjustment,
        LedgerEntry,
        Wallet,
        EarnedReward,
        RuleUsage,
        ConversionEvent,
        CampaignRule,
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
        CustomerNote,
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
    # Raw deletes send no signals: the OAuth tokens of the org's API clients stop by this call.
    api_clients_changed(keys=set(ApiClient.objects.filter(org_id=org_id).values_list("key", flat=True)))
    with connection.cursor() as cursor:
        _allow_ledger_purge(cursor, True)
        # Set-based, dependents first: one DELETE per table, however many rows the org has
        # (the ORM's collector would load every id of a million-coupon pool).
        for model in _org_owned_models():
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)} WHERE org_id = %s", [org_id])
        _allow_ledger_purge(cursor, False)
    OrgConnection.objects.filter(from_org_id=org_id).delete()
    OrgConnection.objects.filter(to_org_id=org_id).delete()
    Org.objects.filter(pk=org_id).delete()


def _allow_ledger_purge(cursor, allowed: bool) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(f"SET LOCAL rewards.allow_ledger_purge = '{'on' if allowed else 'off'}'")
