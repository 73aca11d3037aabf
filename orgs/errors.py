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


class UnknownUser(DomainError):
    """No such user in this app."""


class UnknownCampaign(DomainError):
    """No such campaign in this app."""


class NotEligible(DomainError):
    """The user is not eligible for the campaign (inactive, ended, outside its segment, or blocked)."""


class UnknownPool(DomainError):
    """No such coupon pool in this app."""


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


class InvalidCredentials(DomainError):
    """The credentials are missing, wrong or expired, or name another till than ``username``."""


class OutOfScope(DomainError):
    """An org named by the call is neither the caller's own nor connected to it (or not in DATA-SCOPE-ORG)."""


class InvalidScope(DomainError):
    """The DATA-SCOPE / DATA-SCOPE-ORG headers cannot be read."""


# --- Back office (staff operations in the admin) ---------------------------------------------------


class OperationRefused(DomainError):
    """The back-office operation is refused; nothing was changed."""


class AlreadyReversed(OperationRefused):
    """This redemption or issue has been reversed already."""


# --- AppVirality users, referrals, conversion events and reviews -----------------------------------


class UnknownUserKey(UnknownUser):
    """No user with this user key in this app."""


class UnknownStoreUser(UnknownUser):
    """No user with this store id or email in this app."""


class IdentifierTaken(DomainError):
    """The store id or email is another user's in this app."""


class InvalidReferrer(DomainError):
    """The referral code is unknown in this app, the user's own, or of a user this user referred."""


class UnknownReward(DomainError):
    """A reward detail id is unknown in this app."""


class TransactionValueRequired(DomainError):
    """transactionValue is required: a rule matching the event pays a percentage of it."""
