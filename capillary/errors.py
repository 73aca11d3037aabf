"""Domain errors -> Capillary status codes and HTTP statuses: the one mapping of the Capillary wire
format (the services raise the errors and know no code), and the exception handlers that turn
them into Capillary's bodies. A class not listed answers what its nearest listed base class
answers."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions
from rest_framework.response import Response

from catalogue.errors import (
    CustomerNotFound,
    GroupNotFound,
    InsufficientPoints,
    IssueError,
    NoActiveCard,
    NotGroupMember,
    OutsideSegment,
    PaymentConfigInvalid,
    PaymentConfigRequired,
    PointsGone,
    PointsIssueFailed,
    PromotionLimitReached,
    RequestIdConflict,
    RequestIdTaken,
    RewardNotIssued,
)
from core.errors import DomainError
from core.request_body import too_large
from orgs.errors import InvalidCredentials, InvalidScope, OutOfScope

# The call fails as a whole: error -> (HTTP status, code, partnerError code or None).
CALL_CODES: dict[type[DomainError], tuple[int, int, int | None]] = {
    IssueError: (400, 400, None),
    PaymentConfigRequired: (400, 12035, None),
    PaymentConfigInvalid: (400, 12016, None),
    RequestIdConflict: (400, 10003, None),
    PointsIssueFailed: (400, 8004, None),
    CustomerNotFound: (400, 8004, 816),
    InsufficientPoints: (400, 8004, 804),
    GroupNotFound: (400, 8004, 1632),
    NotGroupMember: (400, 8004, 1620),
}

# One reward of the call fails: error -> the code in that reward's status.
REWARD_CODES: dict[type[DomainError], int] = {
    RewardNotIssued: 8003,
    OutsideSegment: 12034,
    NoActiveCard: 12050,
    PromotionLimitReached: 12005,
    PointsGone: 8004,
    RequestIdTaken: 10003,
}


def _nearest(error: DomainError, table: dict):
    return next(table[cls] for cls in type(error).__mro__ if cls in table)


def call_error_code(error: IssueError) -> tuple[int, int, int | None]:
    """(HTTP status, code, partnerError code) of a call that fails as a whole."""
    return _nearest(error, CALL_CODES)


def reward_error_code(error: RewardNotIssued) -> int:
    """The code of one reward that failed."""
    return _nearest(error, REWARD_CODES)


def _first_error(detail, path: str = "") -> str:
    """``{"rewards": [{"quantity": ["..."]}]}`` -> ``rewards[0].quantity: ...``."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                sub = path
            elif isinstance(key, int) or str(key).isdigit():
                sub = f"{path}[{key}]"
            else:
                sub = f"{path}.{key}" if path else str(key)
            return _first_error(value, sub)
    if isinstance(detail, list):
        for i, value in enumerate(detail):
            if value:
                return _first_error(value, f"{path}[{i}]" if isinstance(value, (dict, list)) else path)
        return f"{path}: invalid"
    return f"{path}: {detail}" if path else str(detail)


def _error(exc) -> tuple[int, int, str, dict | None]:
    """(HTTP status, Capillary code, message, partnerError) of an exception, or None. The body
    reader's refusals (``core.request_body``) are DRF exceptions: 400, or 413 when too large."""
    if isinstance(exc, RequestDataTooBig):
        exc = too_large()
    if isinstance(exc, IssueError):
        http_status, code, partner_code = call_error_code(exc)
        partner = {"codes": [partner_code], "messages": [str(exc)]} if partner_code is not None else None
        return http_status, code, str(exc), partner
    if isinstance(exc, (InvalidCredentials, exceptions.AuthenticationFailed, exceptions.NotAuthenticated)):
        return 401, 401, str(exc), None
    if isinstance(exc, OutOfScope):
        return 403, 403, str(exc), None
    if isinstance(exc, InvalidScope):
        return 400, 400, str(exc), None
    if isinstance(exc, exceptions.ValidationError):
        return 400, 400, _first_error(exc.detail), None
    if isinstance(exc, exceptions.APIException):
        return exc.status_code, exc.status_code, str(exc.detail), None
    return None


def _error_headers(exc, http_status: int) -> dict:
    if http_status == 401:
        return {"WWW-Authenticate": 'Basic realm="rewards"'}
    if getattr(exc, "wait", None):
        return {"Retry-After": str(exc.wait)}
    return {}


def capillary_exception_handler(exc, context):
    """Capillary body ``{"status": {success, code, message[, partnerError]}, "rewards": []}``."""
    error = _error(exc)
    if error is None:
        return None
    http_status, code, message, partner = error
    status = {"success": False, "code": code, "message": message}
    if partner is not None:
        status["partnerError"] = partner
    return Response({"status": status, "rewards": []}, status=http_status, headers=_error_headers(exc, http_status))


def oauth_exception_handler(exc, context):
    """Capillary OAuth body ``{"data": null, "errors": [{code, message}]}``."""
    error = _error(exc)
    if error is None:
        return None
    http_status, code, message, _ = error
    return Response({"data": None, "errors": [{"code": code, "message": message}]}, status=http_status)
