"""Reads of the back office: the staff's org scope, customer search, Customer 360 and the
dashboard. They read across every app, so they sit above them all."""

import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalogue.models import RewardIssue
from core.money import ZERO, to_money
from coupons.models import Coupon, CouponPool
from coupons.selectors import available_by_pool
from orgs.models import Customer, CustomerGroup
from wallets.models import Discrepancy, EarnedReward, LedgerEntry, PointsRedemption, RedemptionCall, Wallet

# --- back office ------------------------------------------------------------------------

LEDGER_PAGE_SIZE = 20
SEARCH_LIMIT = 50
LISTED = 50  # rows of each kind on the Customer 360 page (newest first)


def staff_visible_org_ids(*, user) -> set[int] | None:
    """The orgs a staff member may see: ``None`` means all of them.

    For now every staff member sees every org (one operator runs the engine for all its
    tenants); the roles decide what they may *do*. Scoping staff to orgs means returning a
    set here, and every back-office read goes through this function.
    """
    return None


def _visible(queryset, *, user, field: str = "org_id"):
    org_ids = staff_visible_org_ids(user=user)
    return queryset if org_ids is None else queryset.filter(**{f"{field}__in": org_ids})


def customer_search(*, query: str, user, limit: int = SEARCH_LIMIT) -> list[Customer]:
    """Customers matching ``query`` by user key, external id, email or mobile, in every org the user
    may see: exact matches first, then partial ones (contains, case-insensitive)."""
    query = query.strip()
    if not query:
        return []
    customers = _visible(Customer.objects.select_related("org"), user=user)
    exact = Q(external_id=query) | Q(email__iexact=query) | Q(mobile=query)
    with contextlib.suppress(ValueError):
        exact |= Q(user_key=uuid.UUID(query))
    found = list(customers.filter(exact).order_by("org_id", "id")[:limit])
    if len(found) < limit and len(query) >= 3:
        partial = Q(external_id__icontains=query) | Q(email__icontains=query) | Q(mobile__contains=query)
        seen = [customer.pk for customer in found]
        found += list(customers.filter(partial).exclude(pk__in=seen).order_by("org_id", "id")[: limit - len(found)])
    return found


@dataclass
class WalletView:
    wallet: Wallet
    owner: str
    entries: Page


@dataclass
class Customer360:
    customer: Customer
    segments: list
    cards: list
    groups: list[CustomerGroup]
    wallets: list[WalletView]
    earned_rewards: list[EarnedReward]
    redemption_calls: list[RedemptionCall]
    reward_issues: list[RewardIssue]
    coupons: list[Coupon]
    notes: list
    referrer_chain: list[Customer]  # the referrer, its referrer, ... (at most REFERRER_DEPTH)
    referees: list[Customer]  # each with ``referee_count``: how many they referred in turn
    referee_count: int
    points_redemptions: list = field(default_factory=list)  # at the till, with their reversals


def customer_360(*, customer_id: int, user, ledger_pages: dict[int, str] | None = None) -> Customer360 | None:
    """Everything about one customer, a fixed number of queries however much they have."""
    customer = _visible(Customer.objects.select_related("org"), user=user).filter(pk=customer_id).first()
    if customer is None:
        return None
    groups = list(customer.loyalty_groups.order_by("id"))
    wallets = list(
        Wallet.objects.filter(Q(customer=customer) | Q(group__in=[group.pk for group in groups]))
        .select_related("group")
        .order_by("group_id", "kind")
    )
    wallet_views = []
    for wallet in wallets:
        entries = LedgerEntry.objects.filter(wallet=wallet).order_by("-id")
        page = Paginator(entries, LEDGER_PAGE_SIZE).get_page((ledger_pages or {}).get(wallet.pk))
        owner = f"group {wallet.group_id}" if wallet.group_id else "own"
        wallet_views.append(WalletView(wallet=wallet, owner=owner, entries=page))
    return Customer360(
        customer=customer,
        segments=list(customer.segments.order_by("name")),
        cards=list(customer.cards.order_by("number")),
        groups=groups,
        wallets=wallet_views,
        earned_rewards=list(
            EarnedReward.objects.filter(org_id=customer.org_id, customer=customer)
            .select_related("campaign", "conversion__customer")
            .order_by("-earned_at", "-id")[:LISTED]
        ),
        redemption_calls=list(
            RedemptionCall.objects.filter(org_id=customer.org_id, customer=customer)
            .select_related("reversal")
            .order_by("-id")[:LISTED]
        ),
        reward_issues=list(
            RewardIssue.objects.filter(org_id=customer.org_id, customer=customer)
            .select_related("reward", "revocation")
            .order_by("-id")[:LISTED]
        ),
        points_redemptions=list(
            PointsRedemption.objects.filter(org_id=customer.org_id, customer=customer)
            .prefetch_related("reversals")
            .order_by("-id")[:LISTED]
        ),
        coupons=list(
            Coupon.objects.filter(org_id=customer.org_id, holder=customer)
            .select_related("pool")
            .order_by("-id")[:LISTED]
        ),
        notes=list(customer.notes.order_by("-id")[:LISTED]),
        referrer_chain=_referrer_chain(customer),
        referees=list(
            Customer.objects.filter(org_id=customer.org_id, referrer_id=customer.pk)
            .annotate(referee_count=Count("referees"))
            .order_by("registered_at", "id")[:LISTED]
        ),
        referee_count=Customer.objects.filter(org_id=customer.org_id, referrer_id=customer.pk).count(),
    )


REFERRER_DEPTH = 5


def _referrer_chain(customer: Customer) -> list[Customer]:
    """Up the referral tree from ``customer``, one query per level, at most ``REFERRER_DEPTH``."""
    chain, seen, next_id = [], {customer.pk}, customer.referrer_id
    while next_id is not None and next_id not in seen and len(chain) < REFERRER_DEPTH:
        up = Customer.objects.filter(pk=next_id).only("external_id", "referrer_id").first()
        if up is None:
            break
        chain.append(up)
        seen.add(up.pk)
        next_id = up.referrer_id
    return chain


# --- the dashboard on the admin index --------------------------------------------------------


@dataclass
class DayFigures:
    day: object
    redemptions: int = 0
    credits_redeemed: Decimal = ZERO
    issues: int = 0
    points_redeemed: Decimal = ZERO


def dashboard_figures(*, user, days: int = 30) -> list[DayFigures]:
    """Per day of the last ``days`` days (today last): successful redemptions and the credits they
    moved, issued rewards and the points they took. Two grouped queries."""
    today = timezone.localdate()
    since = today - timedelta(days=days - 1)
    start = timezone.make_aware(timezone.datetime.combine(since, timezone.datetime.min.time()))
    figures = {since + timedelta(days=n): DayFigures(day=since + timedelta(days=n)) for n in range(days)}
    redemptions = (
        _visible(RedemptionCall.objects, user=user)
        .filter(created_at__gte=start, status_code=1, replayed=False)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"), amount=Sum("amount"))
    )
    for row in redemptions:
        if row["day"] in figures:
            figures[row["day"]].redemptions, figures[row["day"]].credits_redeemed = (
                row["n"],
                to_money(row["amount"] or ZERO),
            )
    issues = (
        _visible(RewardIssue.objects, user=user)
        .filter(created_at__gte=start, status=RewardIssue.Status.ISSUED)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"), points=Sum("points"))
    )
    for row in issues:
        if row["day"] in figures:
            figures[row["day"]].issues, figures[row["day"]].points_redeemed = row["n"], to_money(row["points"] or ZERO)
    return [figures[day] for day in sorted(figures)]


def pools_low_on_stock(*, user, limit: int = 20) -> list[CouponPool]:
    """Pools whose available, unexpired coupons are fewer than their low-stock threshold, emptiest first."""
    available = available_by_pool()
    low = []
    for pool in _visible(CouponPool.objects, user=user).select_related("org").order_by("id"):
        pool.available = available.get(pool.pk, 0)
        if pool.available < pool.low_stock_threshold:
            low.append(pool)
    return sorted(low, key=lambda pool: (pool.available, pool.pk))[:limit]


@dataclass
class Discrepancies:
    open_count: int = 0
    latest: list | None = None


def open_discrepancies(*, user, limit: int = 10) -> Discrepancies:
    """Open reconciliation findings (``wallets.Discrepancy``), newest first."""
    queryset = _visible(Discrepancy.objects.filter(resolved_at__isnull=True), user=user)
    return Discrepancies(open_count=queryset.count(), latest=list(queryset.order_by("-last_seen", "-pk")[:limit]))
