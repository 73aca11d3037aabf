"""Issue Reward errors: an ``IssueError`` fails the call as a whole (nothing issued), a
``RewardNotIssued`` one reward. The Capillary codes and HTTP statuses they answer are the
adapter's (``capillary/errors.py``)."""

from core.errors import DomainError, OperationRefused


class IssueError(DomainError):
    """The issue call fails as a whole: nothing issued, no points moved."""


class InvalidIssueRequest(IssueError):
    """The request is malformed or names something that does not exist."""


class PaymentConfigRequired(IssueError):
    """The reward has more than one payment config: paymentConfig.id is required."""


class PaymentConfigInvalid(IssueError):
    """paymentConfig.id is not one of the reward's payment configs."""


class RequestIdConflict(IssueError):
    """This requestId was used before for a different reward payload (or twice in one call)."""


class PointsIssueFailed(IssueError):
    """Points cannot be redeemed (a subclass says why)."""


class CustomerNotFound(PointsIssueFailed):
    """The customer is unknown in the reward's org."""


class InsufficientPoints(PointsIssueFailed):
    """The customer (or the group) has fewer points in an org than the rewards cost there."""


class GroupNotFound(PointsIssueFailed):
    """The loyalty group (user_group2) is unknown in the reward's org."""


class NotGroupMember(PointsIssueFailed):
    """The customer is not a member of the loyalty group."""


class InvalidValidationCode(IssueError):
    """skip_validation is false and the validationCode is missing, wrong, used or expired."""


# Per-reward failures of step 3 (the call goes on with the other rewards).


class RewardNotIssued(DomainError):
    """The reward could not be issued."""


class RewardUnavailable(RewardNotIssued):
    """The reward is disabled or outside its dates."""


class OutsideSegment(RewardNotIssued):
    """The customer is in none of the reward's segments."""


class NoActiveCard(RewardNotIssued):
    """The customer has cards or labels and none is ACTIVE."""


class PromotionLimitReached(RewardNotIssued):
    """The customer already holds the cart promotion as often as it allows."""


class VendorFailed(RewardNotIssued):
    """The vendor did not issue a voucher (no HTTP 200, no voucher, or too slow)."""


class VendorUnanswered(VendorFailed):
    """The request may have reached the vendor, but no answer came (a timeout, a lost connection):
    the vendor may have issued a voucher all the same."""


class PointsGone(RewardNotIssued):
    """The points were spent by a concurrent call before this reward could take them."""


class RequestIdTaken(RewardNotIssued):
    """A concurrent call issued this requestId with a different payload, or is still issuing it."""


# Revocation of an issued reward (the back office and ``POST /v1/user/reward/revoke``).


class IssueNotFound(OperationRefused):
    """No such issued reward, or it belongs to an org outside the call's scope."""


class RevokeDisabled(OperationRefused):
    """The org that issued the reward does not let tills revoke (its ``revoke_enabled`` is off)."""


class NotRevocable(OperationRefused):
    """The issue cannot be revoked: a coupon of it was used at a till, it is a vendor reward
    (revoked by staff only), or it is not ISSUED."""


class FulfilmentInvalid(OperationRefused):
    """A fulfilment change names an undefined status or custom field, or a customer or reward
    that is not the transaction's: nothing of the call is applied."""
