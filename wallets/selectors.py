"""Reads of earned rewards: campaign rules, a user's balances, one reward's status."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.utils import timezone

from core.local_cache import LocalCache
from core.money import MONEY_PLACES, ZERO
from orgs.errors import UnknownCampaign, UnknownGrowthHack, UnknownUser, UnknownUserKey
from orgs.models import Customer
from orgs.selectors import customer_key, growth_hack_named

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
    code: str
    name: str
    reward_unit: str
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


def _user_balance_rows(
    *, org_id: int, column: str, found_by, campaign_code: str | None, growth_hack: str | None
) -> list[tuple]:
    """The rows of ``sql.USER_BALANCE`` for the user whose ``column`` is ``found_by`` (its value as
    the model holds it): from the function ``sql.USER_BALANCE_CALL`` names where there is one,
    else from the statement itself."""
    call = sql.USER_BALANCE_CALL.get(connection.vendor)
    with connection.cursor() as cursor:
        if call is not None:
            cursor.execute(call, (org_id, column, str(found_by), timezone.now(), campaign_code, growth_hack))
        else:
            params = {
                "org": org_id,
                "value": Customer._meta.get_field(column).get_db_prep_value(found_by, connection),  # a UUID as stored
                "now": connection.ops.adapt_datetimefield_value(timezone.now()),
                "code": campaign_code,
                "growth_hack": growth_hack,
            }
            cursor.execute(_user_balance_statement(column, campaign_code is not None, growth_hack is not None), params)
        return cursor.fetchall()


@functools.cache
def _user_balance_statement(column: str, by_campaign: bool, by_growth_hack: bool) -> str:
    filters = (" AND c.code = %(code)s" if by_campaign else "") + (
        " AND c.growth_hack = %(growth_hack)s" if by_growth_hack else ""
    )
    return sql.USER_BALANCE.format(
        column=column, filters=filters, campaign=sql.USER_BALANCE_CAMPAIGN if by_campaign else "NULL"
    )


def user_balance(
    *, org_id: int, kind: str, value: str, campaign_code: str | None = None, growth_hack: str | None = None
) -> Balance:
    """The WALLET rewards of the org's user with this identifier (``orgs.selectors.CUSTOMER_IDENTIFIERS``)
    by growth hack and campaign, in one statement that also finds the user: plain rows, no models.

    Raises, in the contract's order: ``UnknownUserKey`` / ``UnknownUser``, ``UnknownGrowthHack``
    (``growth_hack`` is the name as sent), ``UnknownCampaign``. Rejected and suspicious rewards
    count nowhere; rewards of campaigns the user is no longer eligible for count in ``total`` and
    ``claimed`` but not in ``pending``.
    """
    key = customer_key(kind=kind, value=value)
    if key is None:
        raise (UnknownUserKey if kind == "user_key" else UnknownUser)(identifier=value)
    hack, hack_error = None, None
    if growth_hack is not None:
        try:
            hack = growth_hack_named(growth_hack)
        except UnknownGrowthHack as error:  # raised once the user is known (user errors come first)
            hack_error = error
    rows = _user_balance_rows(
        org_id=org_id, column=key[0], found_by=key[1], campaign_code=campaign_code, growth_hack=hack
    )
    if not rows:
        raise (UnknownUserKey if kind == "user_key" else UnknownUser)(identifier=value)
    if hack_error is not None:
        raise hack_error
    if campaign_code is not None and rows[0][1] is None:
        raise UnknownCampaign(campaign=campaign_code)
    balance = Balance()
    by_hack: dict[str, GrowthHackBalance] = {}
    for _, _, code, name, growth_hack_of, unit, eligible, total, claimed, unclaimed, under_review in rows:
        if code is None:  # the user without WALLET rewards
            continue
        amounts = Amounts(
            total=_cents(total),
            claimed=_cents(claimed),
            pending=_cents(unclaimed) if eligible else ZERO,
            under_review=_cents(under_review),
        )
        shown = by_hack.get(growth_hack_of)
        if shown is None:
            shown = by_hack[growth_hack_of] = GrowthHackBalance(growth_hack=growth_hack_of)
            balance.growth_hacks.append(shown)
        shown.campaigns.append(CampaignBalance(code=code, name=name, reward_unit=unit, amounts=amounts))
        shown.amounts.add(amounts)
        balance.amounts.add(amounts)
    return balance
