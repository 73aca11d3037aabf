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
        RewardIssueRevocation,
        RewardSegment,
        ValidationCode,
        VendorCall,
        VendorException,
    )
    from coupons.models import Coupon, CouponPool
    from wallets.models import (
        Discrepancy,
        EarnedReward,
        IdempotencyKey,
        LedgerEntry,
        RedemptionCall,
        RedemptionReversal,
        Wallet,
        WalletAdjustment,
    )

    from .models import (
        ApiClient,
        AppCredential,
        Campaign,
        Card,
        Customer,
        CustomerGroup,
        CustomerNote,
        CustomerSegment,
        GroupMember,
        OutboxEvent,
        Segment,
        Till,
        WebhookDelivery,
        WebhookEndpoint,
    )

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
        RewardIssue,
        IssueRequest,
        VendorException,
        ValidationCode,
        WalletAdjustment,
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
    from .auth import api_clients_changed
    from .models import ApiClient, Org, OrgConnection

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


def records_prune(*, batch: int = 10_000) -> dict:
    """Housekeeping: delete expired Idempotency-Key records, redemption call records and
    delivered events older than their retention (settings, env vars); in batches."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from wallets.models import IdempotencyKey, RedemptionCall
    from wallets.services import IDEMPOTENCY_TTL

    from .events import outbox_prune

    now = timezone.now()
    key_age = max(timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS), IDEMPOTENCY_TTL)
    return {
        "idempotency_keys": _delete_in_batches(IdempotencyKey.objects.filter(created_at__lt=now - key_age), batch),
        "redemption_calls": _delete_in_batches(
            RedemptionCall.objects.filter(created_at__lt=now - timedelta(days=settings.REDEMPTION_CALL_RETENTION_DAYS)),
            batch,
        ),
        "events": outbox_prune(older_than=timedelta(days=settings.OUTBOX_RETENTION_DAYS)),
    }


def _delete_in_batches(queryset, batch: int) -> int:
    total = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        deleted, _ = queryset.model.objects.filter(pk__in=ids).delete()
        total += deleted


def customer_note_add(*, customer_id: int, text: str, staff_user):
    """A note by staff on a customer (support agents may add them; they change nothing else)."""
    from .errors import OperationRefused
    from .models import Customer, CustomerNote

    text = (text or "").strip()
    if not text:
        raise OperationRefused("a note needs some text")
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise OperationRefused(f"no customer {customer_id}")
    return CustomerNote.objects.create(
        org_id=customer.org_id,
        customer=customer,
        text=text[:5000],
        author=staff_user,
        author_username=staff_user.get_username(),
    )
