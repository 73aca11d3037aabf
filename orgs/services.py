"""Writes to orgs: customers and their notes."""

import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from core.errors import OperationRefused

from .errors import IdentifierTaken, InvalidReferrer
from .models import Customer, CustomerNote, email_normalized, referral_code_new
from .selectors import customer_by_referral_code, customer_find, customer_identify


def customer_note_add(*, customer_id: int, text: str, staff_user):
    """A note by staff on a customer (support agents may add them; they change nothing else)."""
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
    email = email_normalized(info.email)
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
        return customer_identify(org_id=org_id, kind="user_key", value=info.user_key)
    found = customer_find(org_id=org_id, kind="external_id", value=info.external_id) if info.external_id else None
    if found is None and email:
        found = customer_find(org_id=org_id, kind="email", value=email)
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
