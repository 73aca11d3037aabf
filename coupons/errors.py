"""Domain errors of coupon pools and of coupons at a till. Each wire format maps them onto its own
status codes (the till's: ``capillary/till_apis.py``)."""

from core.errors import DomainError


class PoolExhausted(DomainError):
    """The coupon pool has no available, unexpired coupon left for this request."""


class UnknownPool(DomainError):
    """No such coupon pool in this app."""


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
