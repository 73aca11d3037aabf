"""Writes to orgs."""

import uuid
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from .errors import IdentifierTaken, InvalidReferrer
from .models import Customer, referral_code_new
from .selectors import customer_by_email, customer_by_external_id, customer_by_referral_code, customer_identify


def _org_owned_models():
    """Every tenant-owned model, dependents first (the order deletes must follow)."""
    from catalogue.models import (
        CatalogueReward,
        CustomFieldDefinition,
        FulfillmentStatusDefinition,
        IssueRequest,
        PaymentConfig,
        Promotion,
        RewardIssue,
        RewardIssueRevocation,
        RewardSegment,
        ValidationCode,
        VendorCall,
        VendorException,
    )
    from coupons.models import Coupon, CouponPool
    from wallets.models import (
        CampaignRule,
        ConversionEvent,
        Discrepancy,
        EarnedReward,
        IdempotencyKey,
        LedgerEntry,
        RedemptionCall,
        RedemptionReversal,
        RuleUsage,
        Wallet,
        WalletAdjustment,
    )

    from .models import (
        ApiClient,
        AppCredential,
        Campaign,
        Card,
        Customer,
        CustomerGroup,
        CustomerNote,
        CustomerSegment,
        GroupMember,
        OutboxEvent,
        Segment,
        Till,
        WebhookDelivery,
        WebhookEndpoint,
    )

    return [
        WebhookDelivery,
        OutboxEvent,
        WebhookEndpoint,
        Discrepancy,
        VendorCall,
        RedemptionReversal,
        RedemptionCall,
        IdempotencyKey,
        RewardIssueRevocation,
        RewardIssue,
        IssueRequest,
        VendorException,
        ValidationCode,
        WalletAdjustment,
        LedgerEntry,
        Wallet,
        EarnedReward,
        RuleUsage,
        ConversionEvent,
        CampaignRule,
        PaymentConfig,
        RewardSegment,
        CatalogueReward,
        Promotion,
        Coupon,
        CouponPool,
        Campaign,
        GroupMember,
        CustomerGroup,
        Card,
        CustomerSegment,
        CustomerNote,
        Customer,
        Segment,
        CustomFieldDefinition,
        FulfillmentStatusDefinition,
        Till,
        ApiClient,
        AppCredential,
    ]


@transaction.atomic
def org_purge(*, org_id: int) -> None:
    """Delete an org and everything it owns, ledger included (``load_scenario --replace``).

    The only path that may delete ledger entries: on PostgreSQL the append-only
    trigger lets them go while ``rewards.allow_ledger_purge`` is on, and it is
    switched off again before returning. Change history (django-simple-history)
    is kept.
    """
    from .models import Org, OrgConnection

    with connection.cursor() as cursor:
        _allow_ledger_purge(cursor, True)
        # Set-based, dependents first: one DELETE per table, however many rows the org has
        # (the ORM's collector would load every id of a million-coupon pool).
        for model in _org_owned_models():
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)} WHERE org_id = %s", [org_id])
        _allow_ledger_purge(cursor, False)
    OrgConnection.objects.filter(from_org_id=org_id).delete()
    OrgConnection.objects.filter(to_org_id=org_id).delete()
    Org.objects.filter(pk=org_id).delete()


def _allow_ledger_purge(cursor, allowed: bool) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(f"SET LOCAL rewards.allow_ledger_purge = '{'on' if allowed else 'off'}'")


def records_prune(*, batch: int = 10_000) -> dict:
    """Housekeeping: delete expired Idempotency-Key records, redemption call records and
    delivered events older than their retention (settings, env vars); in batches."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from events.outbox import outbox_prune
    from wallets.models import IdempotencyKey, RedemptionCall
    from wallets.services import IDEMPOTENCY_TTL

    now = timezone.now()
    key_age = max(timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS), IDEMPOTENCY_TTL)
    return {
        "idempotency_keys": _delete_in_batches(IdempotencyKey.objects.filter(created_at__lt=now - key_age), batch),
        "redemption_calls": _delete_in_batches(
            RedemptionCall.objects.filter(created_at__lt=now - timedelta(days=settings.REDEMPTION_CALL_RETENTION_DAYS)),
            batch,
        ),
        "events": outbox_prune(older_than=timedelta(days=settings.OUTBOX_RETENTION_DAYS)),
    }


def _delete_in_batches(queryset, batch: int) -> int:
    total = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        deleted, _ = queryset.model.objects.filter(pk__in=ids).delete()
        total += deleted


def customer_note_add(*, customer_id: int, text: str, staff_user):
    """A note by staff on a customer (support agents may add them; they change nothing else)."""
    from .errors import OperationRefused
    from .models import Customer, CustomerNote

    text = (text or "").strip()
    if not text:
        raise OperationRefused("a note needs some text")
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise OperationRefused(f"no customer {customer_id}")
    return CustomerNote.objects.create(
        org_id=customer.org_id,
        customer=customer,
        text=text[:5000],
        author=staff_user,
        author_username=staff_user.get_username(),
    )


# --- AppVirality users and referrals (updateuserinfo) ---------------------------------------------


@dataclass(frozen=True)
class UserInfo:
    """What ``updateuserinfo`` sends; None: not sent (the stored value stays)."""

    user_key: str | None = None
    external_id: str | None = None
    email: str | None = None
    name: str | None = None
    mobile: str | None = None
    referrer_code: str | None = None


@dataclass(frozen=True)
class UserRegistration:
    customer: Customer
    created: bool
    referrer_set: bool


def user_register(*, org_id: int, info: UserInfo) -> UserRegistration:
    """Create or update an app user and attach its referrer, in one transaction.

    The user is the one with ``user_key`` (``UnknownUserKey`` if none), else the one with the
    store id, else the one with the email; nobody: a new user (a store id is then required
    only if there is no email: an email-only user's store id is its user key). The referrer is
    set once: a later code is ignored (``referrer_set`` False). ``InvalidReferrer`` for a code
    unknown in this app, the user's own, or of a user this user referred; ``IdentifierTaken``
    for a store id or email of another user. A refusal changes nothing.
    """
    email = info.email.strip().lower() if info.email else None
    with transaction.atomic():
        customer = _user_find(org_id=org_id, info=info, email=email)
        referrer = None
        if info.referrer_code:
            referrer = customer_by_referral_code(org_id=org_id, code=info.referrer_code)
            if referrer is None:
                raise InvalidReferrer(code=info.referrer_code)
        created = customer is None
        if created:
            customer = _user_create(org_id=org_id, info=info, email=email)
            if customer is None:  # a concurrent call created this user first: update it instead
                customer, created = _user_find(org_id=org_id, info=info, email=email), False
                if customer is None:
                    raise IdentifierTaken()
        if not created:
            # Both rows locked in id order: a referral link and its reverse cannot be set at once.
            locked = {c.pk: c for c in Customer.objects.select_for_update().filter(
                pk__in=[customer.pk] + ([referrer.pk] if referrer else [])).order_by("pk")}  # fmt: skip
            customer, referrer = locked[customer.pk], locked.get(referrer.pk) if referrer else None
        if referrer is not None and (referrer.pk == customer.pk or referrer.referrer_id == customer.pk):
            raise InvalidReferrer(code=info.referrer_code)
        changed = _user_changes(customer=customer, info=info, email=email) if not created else []
        if customer.referral_code is None:  # written by a bulk loader without one
            customer.referral_code = referral_code_new()
            changed.append("referral_code")
        referrer_set = referrer is not None and customer.referrer_id is None
        if referrer_set:
            customer.referrer = referrer
            changed.append("referrer")
        if changed:
            try:
                with transaction.atomic():
                    customer.save(update_fields=changed)
            except IntegrityError as exc:
                raise IdentifierTaken() from exc
    return UserRegistration(customer=customer, created=created, referrer_set=referrer_set)


def _user_find(*, org_id: int, info: UserInfo, email: str | None) -> Customer | None:
    if info.user_key:
        return customer_identify(org_id=org_id, kind="userkey", value=info.user_key)
    found = customer_by_external_id(org_id=org_id, external_id=info.external_id) if info.external_id else None
    if found is None and email:
        found = customer_by_email(org_id=org_id, email=email)
    return found


def _user_create(*, org_id: int, info: UserInfo, email: str | None) -> Customer | None:
    user_key = uuid.uuid4()
    customer = Customer(
        org_id=org_id,
        user_key=user_key,
        external_id=info.external_id or str(user_key),
        email=email,
        name=info.name or "",
        mobile=info.mobile,
    )
    try:
        with transaction.atomic():
            customer.save(force_insert=True)
    except IntegrityError:  # a concurrent call created it, or the email or mobile is another user's
        return None
    return customer


def _user_changes(*, customer: Customer, info: UserInfo, email: str | None) -> list[str]:
    changed = []
    for field, value in (
        ("external_id", info.external_id),
        ("email", email),
        ("name", info.name),
        ("mobile", info.mobile),
    ):
        if value is not None and getattr(customer, field) != value:
            setattr(customer, field, value)
            changed.append(field)
    return changed
