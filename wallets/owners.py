"""Who pays with points: a customer of an org (by mobile, email, external id or id) or a loyalty
group, each with its points wallet. One lookup for Issue Reward and the till calls alike."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, OuterRef, Q, Subquery

from core.numbers import NumberInvalid, id_parse
from orgs.models import Customer, CustomerGroup, GroupMember
from orgs.selectors import customer_lookup_key

from .models import Wallet


@dataclass(frozen=True)
class GroupRef:
    """user_group2 (``group_for_issue``): any non-null field makes the call a group loyalty redemption."""

    group_id: int | None = None
    external_id: str | None = None
    primary_user_id: str | None = None

    @property
    def given(self) -> bool:
        return self.group_id is not None or self.external_id is not None or self.primary_user_id is not None


# {column}: one of orgs.selectors.CUSTOMER_IDENTIFIERS' columns as customer_key names it, or id.
# Each is unique in its org (a unique index each): at most one row, and with no ORDER BY the
# planner takes that index even on a table without statistics (ORDER BY c.id LIMIT 1 made it
# walk the primary key instead, reading every customer before the one asked for).
_CUSTOMER_SQL = """
    SELECT c.id, c.org_id, c.external_id, c.email, c.mobile, w.id, w.balance,
           EXISTS(SELECT 1 FROM orgs_card k WHERE k.customer_id = c.id),
           EXISTS(SELECT 1 FROM orgs_card k WHERE k.customer_id = c.id AND k.status = 'ACTIVE'),
           o.points_currency_ratio
      FROM orgs_customer c
      JOIN orgs_org o ON o.id = c.org_id
      LEFT JOIN wallets_wallet w ON w.customer_id = c.id AND w.org_id = c.org_id AND w.kind = 'POINTS'
     WHERE c.org_id = %s AND c.{column} = %s
"""


_CUSTOMER_FIELDS = ("id", "org_id", "external_id", "email", "mobile")


def _decimal(value, places: str) -> Decimal | None:
    """SQLite hands numeric columns back as floats or ints: back to the column's exact decimal."""
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal(places))


def customer_for_issue(
    *,
    org_id: int,
    mobile: str | None,
    email: str | None,
    external_id: str | None,
    customer_id: int | None = None,
):
    """The customer of an org by the first identifier given (mobile, email, externalId, then
    this service's customer id), with ``wallet_id`` / ``wallet_balance`` of its points wallet,
    ``has_cards`` / ``has_active_card`` and ``points_currency_ratio`` (its org's). One statement:
    it runs on every issue and till call. The identifier matches as in Redeem Rewards
    (``orgs.selectors.customer_key``: an email as stored, normalised)."""
    key = customer_lookup_key(mobile=mobile, email=email, external_id=external_id, customer_id=customer_id)
    if key is None:
        return None
    column, value = key
    with connection.cursor() as cursor:
        cursor.execute(_CUSTOMER_SQL.format(column=column), [org_id, value])
        row = cursor.fetchone()
    if row is None:
        return None
    # As the ORM builds a row it read: the other fields deferred, none of their defaults (a new
    # user_key, referral code, timestamps) computed for nothing.
    customer = Customer.from_db(connection.alias, _CUSTOMER_FIELDS, row[:5])
    customer.wallet_id, customer.wallet_balance = row[5], _decimal(row[6], "0.01")
    customer.has_cards, customer.has_active_card = bool(row[7]), bool(row[8])
    customer.points_currency_ratio = _decimal(row[9], "0.000001")
    return customer


def _points_wallet(owner: str):
    return Wallet.objects.filter(**{owner: OuterRef("pk")}, kind=Wallet.Kind.POINTS, org_id=OuterRef("org_id"))


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
        with suppress(NumberInvalid):
            primary |= Q(primary_id=id_parse(primary_user_id))
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
