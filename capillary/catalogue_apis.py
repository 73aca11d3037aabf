"""Capillary's catalogue calls around Issue Reward: what a customer can be issued
(``GET /v1.1/user/rewards[/{rewardId}]``), their issue records (``GET /v1.1/reward-transactions``),
revoking an issue (``POST /v1/user/reward/revoke``) and fulfilment (``PUT /v1/management/transactions``).
Thin views: parse, call one selector or service, render; each also under ``/api_gateway/rewards/core/``."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from catalogue import selectors
from catalogue.customer_rewards import issue_records, reward_issuable, rewards_issuable
from catalogue.errors import FulfilmentInvalid, IssueNotFound, NotRevocable, RevokeDisabled
from catalogue.fulfilment import FulfilmentChange, issues_fulfilment_update
from catalogue.models import IssueRefusal, PaymentConfig
from catalogue.refusals import refusal_failed
from catalogue.revocation import reward_issue_revoke
from core.numbers import BIGINT_MAX, NumberInvalid, id_parse, integer_parse

from .apis import _caller, _CapillaryApi, _scope
from .errors import oauth_exception_handler
from .parsing import query_of
from .render import failure_result, issue_result
from .till_apis import (
    _CUSTOMER_PARAMETERS,
    TillInputError,
    _money_text,
    _table,
    _text,
    customer_ref,
)

OWN_CODES = {
    9001: "revoke is disabled for the org that issued the reward (its revoke_enabled is off) (HTTP 400)",
    9002: "transaction not found, or outside the data scope (HTTP 404)",
    9004: "not revocable: a coupon of it was used at a till, a vendor reward, or not ISSUED (HTTP 400)",
}
READ_CODES = {
    400: "bad page or size (size above the route's maximum), bad identifier, format other than json (HTTP 400)",
    401: "missing or wrong credentials (HTTP 401)",
    403: "org outside the data scope (HTTP 403)",
    404: "customer not found in the orgs in scope; detail: the reward cannot be issued to them now (HTTP 404)",
    429: "too many failed Basic authentications for this till or address: wait Retry-After seconds (HTTP 429)",
}
FULFILMENT_CODES = {
    400: "undefined fulfilment status or custom field, customerId/rewardId not the transaction's, more than 50 "
    "transactions or 20 custom fields, malformed body (HTTP 400); nothing applied",
    9002: "transaction not found or outside the data scope (HTTP 404); nothing applied",
}


class _DataApi(_CapillaryApi):
    """Routes answering ``{"data": ..., "errors": null}`` (errors: ``{"data": null, "errors": [...]}``)."""

    def get_exception_handler(self):
        return oauth_exception_handler


def _int(source, name: str, *, default: int | None = None, low: int = 0, high: int = BIGINT_MAX) -> int | None:
    value = source.get(name)
    if value is None or value == "":
        return default
    try:
        return integer_parse(value, minimum=low, maximum=high)
    except NumberInvalid as exc:
        raise TillInputError(f"{name}: an integer from {low} to {high} is required") from exc


def _customers(request, caller, query) -> list:
    """The customer in each org in scope (the caller's first), by mobile, email, external_id or
    ``userId`` / ``customerId`` (this service's customer id)."""
    scope = _scope(request, caller)
    ref = customer_ref(query)
    customer_id = _int(query, "userId", low=1) or _int(query, "customerId", low=1)
    if not any((ref.mobile, ref.email, ref.external_id, customer_id)):
        raise TillInputError("a customer identifier is required: mobile, email, external_id or userId")
    found = []
    for org_id in sorted(scope, key=lambda org: (org != caller.org_id, org)):
        customer = selectors.customer_for_issue(
            org_id=org_id, mobile=ref.mobile, email=ref.email, external_id=ref.external_id, customer_id=customer_id
        )
        if customer is not None:
            found.append(customer)
    if not found:
        raise exceptions.NotFound("customer not found in the orgs in scope")
    return found


def _page(query, *, default_size: int, max_size: int) -> tuple[int, int]:
    page = _int(query, "page", default=0, high=1_000_000)
    return page, _int(query, "size", default=default_size, low=1, high=max_size)


def _config_out(config: PaymentConfig) -> dict:
    if config.mode == PaymentConfig.Mode.POINTS:
        return {"id": config.pk, "paymentMode": config.mode, "points": _money_text(config.points)}
    return {"id": config.pk, "paymentMode": config.mode, "conversionRatio": str(config.conversion_ratio.normalize())}


def _reward_out(reward) -> dict:
    configs = [reward.configs[pk] for pk in sorted(reward.configs)]
    points = next((c.points for c in configs if c.mode == PaymentConfig.Mode.POINTS), None)
    return {
        "id": reward.pk,
        "name": reward.name,
        "type": reward.type,
        "orgId": reward.org_id,
        "redemptionType": reward.redemption_type,
        "startTime": reward.starts_at.isoformat() if reward.starts_at else None,
        "endTime": reward.ends_at.isoformat() if reward.ends_at else None,
        "paymentConfigs": [_config_out(config) for config in configs],
        "intouchPoints": _money_text(points) if points is not None else None,
    }


_READ_PARAMETERS = [
    OpenApiParameter("username", str, required=True),
    *_CUSTOMER_PARAMETERS,
    OpenApiParameter("format", str, enum=["json"]),
    OpenApiParameter("DATA-SCOPE", str, OpenApiParameter.HEADER, enum=["SELF", "OTHER"]),
    OpenApiParameter("DATA-SCOPE-ORG", str, OpenApiParameter.HEADER),
]
_DATA = OpenApiResponse(OpenApiTypes.OBJECT, description=_table(READ_CODES))


class UserRewardsApi(_DataApi):
    @extend_schema(
        operation_id="user_rewards",
        summary="The rewards this customer can be issued now (Capillary v1.1)",
        description="Enabled, inside their dates, the customer in one of their segments when they have any, "
        "with an ACTIVE card when they have cards: the same eligibility as Issue Reward. Ordered by reward id. "
        'Answer `{"data": [{id, name, type, orgId, redemptionType, startTime, endTime, paymentConfigs, '
        'intouchPoints}], "pagination": {page, size, total}, "errors": null}`.\n\n' + _table(READ_CODES),
        parameters=[
            *_READ_PARAMETERS,
            OpenApiParameter("userId", int, description="This service's customer id (customerId in answers)."),
            OpenApiParameter("page", int, description="From 0."),
            OpenApiParameter("size", int, description="Default 100, at most 100 (more: 400)."),
        ],
        responses={200: _DATA, 400: _DATA, 401: _DATA, 403: _DATA, 404: _DATA, 429: _DATA},
    )
    def get(self, request):
        caller = _caller(request)
        query = query_of(request)
        page, size = _page(query, default_size=100, max_size=100)
        found = rewards_issuable(customers=_customers(request, caller, query), page=page, size=size)
        pagination = {"page": page, "size": size, "total": found.total}
        return Response({"data": [_reward_out(r) for r in found.items], "pagination": pagination, "errors": None})


class UserRewardApi(_DataApi):
    @extend_schema(
        operation_id="user_reward",
        summary="One reward, if this customer can be issued it now (Capillary v1.1)",
        description='`{"data": {...as in the list...}, "errors": null}`; 404 when the customer could not be '
        "issued it now, or it is outside the data scope, or it does not exist.\n\n" + _table(READ_CODES),
        parameters=[
            *_READ_PARAMETERS,
            OpenApiParameter("userId", int),
            OpenApiParameter("reward_id", int, OpenApiParameter.PATH, description="The rewardId."),
        ],
        responses={200: _DATA, 400: _DATA, 401: _DATA, 403: _DATA, 404: _DATA, 429: _DATA},
    )
    def get(self, request, reward_id):
        caller = _caller(request)
        query = query_of(request)
        customers = _customers(request, caller, query)
        try:
            reward = reward_issuable(customers=customers, reward_id=id_parse(reward_id))
        except NumberInvalid:
            reward = None
        if reward is None:
            raise exceptions.NotFound(f"reward {reward_id} cannot be issued to this customer")
        return Response({"data": _reward_out(reward), "errors": None})


def _record(issue) -> dict:
    if isinstance(issue, IssueRefusal):  # a refused line, as the call answered it
        record = failure_result(refusal_failed(issue), event_log_id=issue.event_log_id)
        return {**record, "customerId": issue.customer_id, "createdAt": issue.created_at.isoformat(), "revoked": False}
    record = issue_result(issue)
    revoked = issue.status == issue.Status.CANCELLED
    if revoked:
        record["status"] = {"success": True, "code": 200, "message": "Reward revoked"}
    return {**record, "customerId": issue.customer_id, "createdAt": issue.created_at.isoformat(), "revoked": revoked}


class RewardTransactionsApi(_DataApi):
    @extend_schema(
        operation_id="reward_transactions",
        summary="The customer's issue records, newest first (Capillary v1.1)",
        description="Each in Issue Reward's per-reward shape, as it stands now (fulfilment, custom fields), plus "
        "`customerId`, `createdAt`, `revoked`. `status=true`: issued; `status=false`: the lines "
        "refused (`status.success` false, as the call answered them); no `status`: both.\n\n" + _table(READ_CODES),
        parameters=[
            *_READ_PARAMETERS,
            OpenApiParameter("customerId", int),
            OpenApiParameter("status", bool),
            OpenApiParameter("rewardId", int),
            OpenApiParameter("page", int, description="From 0."),
            OpenApiParameter("size", int, description="Default 10, at most 50 (more: 400)."),
        ],
        responses={200: _DATA, 400: _DATA, 401: _DATA, 403: _DATA, 404: _DATA, 429: _DATA},
    )
    def get(self, request):
        caller = _caller(request)
        query = query_of(request)
        page, size = _page(query, default_size=10, max_size=50)
        status = _text(query, "status", max_length=5)
        if status is not None and status.lower() not in ("true", "false"):
            raise TillInputError("status: true or false")
        found = issue_records(
            customers=_customers(request, caller, query),
            issued=None if status is None else status.lower() == "true",
            reward_id=_int(query, "rewardId", low=1),
            page=page,
            size=size,
        )
        pagination = {"page": page, "size": size, "total": found.total}
        return Response({"data": [_record(issue) for issue in found.items], "pagination": pagination, "errors": None})


_REVOKE_CODE = {RevokeDisabled: (400, 9001), IssueNotFound: (404, 9002), NotRevocable: (400, 9004)}


class RevokeApi(_CapillaryApi):
    @extend_schema(
        operation_id="reward_revoke",
        summary="Revoke an issued reward (Capillary v1)",
        description='Body `{"txnId": <transactionId from Issue Reward>, "notes"?}`. Only when the issuing org '
        "enables it. The issue goes ISSUED -> CANCELLED: its points come back in one ledger entry, its coupons "
        "are voided, its promotion units released. Revoking again answers the first revocation (200), no second "
        'refund. Answer `{"status": {success, code: 200, message}, "transactionId", "pointsRefunded", "balance"}`; '
        'errors `{"status": {success: false, code, message}}`.\n\n' + _table(OWN_CODES),
        parameters=_READ_PARAMETERS[:1] + _READ_PARAMETERS[4:],
        request=OpenApiTypes.OBJECT,
        responses={code: OpenApiTypes.OBJECT for code in (200, 400, 401, 403, 404, 413, 415, 429)},
        examples=[OpenApiExample("revoke", value={"txnId": 1, "notes": "order cancelled"}, request_only=True)],
    )
    def post(self, request):
        caller = _caller(request)
        scope = _scope(request, caller)
        body = request.data
        if not isinstance(body, dict):
            raise TillInputError("the body must be a JSON object")
        txn_id = _int(body, "txnId", low=1)
        if txn_id is None:
            raise TillInputError("txnId is required")
        try:
            revocation = reward_issue_revoke(
                reward_issue_id=txn_id,
                reason=_text(body, "notes", max_length=2000) or "",
                till_username=caller.till_username,
                org_ids=scope,
            )
        except (RevokeDisabled, IssueNotFound, NotRevocable) as exc:
            http, code = next(v for kind, v in _REVOKE_CODE.items() if isinstance(exc, kind))
            return Response({"status": {"success": False, "code": code, "message": str(exc)}}, status=http)
        entry = revocation.ledger_entry
        message = "Reward revoked already" if revocation.replayed else "Reward revoked"
        return Response(
            {
                "status": {"success": True, "code": 200, "message": message},
                "transactionId": revocation.issue_id,
                "pointsRefunded": _money_text(revocation.points),
                "balance": _money_text(entry.balance_after) if entry is not None else None,
            }
        )


MAX_TRANSACTIONS = 50
MAX_CUSTOM_FIELDS = 20


def _change(index: int, item) -> FulfilmentChange:
    where = f"transactions[{index}]"
    if not isinstance(item, dict):
        raise TillInputError(f"{where} must be an object")
    transaction_id = _int(item, "transactionId", low=1)
    if transaction_id is None:
        raise TillInputError(f"{where}.transactionId is required")
    status = item.get("fulfillmentStatus")
    if status is not None and not isinstance(status, dict):
        raise TillInputError(f"{where}.fulfillmentStatus must be an object {{name}}")
    fields = item.get("transactionCustomFields")
    if fields is not None and not isinstance(fields, dict):
        raise TillInputError(f"{where}.transactionCustomFields must be an object")
    if fields and len(fields) > MAX_CUSTOM_FIELDS:
        raise TillInputError(f"{where}.transactionCustomFields: at most {MAX_CUSTOM_FIELDS}")
    for name, value in (fields or {}).items():
        if not 0 < len(name) <= 100:
            raise TillInputError(f"{where}.transactionCustomFields: names have 1 to 100 characters")
        if (value is not None and not isinstance(value, (str, int, float, bool))) or len(str(value)) > 1000:
            raise TillInputError(f"{where}.transactionCustomFields.{name[:100]}: a string of 1000 characters at most")
    return FulfilmentChange(
        transaction_id=transaction_id,
        customer_id=_int(item, "customerId", low=1),
        reward_id=_int(item, "rewardId", low=1),
        fulfillment_status=_text(status, "name", max_length=100) if status else None,
        custom_fields=fields or None,
    )


class FulfilmentApi(_DataApi):
    @extend_schema(
        operation_id="transactions_fulfilment",
        summary="Move fulfilment along: status and custom fields of issued rewards (Capillary v1)",
        description='Body `{"transactions": [{transactionId, customerId?, rewardId?, fulfillmentStatus: {name}, '
        "transactionCustomFields: {...}}]}` (at most 50; at most 20 custom fields each; names defined for the "
        'org). All or nothing; every change is kept in the history. Answer `{"data": [{transactionId, '
        'fulfillmentStatus, transactionCustomFields}], "errors": null}`.\n\n' + _table(FULFILMENT_CODES),
        parameters=_READ_PARAMETERS[:1] + _READ_PARAMETERS[4:],
        request=OpenApiTypes.OBJECT,
        responses={200: _DATA, 400: _DATA, 401: _DATA, 403: _DATA, 404: _DATA, 413: _DATA, 415: _DATA, 429: _DATA},
    )
    def put(self, request):
        caller = _caller(request)
        scope = _scope(request, caller)
        body = request.data
        items = body.get("transactions") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise TillInputError("transactions: a list of 1 to 50 is required")
        if len(items) > MAX_TRANSACTIONS:
            raise TillInputError(f"transactions: at most {MAX_TRANSACTIONS}")
        changes = [_change(index, item) for index, item in enumerate(items)]
        try:
            issues = issues_fulfilment_update(org_ids=scope, changes=changes, till_username=caller.till_username)
        except IssueNotFound as exc:
            return Response({"data": None, "errors": [{"code": 9002, "message": str(exc)}]}, status=404)
        except FulfilmentInvalid as exc:
            return Response({"data": None, "errors": [{"code": 400, "message": str(exc)}]}, status=400)
        data = [
            {
                "transactionId": issue.pk,
                "fulfillmentStatus": {"name": issue.fulfillment_status} if issue.fulfillment_status else None,
                "transactionCustomFields": issue.custom_fields or {},
            }
            for issue in issues
        ]
        return Response({"data": data, "errors": None})
