"""Reads of earned rewards: campaign rules, a user's balances, one reward's status."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Case, DecimalField, F, Q, Sum, Value, When

from core.local_cache import LocalCache
from core.money import ZERO, to_money
from orgs.models import Campaign, Customer
from orgs.selectors import campaign_is_eligible, customer_segment_ids

from .models import CampaignRule, EarnedReward

# The active rules of an org with their campaigns, per event name (lower-cased), kept per process
# for CATALOGUE_CACHE_SECONDS like the catalogue: a change saved through the ORM clears this
# process's copy at once (signals, ``apps.py``), other processes see it within the TTL.
_rules_cache = LocalCache(ttl_setting="CATALOGUE_CACHE_SECONDS")


def rules_cache_clear(**_signal_kwargs) -> None:
    _rules_cache.clear()


def rules_for_event(*, org_id: int, event_name: str) -> list[CampaignRule]:
    """The org's active rules for this event name (case-insensitive), with their campaigns, in id
    order. Treat them as read-only: later calls of this process may share them."""
    key = (org_id, event_name.lower())
    rules = _rules_cache.get(key)
    if rules is None:
        rules = list(
            CampaignRule.objects.select_related("campaign")
            .filter(org_id=org_id, event__iexact=event_name, active=True)
            .order_by("id")
        )
        _rules_cache.set(key, rules)
    return rules


def reward_by_code(*, org_id: int, code: str) -> EarnedReward | None:
    return (
        EarnedReward.objects.select_related("campaign", "customer").filter(org_id=org_id, code=code).first()
        if len(code) <= 100
        else None
    )


# --- balances (getuserbalance) -------------------------------------------------------------------


@dataclass
class Amounts:
    total: Decimal = ZERO  # approved, redeemed or not
    claimed: Decimal = ZERO  # the redeemed part
    pending: Decimal = ZERO  # what Redeem Rewards by amount could move now
    under_review: Decimal = ZERO

    def add(self, other: Amounts) -> None:
        self.total += other.total
        self.claimed += other.claimed
        self.pending += other.pending
        self.under_review += other.under_review


@dataclass
class CampaignBalance:
    campaign: Campaign
    amounts: Amounts


@dataclass
class GrowthHackBalance:
    growth_hack: str
    amounts: Amounts = field(default_factory=Amounts)
    campaigns: list[CampaignBalance] = field(default_factory=list)


@dataclass
class Balance:
    amounts: Amounts = field(default_factory=Amounts)
    growth_hacks: list[GrowthHackBalance] = field(default_factory=list)


_CAMPAIGN_FIELDS = ("code", "name", "growth_hack", "reward_unit", "active", "ends_at", "eligible_segment")
_MONEY = DecimalField(max_digits=14, decimal_places=2)
_APPROVED = Q(review_status=EarnedReward.Review.APPROVED)


def user_balance(*, customer: Customer, campaign: Campaign | None = None, growth_hack: str | None = None) -> Balance:
    """The user's WALLET rewards by growth hack and campaign, in one grouped query.

    Rejected and suspicious rewards count nowhere; rewards of campaigns the user is no longer
    eligible for count in ``total`` and ``claimed`` but not in ``pending``.
    """
    rows = (
        EarnedReward.objects.filter(
            org_id=customer.org_id, customer_id=customer.pk, campaign__reward_type=Campaign.RewardType.WALLET
        )
        .filter(Q(campaign_id=campaign.pk) if campaign is not None else Q())
        .filter(Q(campaign__growth_hack=growth_hack) if growth_hack is not None else Q())
        .filter(review_status__in=[EarnedReward.Review.APPROVED, EarnedReward.Review.UNDER_REVIEW])
        .order_by()
        .values("campaign_id", *(f"campaign__{name}" for name in _CAMPAIGN_FIELDS))
        .annotate(
            total=Sum(Case(When(_APPROVED, then=F("amount")), default=Value(ZERO), output_field=_MONEY)),
            claimed=Sum(Case(When(_APPROVED, then=F("redeemed_amount")), default=Value(ZERO), output_field=_MONEY)),
            unclaimed=Sum(
                Case(
                    When(_APPROVED & Q(status=EarnedReward.Status.UNREDEEMED), then=F("amount") - F("redeemed_amount")),
                    default=Value(ZERO),
                    output_field=_MONEY,
                )
            ),
            under_review=Sum(
                Case(
                    When(review_status=EarnedReward.Review.UNDER_REVIEW, then=F("amount")),
                    default=Value(ZERO),
                    output_field=_MONEY,
                )
            ),
        )
    )
    rows = list(rows)
    campaigns = {
        row["campaign_id"]: Campaign(
            pk=row["campaign_id"],
            org_id=customer.org_id,
            **{Campaign._meta.get_field(name).attname: row[f"campaign__{name}"] for name in _CAMPAIGN_FIELDS},
        )
        for row in rows
    }
    segment_ids = None
    if any(c.eligible_segment_id is not None for c in campaigns.values()):
        segment_ids = customer_segment_ids(customer=customer)
    balance = Balance()
    by_hack: dict[str, GrowthHackBalance] = {}
    for row in sorted(rows, key=lambda row: row["campaign__code"]):
        shown = campaigns[row["campaign_id"]]
        eligible = campaign_is_eligible(campaign=shown, customer=customer, segment_ids=segment_ids or set())
        amounts = Amounts(
            total=to_money(row["total"] or ZERO),
            claimed=to_money(row["claimed"] or ZERO),
            pending=to_money(row["unclaimed"] or ZERO) if eligible else ZERO,
            under_review=to_money(row["under_review"] or ZERO),
        )
        hack = by_hack.get(shown.growth_hack)
        if hack is None:
            hack = by_hack[shown.growth_hack] = GrowthHackBalance(growth_hack=shown.growth_hack)
            balance.growth_hacks.append(hack)
        hack.campaigns.append(CampaignBalance(campaign=shown, amounts=amounts))
        hack.amounts.add(amounts)
        balance.amounts.add(amounts)
    return balance
