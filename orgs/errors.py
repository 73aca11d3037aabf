"""Domain errors. Each wire format maps them onto its own status codes."""


class DomainError(Exception):
    """Base of the rule violations a service refuses with."""

    def __init__(self, message: str = "", **context):
        super().__init__(message or self.__doc__)
        self.context = context


class InsufficientBalance(DomainError):
    """The wallet does not hold enough for this debit."""


class PoolExhausted(DomainError):
    """The coupon pool has no available, unexpired coupon left for this request."""


class InvalidCredentials(DomainError):
    """The credentials are missing, wrong or expired, or name another till than ``username``."""


class OutOfScope(DomainError):
    """An org named by the call is neither the caller's own nor connected to it (or not in DATA-SCOPE-ORG)."""


class InvalidScope(DomainError):
    """The DATA-SCOPE / DATA-SCOPE-ORG headers cannot be read."""
