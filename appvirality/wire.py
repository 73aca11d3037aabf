"""The AppVirality Redeem Rewards wire format (docs/contracts/redeem-rewards.md): the adapter.

``redeem`` reads the body (keys case-insensitive, numbers exact), authenticates the app, parses
the call into a ``wallets.redeem.RedeemIn`` and hands it to the application service
``wallets.redeem.redemption_call``; ``render`` turns what the service reports (what was redeemed,
a stored answer, or a domain error) into AppVirality's status code, HTTP status and body. No rule,
transaction or query lives here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError

from core.errors import DomainError
from core.numbers import NumberInvalid, id_parse, money_parse
from core.request_body import BodyTooLarge, too_large
from coupons.errors import PoolExhausted, UnknownPool
from orgs.credentials import app_authenticate
from orgs.errors import (
    IdentifierTaken,
    InvalidReferrer,
    NotEligible,
    UnknownCampaign,
    UnknownGrowthHack,
    UnknownUser,
    UnknownUserKey,
)
from orgs.models import Org
from wallets.errors import (
    AlreadyRedeemed,
    AmountTooLarge,
    IdempotencyKeyReused,
    ModeMismatch,
    NothingToRedeem,
    RewardsNotFound,
    TransactionValueRequired,
    UnknownReward,
)
from wallets.models import RedemptionCall
from wallets.redeem import Answer, IdempotencyIn, Redeemed, RedeemIn, Replayed, redemption_call

MAX_IDS = 1000
MAX_TEXT = 255  # campaignId, growthHack, apikey, privatekey, Idempotency-Key
MAX_IDENTIFIER = RedemptionCall._meta.get_field("user_identifier").max_length  # userkey, UserIdInstore, EmailId
MAX_REWARD_ID = 100


class WireError(DomainError):
    """A call answered with an AppVirality status code before or instead of a service call (a body
    or field that cannot be read: 102)."""

    def __init__(self, statuscode: int, detail: str = ""):
        super().__init__(detail)
        self.statuscode = statuscode
        self.detail = detail


@dataclass(frozen=True)
class StatusCode:
    code: int
    http_status: int
    message: str


STATUS_CODES = {
    c.code: c
    for c in (
        StatusCode(0, 200, "No data found for the search criteria"),
        StatusCode(1, 200, "success"),
        StatusCode(2, 200, "Invalid User Key"),
        StatusCode(3, 200, "Invalid GrowthHack"),
        StatusCode(5, 200, "Invalid StoreID or EmailID"),
        StatusCode(11, 200, "Invalid RewardDetailID"),
        StatusCode(30, 200, "Invalid PoolID"),
        StatusCode(43, 200, "No rewards for the user"),
        StatusCode(49, 200, "There are no coupons in the coupon pool"),
        StatusCode(57, 200, "Reward already redeemed"),
        StatusCode(69, 200, "User is not Eligible to Participate in Campaign"),
        StatusCode(101, 401, "Invalid apikey or privatekey"),
        StatusCode(102, 400, "Invalid request"),
        StatusCode(103, 200, "Redemption mode does not fit the campaign's reward type"),
        StatusCode(104, 200, "Amount is larger than the user's unredeemed rewards"),
        StatusCode(105, 409, "Idempotency-Key reused with a different body"),
        StatusCode(106, 429, "Rate limit exceeded for this app"),
        StatusCode(111, 200, "Invalid referrer code"),
    )
}

# Domain error -> statuscode (the first class of its MRO listed). UnknownCampaign and
# RewardsNotFound are both 0 ("no data found").
ERROR_CODES: dict[type[DomainError], int] = {
    UnknownUserKey: 2,
    UnknownUser: 5,
    UnknownGrowthHack: 3,
    IdempotencyKeyReused: 105,
    UnknownCampaign: 0,
    RewardsNotFound: 0,
    NotEligible: 69,
    UnknownPool: 30,
    ModeMismatch: 103,
    AlreadyRedeemed: 57,
    NothingToRedeem: 43,
    AmountTooLarge: 104,
    PoolExhausted: 49,
    IdentifierTaken: 5,
    UnknownReward: 11,
    InvalidReferrer: 111,
    TransactionValueRequired: 102,
}


def answer(statuscode: int, detail: str = "", **extra) -> tuple[int, dict]:
    """(HTTP status, body) of an answer with this status code."""
    status = STATUS_CODES[statuscode]
    message = f"{status.message}: {detail}" if detail else status.message
    return status.http_status, {"success": statuscode == 1, "statuscode": statuscode, "message": message, **extra}


def money(value: Decimal) -> str:
    return f"{value:.2f}"


# --- Parsing --------------------------------------------------------------------------------------


def error_answer(exc: Exception) -> tuple[int, dict] | None:
    """(HTTP status, body) of a body the reader refused (``core.request_body``): statuscode 102,
    HTTP 400, or HTTP 413 when it is too large. None for any other exception."""
    if isinstance(exc, RequestDataTooBig):
        exc = too_large()
    if isinstance(exc, BodyTooLarge):
        return exc.status_code, answer(102, str(exc.detail))[1]
    if isinstance(exc, ParseError):
        return answer(102, str(exc.detail))
    return None


def parse_body(document, *, raw: bytes) -> dict:
    """The document ``core.request_body`` read, as a dict with lower-cased keys (numbers are
    Decimal, never float; text is valid Unicode without NUL). Raises WireError(102)."""
    if not raw:
        raise WireError(102, "the body is empty")
    if not isinstance(document, dict):
        raise WireError(102, "the body must be a JSON object")
    return {key.lower(): value for key, value in document.items()}


def credentials(data: dict) -> tuple[str, str] | None:
    apikey, privatekey = data.get("apikey"), data.get("privatekey")
    if all(isinstance(key, str) and 0 < len(key) <= MAX_TEXT for key in (apikey, privatekey)):
        return apikey, privatekey
    return None


def idempotency_key_valid(key: str) -> bool:
    """1 to 255 printable ASCII characters (a header value; it is stored and searched by staff)."""
    return 0 < len(key) <= MAX_TEXT and key.isascii() and key.isprintable()


def _present(value) -> bool:
    return value is not None and value != "" and value != []


def _text(data: dict, key: str, *, allow_int: bool = False, max_length: int = MAX_TEXT) -> str | None:
    value = data.get(key)
    if not _present(value):
        return None
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or len(value) > max_length:
        raise WireError(102, f"{key} must be a string of at most {max_length} characters")
    return value.strip()


# The user identifiers in the contract's order of precedence, and what the service calls them.
IDENTIFIERS = {"userkey": "user_key", "useridinstore": "external_id", "emailid": "email"}


def _request(*, wire_identifier: str, **fields) -> RedeemIn:
    summary = {  # what the call record keeps: the request without credentials, in the wire's names
        wire_identifier: fields["identifier"],
        "mode": fields["mode"],
        "rewarddtlids": fields.get("reward_ids"),
        "amount": money(fields["amount"]) if fields.get("amount") is not None else None,
        "poolId": fields.get("pool_id"),
        "campaignId": fields["campaign_code"],
        "growthHack": fields["growth_hack"],
    }
    return RedeemIn(identifier_kind=IDENTIFIERS[wire_identifier], summary=summary, **fields)


def parse_request(data: dict) -> RedeemIn:
    """The user identifier and the mode by the contract's precedence. Raises WireError(102)."""
    wire_identifier = identifier = None
    for kind in IDENTIFIERS:
        value = _text(data, kind, allow_int=kind == "useridinstore", max_length=MAX_IDENTIFIER)
        if value:
            wire_identifier, identifier = kind, value
            break
    if identifier is None:
        raise WireError(102, "one of userkey, UserIdInstore, EmailId is required")
    common = {
        "wire_identifier": wire_identifier,
        "identifier": identifier,
        "campaign_code": _text(data, "campaignid", allow_int=True),
        "growth_hack": _text(data, "growthhack"),
    }
    if _present(data.get("rewarddtlids")):
        return _request(mode="IDS", reward_ids=_reward_ids(data["rewarddtlids"]), **common)
    if _present(data.get("amount")):
        return _request(mode="AMOUNT", amount=_amount(data["amount"]), **common)
    if _present(data.get("poolid")):
        return _request(mode="POOL", pool_id=_pool_id(data["poolid"]), **common)
    raise WireError(102, "one of rewarddtlids, amount, poolId is required")


def _reward_ids(value) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_IDS:
        raise WireError(102, f"rewarddtlids must be a list of at most {MAX_IDS} ids")
    ids = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int)) or str(item).strip() == "":
            raise WireError(102, "rewarddtlids must hold strings or integers")
        if len(str(item)) > MAX_REWARD_ID:
            raise WireError(102, f"a reward id is at most {MAX_REWARD_ID} characters")
        ids.append(str(item).strip())
    return ids


def _amount(value) -> Decimal:
    try:
        amount = money_parse(value)
    except NumberInvalid as exc:
        raise WireError(102, f"amount: {exc}") from exc
    if amount <= 0:
        raise WireError(102, "amount must be greater than 0")
    return amount


def _pool_id(value) -> int:
    try:
        return id_parse(value)
    except NumberInvalid as exc:
        raise WireError(102, f"poolId must be a positive integer: {exc}") from exc


# --- The call -------------------------------------------------------------------------------------


def redeem(*, document, raw: bytes, idempotency_key: str | None, throttled) -> tuple[int, dict]:
    """Answer one Redeem Rewards call: (HTTP status, body). Every authenticated call is recorded
    (by the service), except a rate-limited one: a flood must not turn into a flood of writes.
    ``document`` is the body as ``core.request_body`` read it, ``raw`` its bytes."""
    try:
        data = parse_body(document, raw=raw)
    except WireError as error:
        return answer(error.statuscode, error.detail)
    presented = credentials(data)
    org: Org | None = app_authenticate(apikey=presented[0], privatekey=presented[1]) if presented else None
    if org is None:
        return answer(101)
    if throttled(org):
        return answer(106)
    if idempotency_key is not None and not idempotency_key_valid(idempotency_key):
        return answer(102, f"Idempotency-Key must be 1 to {MAX_TEXT} printable ASCII characters")
    try:
        request: RedeemIn | WireError = parse_request(data)
    except WireError as error:
        request = error
    done = redemption_call(
        org=org,
        request=request,
        sent={key: value for key, value in data.items() if key not in ("apikey", "privatekey")},
        idempotency=IdempotencyIn(idempotency_key, hashlib.sha256(raw).hexdigest()) if idempotency_key else None,
        render=render,
    )
    return done.http_status, done.body


def render(outcome: Redeemed | Replayed | DomainError) -> Answer:
    """The AppVirality answer of what the service reports."""
    if isinstance(outcome, Replayed):
        return Answer(outcome.http_status, outcome.body["statuscode"], outcome.body)
    if isinstance(outcome, DomainError):
        return _answer(*_error_code(outcome))
    if outcome.pool is not None:
        coupon = outcome.pool.coupon
        return _answer(
            1,
            coupon={
                "code": coupon.code,
                "poolId": coupon.pool_id,
                "expiresAt": coupon.expires_at.isoformat() if coupon.expires_at else None,
            },
        )
    redemption = outcome.redemption
    return _answer(
        1,
        redeemed={"amount": money(redemption.amount), "rewarddtlids": redemption.reward_codes},
        wallet={"balance": money(redemption.balance)},
    )


def _answer(statuscode: int, detail: str = "", **extra) -> Answer:
    http_status, body = answer(statuscode, detail, **extra)
    return Answer(http_status, statuscode, body)


def _error_code(error: DomainError) -> tuple[int, str]:
    """(statuscode, detail) of a domain error."""
    if isinstance(error, WireError):
        return error.statuscode, error.detail
    if isinstance(error, UnknownGrowthHack):
        return 3, f"{error.context['name']!r} is not Word_of_Mouth, Referral or Loyalty_Program"
    if isinstance(error, UnknownCampaign) and "campaign" in error.context:
        return 0, f"unknown campaignId {error.context['campaign']!r}"
    code = next(ERROR_CODES[cls] for cls in type(error).__mro__ if cls in ERROR_CODES)
    return code, str(error) if code == 102 else ""  # a rule's refusal of a field says which
