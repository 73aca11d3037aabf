"""Points at a till with Capillary's validation codes (``skip_validation=false``): the codes are
the catalogue's (shared with Issue Reward), the debit rule is ``wallets.till``'s."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from wallets.errors import TillPointsRefused, ValidationCodeRefused
from wallets.owners import GroupRef
from wallets.till import (
    CustomerRef,
    PointsPayer,
    PointsRedeemed,
    PointsRedeemIn,
    points_payer_find,
    points_redeem,
    points_redeem_by_ref,
    points_redeemable,
)

from .validation_codes import validation_code_spend, validation_code_valid


def till_points_redeemable(
    *, payer: PointsPayer, points: Decimal, validation_code: str | None, skip_validation: bool
) -> Decimal:
    """``points_isredeemable``: what the points are worth, or why not (nothing is written)."""
    value = points_redeemable(payer=payer, points=points)
    if not skip_validation and not validation_code_valid(
        org_id=payer.org_id, customer_id=payer.customer.pk, code=validation_code
    ):
        raise ValidationCodeRefused("validation_code is missing, wrong, used or expired")
    return value


def till_points_redeem(*, call: PointsRedeemIn, validation_code: str | None, skip_validation: bool) -> PointsRedeemed:
    """``points_redeem``; without ``skip_validation`` the code is spent first, on its own (a wrong
    one counts towards the code's attempts, a right one is used even if the points then fall short)."""
    if not skip_validation and not validation_code_spend(
        owners=[(call.payer.org_id, call.payer.customer.pk)], code=validation_code
    ):
        raise ValidationCodeRefused("validation_code is missing, wrong, used or expired")
    return points_redeem(call=call)


def till_points_redeem_for(
    *,
    org_id: int,
    customer: CustomerRef,
    group: GroupRef | None,
    points: Decimal,
    transaction_number: str | None,
    till_username: str,
    notes: str = "",
    redemption_time: str = "",
    validation_code: str | None,
    skip_validation: bool,
) -> PointsRedeemed:
    """``POST /v1.1/points/redeem``: the payer named by ``customer`` (and ``group``) found and
    ``points`` taken. The common case (no group, no validation code) in one round trip
    (``points_redeem_by_ref``); else, or when that one says nothing, ``points_payer_find`` and
    ``till_points_redeem``, which say why not. The answer names the payer (``payer``); so does a
    refusal once the payer is known (its ``context["payer"]``)."""
    if skip_validation and group is None:
        redeemed = points_redeem_by_ref(
            org_id=org_id,
            customer=customer,
            points=points,
            transaction_number=transaction_number,
            till_username=till_username,
            notes=notes,
            redemption_time=redemption_time,
        )
        if redeemed is not None:
            return redeemed
    payer = points_payer_find(org_id=org_id, customer=customer, group=group)
    call = PointsRedeemIn(
        payer=payer,
        points=points,
        transaction_number=transaction_number,
        till_username=till_username,
        notes=notes,
        redemption_time=redemption_time,
    )
    try:
        redeemed = till_points_redeem(call=call, validation_code=validation_code, skip_validation=skip_validation)
    except TillPointsRefused as exc:
        exc.context["payer"] = payer
        raise
    return replace(redeemed, payer=payer)
