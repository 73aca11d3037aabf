"""Issue Reward errors. Each carries its Capillary wire code and HTTP status; ``capillary.apis``
turns them into the Capillary body in one exception handler."""

from core.errors import DomainError


class IssueError(DomainError):
    """The issue call fails as a whole: nothing issued, no points moved."""

    code = 400
    http_status = 400
    partner_code: int | None = None


class InvalidIssueRequest(IssueError):
    """The request is malformed or names something that does not exist."""


class PaymentConfigRequired(IssueError):
    """The reward has more than one payment config: paymentConfig.id is required."""

    code = 12035


class PaymentConfigInvalid(IssueError):
    """paymentConfig.id is not one of the reward's payment configs."""

    code = 12016


class RequestIdConflict(IssueError):
    """This requestId was used before for a different reward payload (or twice in one call)."""

    code = 10003


class PointsIssueFailed(IssueError):
    """8004: points cannot be redeemed; ``partner_code`` says why."""

    code = 8004


class CustomerNotFound(PointsIssueFailed):
    """The customer is unknown in the reward's org."""

    partner_code = 816


class InsufficientPoints(PointsIssueFailed):
    """The customer (or the group) has fewer points in an org than the rewards cost there."""

    partner_code = 804


class GroupNotFound(PointsIssueFailed):
    """The loyalty group (user_group2) is unknown in the reward's org."""

    partner_code = 1632


class NotGroupMember(PointsIssueFailed):
    """The customer is not a member of the loyalty group."""

    partner_code = 1620


class InvalidValidationCode(IssueError):
    """skip_validation is false and the validationCode is missing, wrong, used or expired."""


# Per-reward failures of step 3 (the call goes on with the other rewards).


class RewardNotIssued(DomainError):
    """The reward could not be issued."""

    code = 8003


class RewardUnavailable(RewardNotIssued):
    """The reward is disabled or outside its dates."""


class OutsideSegment(RewardNotIssued):
    """The customer is in none of the reward's segments."""

    code = 12034


class NoActiveCard(RewardNotIssued):
    """The customer has cards or labels and none is ACTIVE."""

    code = 12050


class PromotionLimitReached(RewardNotIssued):
    """The customer already holds the cart promotion as often as it allows."""

    code = 12005


class VendorFailed(RewardNotIssued):
    """The vendor did not issue a voucher (no HTTP 200, no voucher, or too slow)."""


class VendorUnanswered(VendorFailed):
    """The request may have reached the vendor, but no answer came (a timeout, a lost connection):
    the vendor may have issued a voucher all the same."""


class PointsGone(RewardNotIssued):
    """The points were spent by a concurrent call before this reward could take them."""

    code = 8004


class RequestIdTaken(RewardNotIssued):
    """A concurrent call issued this requestId with a different payload, or is still issuing it."""

    code = 10003
