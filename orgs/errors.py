"""Domain errors of customers, campaigns and callers. Each wire format maps them onto its own
status codes."""

from core.errors import DomainError


class UnknownUser(DomainError):
    """No such user in this app."""


class UnknownCampaign(DomainError):
    """No such campaign in this app."""


class NotEligible(DomainError):
    """The user is not eligible for the campaign (inactive, ended, outside its segment, or blocked)."""


class InvalidCredentials(DomainError):
    """The credentials are missing, wrong or expired, or name another till than ``username``."""


class AuthThrottled(DomainError):
    """Too many failed authentications for this till or from this address: retry later."""

    def __init__(self, message: str = "", *, retry_after: int, **context):
        super().__init__(message, retry_after=retry_after, **context)
        self.retry_after = retry_after


class OutOfScope(DomainError):
    """An org named by the call is neither the caller's own nor connected to it (or not in DATA-SCOPE-ORG)."""


class InvalidScope(DomainError):
    """The DATA-SCOPE / DATA-SCOPE-ORG headers cannot be read."""


class UnknownUserKey(UnknownUser):
    """No user with this user key in this app."""


class UnknownGrowthHack(DomainError):
    """The growth hack named is none of the campaigns' (word of mouth, referral, loyalty program)."""


class IdentifierTaken(DomainError):
    """The store id or email is another user's in this app."""


class InvalidReferrer(DomainError):
    """The referral code is unknown in this app, the user's own, or of a user this user referred."""
