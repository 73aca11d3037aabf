"""Reads of orgs, credentials, customers and campaigns."""

import uuid
from dataclasses import dataclass

from django.utils import timezone

from .errors import UnknownCampaign, UnknownGrowthHack, UnknownUser, UnknownUserKey
from .models import Campaign, Customer, email_normalized

# The identifiers a customer is found by, and the column each is looked up in: both APIs find
# customers through ``customer_key`` (Redeem Rewards through ``customer_find``, Issue Reward in
# its one-statement read), so an identifier matches in one way everywhere.
CUSTOMER_IDENTIFIERS = ("user_key", "external_id", "email", "mobile")


def customer_key(*, kind: str, value: str) -> tuple[str, object] | None:
    """(column, value) that finds the customer with this identifier, or None when no customer can
    have it (a user key that is not a UUID). Emails match as they are stored: normalised."""
    if kind == "user_key":
        try:
            return "user_key", uuid.UUID(value)
        except ValueError:
            return None
    if kind == "email":
        email = email_normalized(value)
        return ("email", email) if email else None
    if kind in ("external_id", "mobile"):
        return kind, value
    raise ValueError(f"not a customer identifier: {kind!r}")


def customer_lookup_key(
    *, mobile: str | None, email: str | None, external_id: str | None, customer_id: int | None = None
) -> tuple[str, object] | None:
    """(column, value) of the first identifier given (mobile, email, externalId, then this
    service's customer id), or None when none is given or none can match."""
    if mobile is not None:
        return customer_key(kind="mobile", value=mobile)
    if email is not None:
        return customer_key(kind="email", value=email)
    if external_id is not None:
        return customer_key(kind="external_id", value=external_id)
    if customer_id is not None:
        return ("id", customer_id)
    return None


def customer_by_key(*, org_id: int, key: tuple[str, object]) -> Customer | None:
    """The org's customer found by ``customer_key`` / ``customer_lookup_key``'s (column, value)."""
    column, value = key
    return Customer.objects.filter(org_id=org_id, **{column: value}).order_by("id").first()


def customer_find(*, org_id: int, kind: str, value: str) -> Customer | None:
    """The org's customer with this identifier (``CUSTOMER_IDENTIFIERS``), or None."""
    key = customer_key(kind=kind, value=value)
    return customer_by_key(org_id=org_id, key=key) if key is not None else None


def customer_segment_ids(*, customer: Customer) -> set[int]:
    return set(customer.segments.values_list("id", flat=True))


# Growth hacks by name, case-insensitive: "referral" is another name of word of mouth.
GROWTH_HACKS = {
    "word_of_mouth": Campaign.GrowthHack.WORD_OF_MOUTH,
    "referral": Campaign.GrowthHack.WORD_OF_MOUTH,
    "loyalty_program": Campaign.GrowthHack.LOYALTY_PROGRAM,
}


def growth_hack_named(name: str) -> str:
    """The campaigns' growth hack called ``name``; raises ``UnknownGrowthHack``."""
    try:
        return GROWTH_HACKS[name.lower()]
    except KeyError:
        raise UnknownGrowthHack(name=name) from None


def campaign_by_code(*, org_id: int, code: str) -> Campaign | None:
    return Campaign.objects.filter(org_id=org_id, code=code).first()


def campaign_is_open(*, campaign: Campaign) -> bool:
    """Active and not ended: what eligibility asks of the campaign itself, whoever the user."""
    return campaign.active and (campaign.ends_at is None or campaign.ends_at > timezone.now())


def campaign_is_eligible(*, campaign: Campaign, customer: Customer, segment_ids: set[int] | None = None) -> bool:
    """Active, not ended, the user in its eligible segment (if any), and the user not blocked."""
    if customer.blocked or not campaign_is_open(campaign=campaign):
        return False
    if campaign.eligible_segment_id is None:
        return True
    if segment_ids is None:
        segment_ids = customer_segment_ids(customer=customer)
    return campaign.eligible_segment_id in segment_ids


def customer_identify(*, org_id: int, kind: str, value: str) -> Customer:
    """The app's user with this identifier (``CUSTOMER_IDENTIFIERS``); raises ``UnknownUserKey``
    for a user key, ``UnknownUser`` for the others."""
    customer = customer_find(org_id=org_id, kind=kind, value=value)
    if customer is None:
        raise (UnknownUserKey if kind == "user_key" else UnknownUser)(identifier=value)
    return customer


def customer_by_referral_code(*, org_id: int, code: str) -> Customer | None:
    """Referral codes are stored upper-case and matched case-insensitively."""
    return Customer.objects.filter(org_id=org_id, referral_code=code.strip().upper()).first()


@dataclass(frozen=True)
class FriendsPage:
    friends: list[Customer]
    total: int


def friends_page(*, customer: Customer, page_index: int, page_size: int) -> FriendsPage:
    """The users this user referred, oldest registration first, one page of them (index from 1)."""
    referees = Customer.objects.filter(org_id=customer.org_id, referrer_id=customer.pk)
    start = (page_index - 1) * page_size
    friends = list(
        referees.order_by("registered_at", "id").only("email", "external_id", "name", "registered_at")[
            start : start + page_size
        ]
    )
    total = len(friends) + start if 0 < len(friends) < page_size else referees.count()
    return FriendsPage(friends=friends, total=total)


def campaign_named(*, org_id: int, code: str) -> Campaign:
    """The app's campaign with this AppVirality campaignId; ``UnknownCampaign`` if none."""
    campaign = campaign_by_code(org_id=org_id, code=code)
    if campaign is None:
        raise UnknownCampaign(campaign=code)
    return campaign
