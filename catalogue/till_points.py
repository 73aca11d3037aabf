"""Points at a till with Capillary's validation codes (``skip_validation=false``): the codes are
the catalogue's (shared with Issue Reward), the debit rule is ``wallets.till``'s."""

from __future__ import annotations

from decimal import Decimal

from wallets.errors import ValidationCodeRefused
from wallets.till import PointsPayer, PointsRedeemed, PointsRedeemIn, points_redeem, points_redeemable

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
