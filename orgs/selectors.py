"""Reads of orgs, credentials and customers."""

import hashlib
import uuid

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone

from .models import AppCredential, Campaign, Customer, Org, secret_matches


def app_authenticate(*, apikey: str, privatekey: str) -> Org | None:
    """The org whose AppVirality credentials these are, or None. Constant-time key comparison.

    The credential is kept per process for ``CREDENTIALS_CACHE_SECONDS`` (unknown
    apikeys too, so that a flood of bad keys does not reach the database).
    """
    cache_key = "appvirality-app:" + hashlib.sha256(apikey.encode()).hexdigest()
    local = caches["local"]
    known = local.get(cache_key)
    if known is None:
        credential = AppCredential.objects.select_related("org").filter(apikey=apikey).first()
        known = (credential.org, credential.privatekey_digest) if credential else (None, "")
        local.set(cache_key, known, settings.CREDENTIALS_CACHE_SECONDS)
    org, digest = known
    if org is None or not secret_matches(privatekey, digest):
        return None
    return org


def customer_by_user_key(*, org_id: int, user_key: str) -> Customer | None:
    try:
        key = uuid.UUID(user_key)
    except ValueError:
        return None
    return Customer.objects.filter(org_id=org_id, user_key=key).first()


def customer_by_external_id(*, org_id: int, external_id: str) -> Customer | None:
    return Customer.objects.filter(org_id=org_id, external_id=external_id).first()


def customer_by_email(*, org_id: int, email: str) -> Customer | None:
    """Emails are stored lower-cased; the lookup is case-insensitive through the unique index."""
    return Customer.objects.filter(org_id=org_id, email=email.strip().lower()).first()


def customer_segment_ids(*, customer: Customer) -> set[int]:
    return set(customer.segments.values_list("id", flat=True))


def campaign_by_code(*, org_id: int, code: str) -> Campaign | None:
    return Campaign.objects.filter(org_id=org_id, code=code).first()


def campaign_is_eligible(*, campaign: Campaign, customer: Customer, segment_ids: set[int] | None = None) -> bool:
    """Active, not ended, the user in its eligible segment (if any), and the user not blocked."""
    if customer.blocked or not campaign.active:
        return False
    if campaign.ends_at is not None and campaign.ends_at <= timezone.now():
        return False
    if campaign.eligible_segment_id is None:
        return True
    if segment_ids is None:
        segment_ids = customer_segment_ids(customer=customer)
    return campaign.eligible_segment_id in segment_ids
