"""The base of domain errors, and the refusals of staff operations. Each wire format maps the
errors it can meet onto its own status codes (``appvirality/wire.py``, ``capillary/errors.py``);
the services that raise them know no vendor code."""


class DomainError(Exception):
    """Base of the rule violations a service refuses with."""

    def __init__(self, message: str = "", **context):
        super().__init__(message or self.__doc__)
        self.context = context


class OperationRefused(DomainError):
    """The back-office operation is refused; nothing was changed."""


class AlreadyReversed(OperationRefused):
    """This redemption or issue has been reversed already."""


def staff_reason(reason: str) -> str:
    """The reason a staff operation (reversal, revocation, adjustment) must give, trimmed."""
    reason = (reason or "").strip()
    if not reason:
        raise OperationRefused("a reason is required")
    return reason
