"""Domain errors of wallets and earned rewards (redemptions, debits). Each wire format maps them
onto its own status codes."""

from core.errors import DomainError


class InsufficientBalance(DomainError):
    """The wallet does not hold enough for this debit."""


class ModeMismatch(DomainError):
    """The redemption mode does not fit the campaign's reward type or coupon distribution."""


class RewardsNotFound(DomainError):
    """A named reward is not an earned reward of this user (after the filters)."""


class AlreadyRedeemed(DomainError):
    """A named reward is already redeemed."""


class NothingToRedeem(DomainError):
    """The user has no unredeemed reward for this mode and these filters."""


class AmountTooLarge(DomainError):
    """The amount exceeds the user's unredeemed wallet rewards."""


class IdempotencyKeyReused(DomainError):
    """The Idempotency-Key was used within 24 hours for another request body."""


class UnknownReward(DomainError):
    """A reward detail id is unknown in this app."""


class TransactionValueRequired(DomainError):
    """transactionValue is required: a rule matching the event pays a percentage of it."""
