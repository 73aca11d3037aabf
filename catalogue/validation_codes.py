"""Points validation codes (Capillary ``/v1.1/points/validationcode``, alias
``/v1.1/points/validation_code``): a 6-digit, single-use, short-lived code that lets a customer's
points be spent by Issue Reward (``skip_validation=false``) or at a till. A new code replaces the
customer's previous one; a code is spent once, by whichever call spends it first (one
conditional UPDATE); an issue call spends it once every check of the whole call has passed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from orgs.errors import OutOfScope
from orgs.models import Customer

from . import selectors
from .errors import CustomerNotFound, InvalidValidationCode
from .models import ValidationCode
from .resolve import Line


def validation_code_for(
    *, org_id: int, scope: frozenset[int], mobile: str | None, email: str | None, external_id: str | None
) -> tuple[str, int]:
    """The application service of the validation-code call: the customer of ``org_id`` (which the
    call's data scope must reach) by its first identifier, and a new code for it; (code, seconds
    valid). Raises ``OutOfScope`` or ``CustomerNotFound``."""
    if org_id not in scope:
        raise OutOfScope(f"org {org_id} is outside the data scope of this call")
    customer = selectors.customer_for_issue(org_id=org_id, mobile=mobile, email=email, external_id=external_id)
    if customer is None:
        raise CustomerNotFound(f"customer not found in org {org_id}")
    return validation_code_issue(customer=customer)


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@transaction.atomic
def validation_code_issue(*, customer: Customer) -> tuple[str, int]:
    """A new code for the customer (their previous unused codes stop working); (code, seconds valid)."""
    ttl = settings.VALIDATION_CODE_TTL_SECONDS
    now = timezone.now()
    code = f"{secrets.randbelow(1_000_000):06d}"
    ValidationCode.objects.filter(org_id=customer.org_id, customer_id=customer.pk, used_at__isnull=True).update(
        expires_at=now
    )
    expires_at = now + timedelta(seconds=ttl)
    ValidationCode.objects.create(
        org_id=customer.org_id, customer=customer, code_digest=code_digest(code), expires_at=expires_at
    )
    return code, ttl


def _live(*, owners: list[tuple[int, int]], now):
    condition = Q()
    for org_id, customer_id in owners:
        condition |= Q(org_id=org_id, customer_id=customer_id)
    return ValidationCode.objects.filter(
        condition,
        used_at__isnull=True,
        expires_at__gt=now,
        failed_attempts__lt=settings.VALIDATION_CODE_MAX_ATTEMPTS,
    )


def validation_code_valid(*, org_id: int, customer_id: int, code: str | None) -> bool:
    """Whether ``code`` would be accepted for this customer now. Spends nothing, counts nothing."""
    if not code:
        return False
    digest = code_digest(code)
    stored = _live(owners=[(org_id, customer_id)], now=timezone.now()).values_list("code_digest", flat=True)
    return any(hmac.compare_digest(known, digest) for known in stored)


def validation_code_spend(*, owners: list[tuple[int, int]], code: str | None) -> bool:
    """Spend ``code`` of one of ``owners`` (org id, customer id): True once, False when it is
    missing, wrong, used or expired. A wrong code counts against every live code of the owners: at
    ``VALIDATION_CODE_MAX_ATTEMPTS`` wrong ones a code is void, so it can be guessed that often at
    most. Check and count in one locked step, committed on its own (``durable``): the count stays
    although the call then fails, and the caller must not hold a transaction open."""
    if not code:
        return False
    now, digest = timezone.now(), code_digest(code)
    with transaction.atomic(durable=True):
        live = list(_live(owners=owners, now=now).select_for_update().order_by("pk").values_list("pk", "code_digest"))
        match = next((pk for pk, stored in live if hmac.compare_digest(stored, digest)), None)
        if match is not None:
            ValidationCode.objects.filter(pk=match).update(used_at=now)
            return True
        ValidationCode.objects.filter(pk__in=[pk for pk, _ in live]).update(failed_attempts=F("failed_attempts") + 1)
    return False


def validation_code_consume(*, code: str | None, lines: list[Line]) -> None:
    """Issue Reward's spending of its call's code (``InvalidValidationCode`` when it cannot)."""
    if not code:
        raise InvalidValidationCode("validationCode is required unless skip_validation=true")
    owners = list({(line.payer.org_id, line.payer.customer.pk) for line in lines})
    if not validation_code_spend(owners=owners, code=code):
        raise InvalidValidationCode(
            "validationCode is wrong, used or expired (or void after "
            f"{settings.VALIDATION_CODE_MAX_ATTEMPTS} wrong attempts: ask for a new one)"
        )
