"""The refused rewards of Issue Reward calls, recorded as the call answered them: the records
``GET /v1.1/reward-transactions?status=false`` lists beside the issued ones.

A refusal is written after the call's own transactions, in one insert, and only records the
answer: it moves no points and holds no requestId (the same line may be sent again and issued).
Its ``reason`` is the name of the ``RewardNotIssued`` class the call refused with, so the answer
is rendered again from the same error (``refusal_error``)."""

from __future__ import annotations

from . import errors
from .calls import RewardFailed
from .models import IssueRefusal

# The refusals a line can answer, by the name stored in ``IssueRefusal.reason``.
REASONS: dict[str, type[errors.RewardNotIssued]] = {
    cls.__name__: cls
    for cls in (
        errors.RewardNotIssued,
        errors.RewardUnavailable,
        errors.OutsideSegment,
        errors.NoActiveCard,
        errors.PromotionLimitReached,
        errors.VendorFailed,
        errors.VendorUnanswered,
        errors.PointsGone,
        errors.RequestIdTaken,
    )
}

_MESSAGE_LENGTH = IssueRefusal._meta.get_field("message").max_length


def _reason(error: errors.RewardNotIssued) -> str:
    """The name of the nearest class of ``REASONS`` (a subclass outside it answers as its base)."""
    return next(cls.__name__ for cls in type(error).__mro__ if cls.__name__ in REASONS)


def refusals_record(*, lines, results, till_username: str, event_log_id: str | None) -> None:
    """Record the refused rewards of a call (``results`` in the order of its ``lines``): one insert,
    none when every reward was issued."""
    refusals = [
        IssueRefusal(
            org_id=result.org_id,
            customer_id=line.payer.customer.pk,
            reward_id=result.reward_id,
            payment_config_id=result.payment_config.pk if result.payment_config is not None else None,
            till_username=till_username,
            requested_quantity=result.requested_quantity,
            request_id=result.request_id,
            event_log_id=event_log_id,
            reason=_reason(result.error),
            message=str(result.error)[:_MESSAGE_LENGTH],
        )
        for line, result in zip(lines, results, strict=True)
        if isinstance(result, RewardFailed)
    ]
    if refusals:
        IssueRefusal.objects.bulk_create(refusals)


def refusal_error(refusal: IssueRefusal) -> errors.RewardNotIssued:
    """The error the call refused the line with, as it answered it."""
    return REASONS.get(refusal.reason, errors.RewardNotIssued)(refusal.message)


def refusal_failed(refusal: IssueRefusal) -> RewardFailed:
    """The refused line as the service reported it (for rendering the answer again)."""
    return RewardFailed(
        org_id=refusal.org_id,
        reward_id=refusal.reward_id,
        requested_quantity=refusal.requested_quantity,
        request_id=refusal.request_id,
        payment_config=refusal.payment_config,
        error=refusal_error(refusal),
    )
