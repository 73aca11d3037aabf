"""Why a coupon cannot be used at a till. The Capillary adapter maps each to its item code."""

from orgs.errors import DomainError


class CouponNotUsable(DomainError):
    """The coupon cannot be redeemed at the till."""


class CouponUnknown(CouponNotUsable):
    """No coupon with this code in the org."""


class CouponNotHeld(CouponNotUsable):
    """The coupon was not issued to this customer."""


class CouponAlreadyRedeemed(CouponNotUsable):
    """The coupon was redeemed at a till already (by another transaction)."""


class CouponExpired(CouponNotUsable):
    """The coupon expired."""


class CouponVoided(CouponNotUsable):
    """The coupon was voided (its issue revoked, or voided by staff)."""
