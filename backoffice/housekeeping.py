"""Housekeeping (the nightly ``orgs.records_prune`` job): records past their retention go."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from events.outbox import outbox_prune
from wallets.models import IdempotencyKey, RedemptionCall
from wallets.redeem import IDEMPOTENCY_TTL


def records_prune(*, batch: int = 10_000) -> dict:
    """Housekeeping: delete expired Idempotency-Key records, redemption call records and
    delivered events older than their retention (settings, env vars); in batches."""
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
