"""Reads of earned rewards: campaign rules, a user's balances, one reward's status."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.utils.dateparse import parse_datetime

from core.local_cache import LocalCache
from core.money import MONEY_PLACES, ZERO
from orgs.models import Campaign, Customer
from orgs.selectors import campaign_is_eligible, customer_segment_ids

from . import sql
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


def _cents(value) -> Decimal:
    """A sum as the database gives it (Decimal; a float on SQLite) in cents."""
    return Decimal(str(value or 0)).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)


def user_balance(*, customer: Customer, campaign: Campaign | None = None, growth_hack: str | None = None) -> Balance:
    """The user's WALLET rewards by growth hack and campaign, in one grouped statement.

    Rejected and suspicious rewards count nowhere; rewards of campaigns the user is no longer
    eligible for count in ``total`` and ``claimed`` but not in ``pending``.
    """
    filters, params = "", {"org": customer.org_id, "customer": customer.pk}
    if campaign is not None:
        filters, params["campaign"] = filters + " AND c.id = %(campaign)s", campaign.pk
    if growth_hack is not None:
        filters, params["growth_hack"] = filters + " AND c.growth_hack = %(growth_hack)s", growth_hack
    with connection.cursor() as cursor:
        cursor.execute(sql.USER_BALANCE.format(filters=filters), params)
        rows = cursor.fetchall()
    campaigns = {}
    for pk, code, name, hack, unit, active, ends_at, segment_id, *_ in rows:
        if isinstance(ends_at, str):  # SQLite's raw cursor
            ends_at = parse_datetime(ends_at)
        campaigns[pk] = Campaign(
            pk=pk,
            org_id=customer.org_id,
            code=code,
            name=name,
            growth_hack=hack,
            reward_unit=unit,
            active=bool(active),
            ends_at=ends_at,
            eligible_segment_id=segment_id,
        )
    segment_ids = None
    if any(c.eligible_segment_id is not None for c in campaigns.values()):
        segment_ids = customer_segment_ids(customer=customer)
    balance = Balance()
    by_hack: dict[str, GrowthHackBalance] = {}
    for pk, *_, total, claimed, unclaimed, under_review in rows:
        shown = campaigns[pk]
        eligible = campaign_is_eligible(campaign=shown, customer=customer, segment_ids=segment_ids or set())
        amounts = Amounts(
            total=_cents(total),
            claimed=_cents(claimed),
            pending=_cents(unclaimed) if eligible else ZERO,
            under_review=_cents(under_review),
        )
        hack = by_hack.get(shown.growth_hack)
        if hack is None:
            hack = by_hack[shown.growth_hack] = GrowthHackBalance(growth_hack=shown.growth_hack)
            balance.growth_hacks.append(hack)
        hack.campaigns.append(CampaignBalance(campaign=shown, amounts=amounts))
        hack.amounts.add(amounts)
        balance.amounts.add(amounts)
    return balance
