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
