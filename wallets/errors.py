"""Refusals of the points calls at a till. They say what went wrong in the books' terms; the
Capillary adapter (``capillary/till_apis.py``) maps each to its item code and HTTP status."""

from orgs.errors import DomainError


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
