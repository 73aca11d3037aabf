"""Domain errors of coupon pools. Each wire format maps them onto its own status codes."""

from core.errors import DomainError


class PoolExhausted(DomainError):
    """The coupon pool has no available, unexpired coupon left for this request."""


class UnknownPool(DomainError):
    """No such coupon pool in this app."""
