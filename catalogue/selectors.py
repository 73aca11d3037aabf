"""Reads of the catalogue and of the Issue Reward records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Exists, OuterRef, Q, Subquery

from orgs.models import Card, Customer, CustomerGroup, CustomerSegment, GroupMember
from wallets.models import Wallet

from .models import (
    CatalogueReward,
    CustomFieldDefinition,
    FulfillmentStatusDefinition,
    IssueRequest,
    PaymentConfig,
    RewardIssue,
    RewardSegment,
)


def rewards_for_issue(*, reward_ids: Iterable[int]) -> dict[int, CatalogueReward]:
    """The rewards by id, each with ``configs`` (its payment configs by id) and ``segment_ids``."""
    reward_ids = set(reward_ids)
    rewards = {r.pk: r for r in CatalogueReward.objects.filter(pk__in=reward_ids).select_related("promotion")}
    for reward in rewards.values():
        reward.configs, reward.segment_ids = {}, set()
    for config in PaymentConfig.objects.filter(reward_id__in=rewards):
        rewards[config.reward_id].configs[config.pk] = config
    if rewards:
        for reward_id, segment_id in RewardSegment.objects.filter(reward_id__in=rewards).values_list(
            "reward_id", "segment_id"
        ):
            rewards[reward_id].segment_ids.add(segment_id)
    return rewards


def _points_wallet(owner: str):
    return Wallet.objects.filter(**{owner: OuterRef("pk")}, kind=Wallet.Kind.POINTS, org_id=OuterRef("org_id"))


def customer_for_issue(*, org_id: int, mobile: str | None, email: str | None, external_id: str | None):
    """The customer of an org by the first identifier given (mobile, email, externalId), with
    ``wallet_id`` / ``wallet_balance`` of its points wallet and ``has_cards`` / ``has_active_card``."""
    if mobile is not None:
        lookup = Q(mobile=mobile)
    elif email is not None:
        lookup = Q(email__iexact=email)
    else:
        lookup = Q(external_id=external_id)
    cards = Card.objects.filter(customer=OuterRef("pk"))
    return (
        Customer.objects.filter(lookup, org_id=org_id)
        .annotate(
            wallet_id=Subquery(_points_wallet("customer").values("id")[:1]),
            wallet_balance=Subquery(_points_wallet("customer").values("balance")[:1]),
            has_cards=Exists(cards),
            has_active_card=Exists(cards.filter(status=Card.Status.ACTIVE)),
        )
        .only("id", "org_id", "external_id", "email", "mobile")
        .first()
    )


def customer_segment_ids(*, customer_id: int, segment_ids: Iterable[int]) -> set[int]:
    return set(
        CustomerSegment.objects.filter(customer_id=customer_id, segment_id__in=set(segment_ids)).values_list(
            "segment_id", flat=True
        )
    )


def group_for_issue(
    *, org_id: int, customer_id: int, group_id: int | None, external_id: str | None, primary_user_id: str | None
):
    """The loyalty group of an org that every given reference names, with ``is_member`` and its
    points wallet (``wallet_id``, ``wallet_balance``); ``None`` if there is none."""
    lookup = Q(org_id=org_id)
    if group_id is not None:
        lookup &= Q(pk=group_id)
    if external_id is not None:
        lookup &= Q(external_id=external_id)
    if primary_user_id is not None:
        primary = Q(primary__external_id=primary_user_id)
        if primary_user_id.isdigit() and int(primary_user_id) < 2**63:
            primary |= Q(primary_id=int(primary_user_id))
        lookup &= primary
    return (
        CustomerGroup.objects.filter(lookup)
        .annotate(
            is_member=Exists(GroupMember.objects.filter(group=OuterRef("pk"), customer_id=customer_id)),
            wallet_id=Subquery(_points_wallet("group").values("id")[:1]),
            wallet_balance=Subquery(_points_wallet("group").values("balance")[:1]),
        )
        .only("id", "org_id")
        .first()
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
    lookup = Q()
    for org_id, request_key in keys:
        lookup |= Q(org_id=org_id, request_key=request_key)
    found = IssueRequest.objects.filter(lookup).select_related(
        "issue", "issue__reward", "issue__payment_config", "issue__promotion"
    )
    return {(r.org_id, r.request_key): r for r in found}


def reward_issue_with_details(*, request_pk: int) -> RewardIssue | None:
    return (
        RewardIssue.objects.filter(idempotency_id=request_pk)
        .select_related("reward", "payment_config", "promotion")
        .first()
    )


def promotion_units_held(*, org_id: int, customer_id: int, promotion_id: int) -> int:
    return sum(
        RewardIssue.objects.filter(org_id=org_id, customer_id=customer_id, promotion_id=promotion_id).values_list(
            "quantity", flat=True
        )
    )
