"""The AppVirality Redeem Rewards wire format (docs/contracts/redeem-rewards.md).

Translates a request body into a ``RedeemRequest`` and domain errors into
AppVirality status codes. No rules live here: they are in the services.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction

from core.money import to_money
from coupons.services import PoolRedemption, coupon_redeem_from_pool
from orgs import errors
from orgs.models import Campaign, Customer, Org
from orgs.selectors import (
    app_authenticate,
    campaign_by_code,
    customer_by_email,
    customer_by_external_id,
    customer_by_user_key,
)
from wallets.models import IdempotencyKey
from wallets.services import (
    Redemption,
    idempotency_claim,
    idempotency_store,
    redemption_call_record,
    rewards_redeem_by_amount,
    rewards_redeem_by_ids,
)

MAX_IDS = 1000
MAX_BIGINT = 2**63 - 1


class WireError(Exception):
    """A call answered with an AppVirality status code before or instead of a service call."""

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

# Domain error -> statuscode. UnknownCampaign and RewardsNotFound are both 0 ("no data found").
ERROR_CODES: dict[type[errors.DomainError], int] = {
    errors.UnknownCampaign: 0,
    errors.RewardsNotFound: 0,
    errors.NotEligible: 69,
    errors.UnknownPool: 30,
    errors.ModeMismatch: 103,
    errors.AlreadyRedeemed: 57,
    errors.NothingToRedeem: 43,
    errors.AmountTooLarge: 104,
    errors.PoolExhausted: 49,
    errors.UnknownUserKey: 2,
    errors.UnknownStoreUser: 5,
    errors.IdentifierTaken: 5,
    errors.UnknownReward: 11,
    errors.InvalidReferrer: 111,
    errors.TransactionValueRequired: 102,
}

GROWTH_HACKS = {
    "word_of_mouth": Campaign.GrowthHack.WORD_OF_MOUTH,
    "referral": Campaign.GrowthHack.WORD_OF_MOUTH,
    "loyalty_program": Campaign.GrowthHack.LOYALTY_PROGRAM,
}


def answer(statuscode: int, detail: str = "", **extra) -> tuple[int, dict]:
    """(HTTP status, body) of an answer with this status code."""
    status = STATUS_CODES[statuscode]
    message = f"{status.message}: {detail}" if detail else status.message
    return status.http_status, {"success": statuscode == 1, "statuscode": statuscode, "message": message, **extra}


def money(value: Decimal) -> str:
    return f"{value:.2f}"


# --- Parsing --------------------------------------------------------------------------------------


def parse_body(raw: bytes) -> dict:
    """The body as a dict with lower-cased keys; numbers as Decimal (never float). Raises WireError(102)."""
    try:
        document = json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, NaN, nesting
        raise WireError(102, "the body is not valid JSON") from exc
    if not isinstance(document, dict):
        raise WireError(102, "the body must be a JSON object")
    if b"\\u0000" in raw:  # PostgreSQL text and jsonb cannot hold NUL
        raise WireError(102, "the body contains a NUL character (\\u0000)")
    return {str(key).lower(): value for key, value in document.items()}


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


def credentials(data: dict) -> tuple[str, str] | None:
    apikey, privatekey = data.get("apikey"), data.get("privatekey")
    if isinstance(apikey, str) and isinstance(privatekey, str) and apikey and privatekey:
        return apikey, privatekey
    return None


def _present(value) -> bool:
    return value is not None and value != "" and value != []


def _text(data: dict, key: str, *, allow_int: bool = False) -> str | None:
    value = data.get(key)
    if not _present(value):
        return None
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or len(value) > 255:
        raise WireError(102, f"{key} must be a string of at most 255 characters")
    return value.strip()


@dataclass(frozen=True)
class RedeemRequest:
    identifier_kind: str  # "userkey" | "useridinstore" | "emailid"
    identifier: str
    mode: str  # RedemptionCall.Mode
    reward_ids: list[str] | None = None
    amount: Decimal | None = None
    pool_id: int | None = None
    campaign_code: str | None = None
    growth_hack: str | None = None  # as sent; checked after the user (status 3)

    def summary(self) -> dict:
        """What the call record keeps: the request without credentials."""
        return {
            self.identifier_kind: self.identifier,
            "mode": self.mode,
            "rewarddtlids": self.reward_ids,
            "amount": money(self.amount) if self.amount is not None else None,
            "poolId": self.pool_id,
            "campaignId": self.campaign_code,
            "growthHack": self.growth_hack,
        }


def parse_request(data: dict) -> RedeemRequest:
    """The user identifier and the mode by the contract's precedence. Raises WireError(102)."""
    identifier_kind = identifier = None
    for kind in ("userkey", "useridinstore", "emailid"):
        value = _text(data, kind, allow_int=kind == "useridinstore")
        if value:
            identifier_kind, identifier = kind, value
            break
    if identifier is None:
        raise WireError(102, "one of userkey, UserIdInstore, EmailId is required")
    common = {
        "identifier_kind": identifier_kind,
        "identifier": identifier,
        "campaign_code": _text(data, "campaignid", allow_int=True),
        "growth_hack": _text(data, "growthhack"),
    }
    if _present(data.get("rewarddtlids")):
        return RedeemRequest(mode="IDS", reward_ids=_reward_ids(data["rewarddtlids"]), **common)
    if _present(data.get("amount")):
        return RedeemRequest(mode="AMOUNT", amount=_amount(data["amount"]), **common)
    if _present(data.get("poolid")):
        return RedeemRequest(mode="POOL", pool_id=_pool_id(data["poolid"]), **common)
    raise WireError(102, "one of rewarddtlids, amount, poolId is required")


def _reward_ids(value) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_IDS:
        raise WireError(102, f"rewarddtlids must be a list of at most {MAX_IDS} ids")
    ids = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int)) or str(item).strip() == "":
            raise WireError(102, "rewarddtlids must hold strings or integers")
        if len(str(item)) > 100:
            raise WireError(102, "a reward id is at most 100 characters")
        ids.append(str(item).strip())
    return ids


def _amount(value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise WireError(102, "amount must be a number or a numeric string")
    try:
        amount = to_money(value)
    except ValueError as exc:
        raise WireError(102, f"amount: {exc}") from exc
    if amount <= 0:
        raise WireError(102, "amount must be greater than 0")
    return amount


def _pool_id(value) -> int:
    if isinstance(value, bool):
        raise WireError(102, "poolId must be an integer")
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if not isinstance(value, int) or not 0 < value <= MAX_BIGINT:
        raise WireError(102, "poolId must be a positive integer")
    return value


def parse_growth_hack(value: str | None) -> str | None:
    """The campaign growth hack a filter names, or None. Raises WireError(3) for an unknown value."""
    if value is None:
        return None
    try:
        return GROWTH_HACKS[value.lower()]
    except KeyError:
        raise WireError(3, f"{value!r} is not Word_of_Mouth, Referral or Loyalty_Program") from None


# --- The call -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    http_status: int
    body: dict
    request: RedeemRequest | None = None
    customer: Customer | None = None
    redemption: Redemption | None = None
    pool_redemption: PoolRedemption | None = None
    reference: uuid.UUID = field(default_factory=uuid.uuid4)  # the call's; on the ledger entries it makes


def redeem(*, raw: bytes, idempotency_key: str | None, throttled: Callable[[Org], bool]) -> tuple[int, dict]:
    """Answer one Redeem Rewards call: (HTTP status, body). Every authenticated call is recorded."""
    try:
        data = parse_body(raw)
    except WireError as error:
        return answer(error.statuscode, error.detail)
    presented = credentials(data)
    org = app_authenticate(apikey=presented[0], privatekey=presented[1]) if presented else None
    if org is None:
        return answer(101)
    if throttled(org):
        return answer(106)  # not recorded: a flood must not turn into a flood of writes
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 255:
        return answer(102, "Idempotency-Key must be 1 to 255 characters")
    with transaction.atomic():
        claim_id = None
        if idempotency_key:
            digest = hashlib.sha256(raw).hexdigest()
            claim_id, earlier = idempotency_claim(org_id=org.pk, key=idempotency_key, body_digest=digest)
            if earlier is not None:
                return _replay(org=org, data=data, earlier=earlier, digest=digest)
        outcome = _redeem(org=org, data=data)
        _record(org=org, data=data, outcome=outcome, idempotency_key=idempotency_key or "")
        if claim_id is not None:
            idempotency_store(claim_id=claim_id, http_status=outcome.http_status, response=outcome.body)
    return outcome.http_status, outcome.body


def _replay(*, org: Org, data: dict, earlier: IdempotencyKey, digest: str) -> tuple[int, dict]:
    same_body = earlier.body_digest == digest
    outcome = Outcome(earlier.http_status, earlier.response) if same_body else Outcome(*answer(105))
    _record(
        org=org, data=data, outcome=outcome, idempotency_key=earlier.key, replayed=outcome.body["statuscode"] != 105
    )
    return outcome.http_status, outcome.body


def _redeem(*, org: Org, data: dict) -> Outcome:
    outcome = Outcome(0, {})
    try:
        outcome.request = request = parse_request(data)
        outcome.customer = customer = _find_user(org=org, request=request)
        growth_hack = parse_growth_hack(request.growth_hack)
        campaign = None
        if request.campaign_code is not None:
            campaign = campaign_by_code(org_id=org.pk, code=request.campaign_code)
            if campaign is None:
                raise WireError(0, f"unknown campaignId {request.campaign_code!r}")
        filters = {"customer": customer, "campaign": campaign, "growth_hack": growth_hack}
        if request.mode == "POOL":
            outcome.pool_redemption = done = coupon_redeem_from_pool(pool_id=request.pool_id, **filters)
            outcome.http_status, outcome.body = answer(
                1,
                coupon={
                    "code": done.coupon.code,
                    "poolId": done.coupon.pool_id,
                    "expiresAt": done.coupon.expires_at.isoformat() if done.coupon.expires_at else None,
                },
            )
            return outcome
        if request.mode == "IDS":
            redemption = rewards_redeem_by_ids(
                codes=request.reward_ids, reference=_ledger_reference(outcome), **filters
            )
        else:
            redemption = rewards_redeem_by_amount(
                amount=request.amount, reference=_ledger_reference(outcome), **filters
            )
        outcome.redemption = redemption
        outcome.http_status, outcome.body = answer(
            1,
            redeemed={"amount": money(redemption.amount), "rewarddtlids": redemption.reward_codes},
            wallet={"balance": money(redemption.balance)},
        )
    except WireError as error:
        outcome.http_status, outcome.body = answer(error.statuscode, error.detail)
    except errors.DomainError as error:
        outcome.http_status, outcome.body = answer(ERROR_CODES[type(error)])
    return outcome


def _ledger_reference(outcome: Outcome) -> str:
    return f"appvirality-redeem:{outcome.reference.hex}"


def _find_user(*, org: Org, request: RedeemRequest) -> Customer:
    if request.identifier_kind == "userkey":
        customer = customer_by_user_key(org_id=org.pk, user_key=request.identifier)
        code = 2
    elif request.identifier_kind == "useridinstore":
        customer = customer_by_external_id(org_id=org.pk, external_id=request.identifier)
        code = 5
    else:
        customer = customer_by_email(org_id=org.pk, email=request.identifier)
        code = 5
    if customer is None:
        raise WireError(code)
    return customer


def _record(*, org: Org, data: dict, outcome: Outcome, idempotency_key: str, replayed: bool = False) -> None:
    request, redemption, pool = outcome.request, outcome.redemption, outcome.pool_redemption
    summary = request.summary() if request else {k: v for k, v in data.items() if k not in ("apikey", "privatekey")}
    text = json.dumps(summary, default=str)  # request values may be Decimal
    summary = json.loads(text) if len(text) <= 4000 else {"truncated": True, "size": len(text)}
    reward_codes = redemption.reward_codes if redemption else ([pool.reward_code] if pool else [])
    redemption_call_record(
        org=org,
        customer=outcome.customer,
        mode=request.mode if request else "",
        user_identifier=request.identifier if request else "",
        request_summary=summary,
        status_code=outcome.body["statuscode"],
        http_status=outcome.http_status,
        response=outcome.body,
        amount=redemption.amount if redemption else None,
        reward_codes=reward_codes,
        reward_amounts={code: str(take) for code, take in redemption.taken.items()} if redemption else {},
        coupon_id=pool.coupon.pk if pool else None,
        ledger_entry=redemption.ledger_entry if redemption else None,
        reference=outcome.reference,
        idempotency_key=idempotency_key,
        replayed=replayed,
    )
