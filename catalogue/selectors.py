"""Reads of the catalogue and of the Issue Reward records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from core.local_cache import LocalCache
from orgs.models import CustomerSegment
from wallets.owners import customer_for_issue, group_for_issue  # noqa: F401 - one lookup for every API

from . import sql
from .models import (
    CatalogueReward,
    CustomFieldDefinition,
    FulfillmentStatusDefinition,
    IssueRequest,
    PaymentConfig,
    Promotion,
    RewardIssue,
    RewardSegment,
)

# Catalogue rewards as the issue path reads them, kept per process for CATALOGUE_CACHE_SECONDS:
# a change saved through the ORM clears this process's copy at once (signals, ``apps.py``), other
# processes see it within the TTL.
_rewards_cache = LocalCache(ttl_setting="CATALOGUE_CACHE_SECONDS")


def rewards_cache_clear(**_signal_kwargs) -> None:
    _rewards_cache.clear()


def rewards_for_issue(*, reward_ids: Iterable[int]) -> dict[int, CatalogueReward]:
    """The rewards by id, each with ``configs`` (its payment configs by id) and ``segment_ids``.
    Treat them as read-only: they may be shared with later calls of this process.

    One statement for rewards, promotions and payment configs (the hot path of every issue
    call: ORM query building cost more than the database), a second only for segmented rewards.
    """
    reward_ids = set(reward_ids)
    found = {pk: reward for pk in reward_ids if (reward := _rewards_cache.get(pk)) is not None}
    missing = sorted(reward_ids - found.keys())
    if missing:
        for pk, reward in _rewards_read(missing).items():
            _rewards_cache.set(pk, reward)
            found[pk] = reward
    return found


def _rewards_read(reward_ids: list[int]) -> dict[int, CatalogueReward]:
    rewards: dict[int, CatalogueReward] = {}
    segmented = []
    field = CatalogueReward._meta.get_field
    with connection.cursor() as cursor:
        cursor.execute(sql.REWARDS.format(ids=", ".join(["%s"] * len(reward_ids))), reward_ids)
        for row in cursor.fetchall():
            reward = rewards.get(row[0])
            if reward is None:
                reward = CatalogueReward(
                    id=row[0], org_id=row[1], name=row[2], type=row[3], redemption_type=row[4],
                    enabled=bool(row[5]), starts_at=_moment(row[6]), ends_at=_moment(row[7]), coupon_pool_id=row[8],
                    promotion_id=row[9], vendor_name=row[10], vendor_url=row[11], vendor_timeout_ms=row[12],
                    vendor_context_map=field("vendor_context_map").from_db_value(row[13], None, connection),
                )  # fmt: skip
                if row[9] is not None:
                    reward.promotion = Promotion(
                        id=row[9], org_id=row[14], code=row[15], active=bool(row[16]), max_per_customer=row[17]
                    )
                reward.configs, reward.segment_ids = {}, set()
                rewards[row[0]] = reward
                if row[22]:
                    segmented.append(row[0])
            if row[18] is not None:
                reward.configs[row[18]] = PaymentConfig(
                    id=row[18], org_id=row[1], reward_id=row[0], mode=row[19],
                    points=_decimal(row[20], "0.01"), conversion_ratio=_decimal(row[21], "0.000001"),
                )  # fmt: skip
    if segmented:
        for reward_id, segment_id in RewardSegment.objects.filter(reward_id__in=segmented).values_list(
            "reward_id", "segment_id"
        ):
            rewards[reward_id].segment_ids.add(segment_id)
    return rewards


def _decimal(value, places: str) -> Decimal | None:
    """SQLite hands numeric columns back as floats or ints: back to the column's exact decimal."""
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal(places))


def _moment(value):
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


def customer_segment_ids(*, customer_id: int, segment_ids: Iterable[int]) -> set[int]:
    return set(
        CustomerSegment.objects.filter(customer_id=customer_id, segment_id__in=set(segment_ids)).values_list(
            "segment_id", flat=True
        )
    )


def org_definitions(*, org_ids: Iterable[int]) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
    """(custom field names, fulfillment status names) by org."""
    fields: dict[int, set[str]] = defaultdict(set)
    statuses: dict[int, set[str]] = defaultdict(set)
    for org_id, name in CustomFieldDefinition.objects.filter(org_id__in=org_ids).values_list("org_id", "name"):
        fields[org_id].add(name)
    for org_id, name in FulfillmentStatusDefinition.objects.filter(org_id__in=org_ids).values_list("org_id", "name"):
        statuses[org_id].add(name)
    return fields, statuses


def issue_requests_find(*, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], IssueRequest]:
    """The requestIds seen before, by (org id, request key), each with its issue (if DONE)."""
    keys = set(keys)
    if not keys:
        return {}
    found = {
        (r.org_id, r.request_key): r
        for r in IssueRequest.objects.filter(
            org_id__in={org for org, _ in keys}, request_key__in={key for _, key in keys}
        )  # the unique index (org_id, request_key)
        if (r.org_id, r.request_key) in keys
    }
    for request in found.values():
        request.issue_found = reward_issue_with_details(request_pk=request.pk)
    return found


def reward_issue_with_details(*, request_pk: int) -> RewardIssue | None:
    return (
        RewardIssue.objects.filter(idempotency_id=request_pk)
        .select_related("reward", "payment_config", "promotion")
        .first()
    )


def promotion_units_held(*, org_id: int, customer_id: int, promotion_id: int) -> int:
    return sum(
        RewardIssue.objects.filter(
            org_id=org_id, customer_id=customer_id, promotion_id=promotion_id, status=RewardIssue.Status.ISSUED
        ).values_list("quantity", flat=True)
    )
