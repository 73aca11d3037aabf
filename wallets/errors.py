"""Domain errors of wallets and earned rewards (redemptions, debits) and of points at a till. Each
wire format maps them onto its own status codes (the till's: ``capillary/till_apis.py``)."""

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


class TillPointsRefused(DomainError):
    """The till's points call is refused; nothing was written."""


class PointsNotAvailable(TillPointsRefused):
    """The customer (or the group) holds fewer points than asked for."""


class PointsInvalid(TillPointsRefused):
    """The points are not a positive amount with at most two decimals."""


class CustomerUnknown(TillPointsRefused):
    """No such customer in the org (or the group is unknown, or the customer not in it)."""


class TransactionNumberReused(TillPointsRefused):
    """This transaction number was used before by this customer for another number of points."""


class RedemptionUnknown(TillPointsRefused):
    """No such till redemption of this customer."""


class ReversalTooLarge(TillPointsRefused):
    """The reversal would give back more than the redemption took (or it is fully reversed)."""


class ValidationCodeRefused(TillPointsRefused):
    """The validation code is missing, wrong, used or expired."""


class UnknownReward(DomainError):
    """A reward detail id is unknown in this app."""


class TransactionValueRequired(DomainError):
    """transactionValue is required: a rule matching the event pays a percentage of it."""
