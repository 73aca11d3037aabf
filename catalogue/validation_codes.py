"""Validation codes (``skip_validation=false``): a single-use, short-lived code that lets a
customer's points be spent (``POST /v1.1/points/validation_code``), and its spending by an issue
call, once every check of the whole call has passed."""

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


def _code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def validation_code_issue(*, customer: Customer) -> tuple[str, int]:
    """A 6-digit single-use code that lets the customer's points be spent; (code, seconds valid)."""
    ttl = settings.VALIDATION_CODE_TTL_SECONDS
    code = f"{secrets.randbelow(1_000_000):06d}"
    ValidationCode.objects.create(
        org_id=customer.org_id,
        customer=customer,
        code_digest=_code_digest(code),
        expires_at=timezone.now() + timedelta(seconds=ttl),
    )
    return code, ttl


def validation_code_consume(*, code: str | None, lines: list[Line]) -> None:
    """Spend the payers' code ``code``. A wrong code counts against every live code of the payers:
    at ``VALIDATION_CODE_MAX_ATTEMPTS`` wrong ones a code is void, so it can be guessed that often
    at most. Check and count in one locked step, committed on its own (``durable``): the count
    stays although the call then fails."""
    if not code:
        raise InvalidValidationCode("validationCode is required unless skip_validation=true")
    owners = Q()
    for payer in {id(line.payer): line.payer for line in lines}.values():
        owners |= Q(org_id=payer.org_id, customer_id=payer.customer.pk)
    now, digest = timezone.now(), _code_digest(code)
    with transaction.atomic(durable=True):
        live = list(
            ValidationCode.objects.select_for_update()
            .filter(
                owners,
                used_at__isnull=True,
                expires_at__gt=now,
                failed_attempts__lt=settings.VALIDATION_CODE_MAX_ATTEMPTS,
            )
            .order_by("pk")
            .values_list("pk", "code_digest")
        )
        match = next((pk for pk, stored in live if hmac.compare_digest(stored, digest)), None)
        if match is not None:
            ValidationCode.objects.filter(pk=match).update(used_at=now)
            return
        ValidationCode.objects.filter(pk__in=[pk for pk, _ in live]).update(failed_attempts=F("failed_attempts") + 1)
    raise InvalidValidationCode(
        "validationCode is wrong, used or expired (or void after "
        f"{settings.VALIDATION_CODE_MAX_ATTEMPTS} wrong attempts: ask for a new one)"
    )
