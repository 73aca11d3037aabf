"""Reads of the catalogue for one customer (Capillary ``GET /v1.1/user/rewards[/{rewardId}]``
and ``GET /v1.1/reward-transactions``), with the same eligibility as Issue Reward."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import CharField, Q, Value
from django.utils import timezone

from .eligibility import customer_refusal
from .models import CatalogueReward, IssueRefusal, RewardIssue
from .selectors import customer_segment_ids, rewards_for_issue


@dataclass(frozen=True)
class Page:
    items: list
    total: int


def _issuable(*, customer, reward_ids: list[int]) -> list[CatalogueReward]:
    rewards = rewards_for_issue(reward_ids=reward_ids)
    wanted = {s for reward in rewards.values() for s in reward.segment_ids}
    segments = customer_segment_ids(customer_id=customer.pk, segment_ids=wanted) if wanted else set()
    now = timezone.now()
    return [
        rewards[pk]
        for pk in sorted(rewards)
        if rewards[pk].org_id == customer.org_id
        and customer_refusal(reward=rewards[pk], customer=customer, segments=segments, now=now) is None
    ]


def rewards_issuable(*, customers: list, page: int, size: int) -> Page:
    """The rewards these customers (one per org, from ``customer_for_issue``) can be issued now,
    by reward id, one page of them."""
    found: list[CatalogueReward] = []
    for customer in customers:
        enabled = CatalogueReward.objects.filter(org_id=customer.org_id, enabled=True)
        ids = list(enabled.order_by("id").values_list("id", flat=True))
        found += _issuable(customer=customer, reward_ids=ids)
    found.sort(key=lambda reward: reward.pk)
    return Page(items=found[page * size : (page + 1) * size], total=len(found))


def reward_issuable(*, customers: list, reward_id: int) -> CatalogueReward | None:
    """The reward if one of these customers can be issued it now."""
    for customer in customers:
        found = _issuable(customer=customer, reward_ids=[reward_id])
        if found:
            return found[0]
    return None


def issue_records(*, customers: list, issued: bool | None, reward_id: int | None, page: int, size: int) -> Page:
    """The customers' issue records, newest first: the rewards issued (``RewardIssue``, ``issued``
    true) and the lines refused (``IssueRefusal``, ``issued`` false), or both (``issued`` None)."""
    if not customers:
        return Page(items=[], total=0)
    owners = Q()
    for customer in customers:
        owners |= Q(org_id=customer.org_id, customer_id=customer.pk)
    if reward_id is not None:
        owners &= Q(reward_id=reward_id)
    kinds = {
        "issued": (RewardIssue, ("reward", "payment_config", "promotion", "revocation")),
        "refused": (IssueRefusal, ("payment_config",)),
    }
    if issued is not None:
        del kinds["refused" if issued else "issued"]
    if len(kinds) == 1:
        ((model, related),) = kinds.values()
        records = model.objects.filter(owners)
        items = list(records.select_related(*related).order_by("-id")[page * size : (page + 1) * size])
        return Page(items=items, total=records.count())
    # both: one page of (created_at, kind, id) across the two tables, then its rows
    keys = [
        model.objects.filter(owners)
        .order_by()  # no ordering inside a compound statement (SQLite refuses one)
        .values_list("created_at", Value(kind, output_field=CharField()), "id")
        for kind, (model, _) in kinds.items()
    ]
    ordered = keys[0].union(keys[1], all=True).order_by("-created_at", "-id")
    found = list(ordered[page * size : (page + 1) * size])
    rows = {
        kind: model.objects.select_related(*related).in_bulk([pk for _, k, pk in found if k == kind])
        for kind, (model, related) in kinds.items()
    }
    total = sum(model.objects.filter(owners).count() for model, _ in kinds.values())
    return Page(items=[rows[kind][pk] for _, kind, pk in found], total=total)
