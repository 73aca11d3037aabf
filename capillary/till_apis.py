"""Capillary's points and coupon calls at the till (v1.1 envelope) and the v2 points reversal:
thin views that parse the request, call one service, and render its result or refusal.

* ``GET /v1.1/points/isredeemable``, ``POST /v1.1/points/redeem`` (``wallets.till``,
  ``catalogue.till_points`` for validation codes)
* ``POST /v2/points/reverse`` (``wallets.till``)
* ``GET /v1.1/coupon/isredeemable``, ``POST /v1.1/coupon/redeem`` (``coupons.issued``)

No serializer is built per request: these calls run at every checkout, so their few fields
are read by hand, each with its type and length checked (``TillInputError``: HTTP 400).
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions
from rest_framework.response import Response

from catalogue.till_points import till_points_redeem_for, till_points_redeemable
from core.errors import DomainError
from core.numbers import NumberInvalid, id_parse
from coupons import errors as coupon_errors
from coupons.issued import coupon_for_till, coupon_redeem_by_identifier
from orgs.errors import InvalidScope
from wallets import errors as points_errors
from wallets.owners import GroupRef
from wallets.till import (
    CustomerRef,
    points_parse,
    points_payer_find,
    points_reverse,
    redeem_value,
)

from .apis import ValidationCodeApi, _caller, _CapillaryApi, _scope
from .errors import _error
from .parsing import query_of

# --- codes -------------------------------------------------------------------------------------

POINTS_ITEM_CODES = {
    800: "points redeemable / redeemed (HTTP 200)",
    803: "more points than the customer (or the group) holds (redeem: HTTP 400)",
    808: "validation code missing, wrong, used or expired, with skip_validation=false (redeem: HTTP 400)",
    811: "transaction_number used before by this customer for other points; nothing changed (HTTP 400)",
    816: "customer not found in the org, or not a member of the named group (redeem: HTTP 400)",
    819: "points not a number, not above 0, more than two decimals or too large (redeem: HTTP 400)",
}
REVERSE_CODES = {
    812: "the redemption is fully reversed, or the points exceed what is left of it (HTTP 400)",
    816: "unknown customer, unknown redemptionId, or a redemption of another customer (HTTP 400)",
    819: "pointsToBeReversed not a number above 0 with two decimals at most (HTTP 400)",
    400: "malformed body or identifier (HTTP 400)",
    401: "missing or wrong credentials (HTTP 401)",
    403: "org outside the data scope (HTTP 403)",
    429: "too many failed Basic authentications for this till or address: wait Retry-After seconds (HTTP 429)",
}
COUPON_ITEM_CODES = {
    700: "coupon redeemable / redeemed (also the replay of the same code and transaction number)",
    702: "coupon already redeemed (in another transaction)",
    703: "coupon expired",
    704: "coupon not issued to this customer (or the customer is unknown)",
    705: "coupon voided (its issue revoked, or voided by staff)",
    708: "no coupon with this code in the org",
}
ENVELOPE_CODES = {
    200: "the item succeeded",
    500: "the item failed: see item_status (its message is the item's)",
    400: "malformed request (no item): bad JSON, more than one item, a field of the wrong type or too long, "
    "format other than json, bad DATA-SCOPE headers (HTTP 400)",
    401: "missing or wrong credentials, username not the caller's till (HTTP 401)",
    403: "org outside the data scope (HTTP 403)",
    429: "too many failed Basic authentications for this till or address: wait Retry-After seconds (HTTP 429)",
}


def _table(codes: dict) -> str:
    return "| code | meaning |\n|---|---|\n" + "\n".join(f"| {code} | {meaning} |" for code, meaning in codes.items())


_POINTS_CODE = {
    points_errors.PointsNotAvailable: 803,
    points_errors.ValidationCodeRefused: 808,
    points_errors.TransactionNumberReused: 811,
    points_errors.ReversalTooLarge: 812,
    points_errors.CustomerUnknown: 816,
    points_errors.RedemptionUnknown: 816,
    points_errors.PointsInvalid: 819,
}
_COUPON_CODE = {
    coupon_errors.CouponAlreadyRedeemed: 702,
    coupon_errors.CouponExpired: 703,
    coupon_errors.CouponNotHeld: 704,
    coupon_errors.CouponVoided: 705,
    coupon_errors.CouponUnknown: 708,
}


def _code_of(exc: DomainError, table: dict) -> int:
    return next(code for kind, code in table.items() if isinstance(exc, kind))


def _item_status(code: int, message: str) -> dict:
    return {"success": code in (700, 800), "code": code, "message": message}


def _envelope(item_code: int, message: str, **body) -> dict:
    ok = item_code in (700, 800)
    status = {"success": ok, "code": 200 if ok else 500, "message": "SUCCESS" if ok else message}
    return {"response": {"status": status, **body}}


def v11_exception_handler(exc, context):
    """The v1.1 envelope without an item: ``{"response": {"status": {success, code, message}}}``."""
    error = _error(exc)
    if error is None:
        return None
    http_status, code, message, _ = error
    body = {"response": {"status": {"success": False, "code": code, "message": message}}}
    headers = {"WWW-Authenticate": 'Basic realm="rewards"'} if http_status == 401 else {}
    return Response(body, status=http_status, headers=headers)


def v2_exception_handler(exc, context):
    """Capillary v2 errors: ``{"errors": [{"code", "message"}]}``."""
    error = _error(exc)
    if error is None:
        return None
    http_status, code, message, _ = error
    return Response({"errors": [{"code": code, "message": message}]}, status=http_status)


# --- reading the request -----------------------------------------------------------------------


class TillInputError(exceptions.ParseError):
    """A field of the wrong type or too long: HTTP 400, nothing done."""


def _text(source: dict, *names: str, max_length: int = 255) -> str | None:
    """The first of ``names`` present and not empty, as a string (numbers are accepted)."""
    for name in names:
        value = source.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise TillInputError(f"{name}: a string is required")
        value = str(value)
        if len(value) > max_length:
            raise TillInputError(f"{name}: at most {max_length} characters")
        return value
    return None


def _flag(source: dict, name: str) -> bool:
    value = source.get(name)
    if isinstance(value, bool):
        return value
    return isinstance(value, (str, int)) and str(value).strip().lower() in ("true", "1", "yes")


def _group_id(source: dict) -> int | None:
    value = _text(source, "user_group2_id", "userGroup2Id", max_length=20)
    if value is None:
        return None
    try:
        return id_parse(value)
    except NumberInvalid as exc:
        raise TillInputError("user_group2_id: a positive integer is required") from exc


def customer_ref(source: dict) -> CustomerRef:
    """mobile, email, external_id (or externalId): the first present names the customer."""
    return CustomerRef(
        mobile=_text(source, "mobile", max_length=20),
        email=_text(source, "email", max_length=254),
        external_id=_text(source, "external_id", "externalId", max_length=150),
    )


def _group(source: dict) -> GroupRef | None:
    group = GroupRef(
        group_id=_group_id(source), external_id=_text(source, "user_group2_external_id", "userGroup2ExternalId")
    )
    if group.given:
        return group
    if _flag(source, "group_redemption"):
        raise points_errors.CustomerUnknown("group_redemption needs user_group2_id or user_group2_external_id")
    return None


def till_org(request, caller) -> int:
    """The org of a till call: the caller's, or with ``DATA-SCOPE: OTHER`` the one org named."""
    scope = _scope(request, caller)
    if request.headers.get("DATA-SCOPE", "SELF").strip().upper() != "OTHER":
        return caller.org_id
    if len(scope) != 1:
        raise InvalidScope("DATA-SCOPE-ORG must name exactly one org on points and coupon calls")
    return next(iter(scope))


def _one_item(body, key: str) -> dict:
    """``{"root": {key: [item]}}`` or ``{"root": {key: item}}`` (``root`` may be left out)."""
    if not isinstance(body, dict):
        raise TillInputError("the body must be a JSON object")
    root = body.get("root", body)
    if not isinstance(root, dict):
        raise TillInputError("root must be an object")
    items = root.get(key)
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        raise TillInputError(f"root.{key}: one item (an object, or a list of one) is required")
    if len(items) > 1:
        raise TillInputError(f"root.{key}: one item per call")
    if not isinstance(items[0], dict):
        raise TillInputError(f"root.{key}[0] must be an object")
    return items[0]


def _till_item(request, key: str):
    """(caller, org, the one item, the item with its ``customer`` object's identifiers on top)."""
    caller = _caller(request)
    org_id = till_org(request, caller)
    item = _one_item(request.data, key)
    customer = item.get("customer")
    if customer is not None and not isinstance(customer, dict):
        raise TillInputError("customer must be an object")
    return caller, org_id, item, {**item, **(customer or {})}


def _money_text(value: Decimal) -> str:
    return f"{value:.2f}"


def _identity(ref: CustomerRef, payer=None) -> dict:
    customer = payer.customer if payer is not None else None
    return {
        "mobile": (customer.mobile if customer else None) or ref.mobile or "",
        "email": (customer.email if customer else None) or ref.email or "",
        "external_id": (customer.external_id if customer else None) or ref.external_id or "",
    }


class _TillApi(_CapillaryApi):
    def get_exception_handler(self):
        return v11_exception_handler


_COMMON_PARAMETERS = [
    OpenApiParameter("username", str, required=True, description="The till (Basic) or a till of the token's org."),
    OpenApiParameter("format", str, enum=["json"], description="Accepted and ignored; any other value: 400."),
    OpenApiParameter("DATA-SCOPE", str, OpenApiParameter.HEADER, enum=["SELF", "OTHER"]),
    OpenApiParameter("DATA-SCOPE-ORG", str, OpenApiParameter.HEADER, description="With OTHER: exactly one org id."),
    OpenApiParameter("CAP-API-ACCESS-TOKEN", str, OpenApiParameter.HEADER, description="As X-CAP-API-OAUTH-TOKEN."),
]
# How a till names the customer in a query (``customer_ref``).
_CUSTOMER_PARAMETERS = [OpenApiParameter(name, str) for name in ("mobile", "email", "external_id")]
_V11 = OpenApiResponse(OpenApiTypes.OBJECT, description="The v1.1 envelope.\n\n" + _table(ENVELOPE_CODES))


# --- points --------------------------------------------------------------------------------------


class PointsIsRedeemableApi(_TillApi):
    @extend_schema(
        operation_id="points_isredeemable",
        summary="Can the customer redeem these points now? (Capillary v1.1; writes nothing)",
        description="Answer `response.points.redeemable: {mobile, email, external_id, points, is_redeemable, "
        "points_redeem_value, points_currency_ratio, item_status}`; HTTP 200 for every item code.\n\n"
        + _table({k: v for k, v in POINTS_ITEM_CODES.items() if k != 811}),
        parameters=[
            *_COMMON_PARAMETERS,
            *_CUSTOMER_PARAMETERS,
            OpenApiParameter("points", str, required=True, description='Decimal string, e.g. "30" or "30.50".'),
            OpenApiParameter("validation_code", str),
            OpenApiParameter("skip_validation", bool, description="Default false: validation_code is checked."),
            OpenApiParameter("group_redemption", bool),
            OpenApiParameter("user_group2_id", int),
            OpenApiParameter("user_group2_external_id", str),
        ],
        responses={200: _V11, 400: _V11, 401: _V11, 403: _V11, 429: _V11},
    )
    def get(self, request):
        caller = _caller(request)
        org_id = till_org(request, caller)
        query = query_of(request)
        ref = customer_ref(query)
        raw_points = query.get("points")
        ratio, payer, points = None, None, None
        try:
            points = points_parse(raw_points)
            payer = points_payer_find(org_id=org_id, customer=ref, group=_group(query))
            ratio = payer.points_currency_ratio
            value = till_points_redeemable(
                payer=payer,
                points=points,
                validation_code=_text(query, "validation_code", max_length=64),
                skip_validation=_flag(query, "skip_validation"),
            )
            code, message = 800, "Points can be redeemed"
        except points_errors.TillPointsRefused as exc:
            code, message, value = _code_of(exc, _POINTS_CODE), str(exc), None
            if points is not None and ratio is not None:
                value = redeem_value(points=points, ratio=ratio)
        redeemable = {
            **_identity(ref, payer),
            "points": _money_text(points) if points is not None else str(raw_points or "")[:40],
            "is_redeemable": code == 800,
            "points_redeem_value": _money_text(value) if value is not None else None,
            "points_currency_ratio": str(ratio.normalize()) if ratio is not None else None,
            "item_status": _item_status(code, message),
        }
        return Response(_envelope(code, message, points={"redeemable": redeemable}))


REDEEM_EXAMPLE = {
    "root": {
        "redeem": [
            {
                "points_redeemed": "30",
                "transaction_number": "bill-1001",
                "customer": {"mobile": "919900000001"},
                "notes": "checkout",
                "validation_code": "",
            }
        ]
    }
}


class PointsRedeemApi(_TillApi):
    @extend_schema(
        operation_id="points_redeem",
        summary="Redeem points at the till (Capillary v1.1)",
        description='Body `{"root": {"redeem": [item]}}` (`redeem` may be one object; one item per call). '
        "Takes the points from the customer's (or, with `group_redemption` and `user_group2_id`, the group's) "
        "wallet in one ledger entry. `transaction_number` is idempotent per customer: the same number and "
        "points again answers the first redemption (same `redemption_id`, the balance as it was then); other "
        "points under the same number: 811, nothing changed. A refused call does not use up its number.\n\n"
        "Answer `response.responses.points: {mobile, email, external_id, points_redeemed, redemption_id, "
        "redeemed_value, balance, item_status}`: HTTP 200 on 800, 400 otherwise.\n\n" + _table(POINTS_ITEM_CODES),
        parameters=[*_COMMON_PARAMETERS, OpenApiParameter("skip_validation", bool), OpenApiParameter("program_id")],
        request=OpenApiTypes.OBJECT,
        responses={200: _V11, 400: _V11, 401: _V11, 403: _V11, 413: _V11, 415: _V11, 429: _V11},
        examples=[OpenApiExample("a till's redemption", value=REDEEM_EXAMPLE, request_only=True)],
    )
    def post(self, request):
        caller, org_id, item, source = _till_item(request, "redeem")
        ref = customer_ref(source)
        number = _text(item, "transaction_number", "transactionNumber")
        notes = _text(item, "notes", max_length=2000) or ""
        when = _text(item, "redemption_time", max_length=64) or ""
        code_given = _text(item, "validation_code", max_length=64)
        skip = _flag(request.query_params, "skip_validation")
        payer, points = None, None
        try:
            points = points_parse(item.get("points_redeemed", item.get("points")))
            redeemed = till_points_redeem_for(
                org_id=org_id,
                customer=ref,
                group=_group(source),
                points=points,
                transaction_number=number,
                till_username=caller.till_username,
                notes=notes,
                redemption_time=when,
                validation_code=code_given,
                skip_validation=skip,
            )
            payer = redeemed.payer
        except points_errors.TillPointsRefused as exc:
            payer = exc.context.get("payer")
            code = _code_of(exc, _POINTS_CODE)
            answer = {
                **_identity(ref, payer),
                "points_redeemed": _money_text(points) if points is not None else "0.00",
                "redemption_id": None,
                "redeemed_value": "0.00",
                "balance": _money_text(payer.balance) if payer is not None else None,
                "item_status": _item_status(code, str(exc)),
            }
            return Response(_envelope(code, str(exc), responses={"points": answer}), status=400)
        redemption = redeemed.redemption
        answer = {
            **_identity(ref, payer),
            "points_redeemed": _money_text(redemption.points),
            "redemption_id": redemption.reference,
            "redeemed_value": _money_text(redemption.redeemed_value),
            "balance": _money_text(redemption.balance_after),
            "item_status": _item_status(800, "Points redeemed"),
        }
        return Response(_envelope(800, "Points redeemed", responses={"points": answer}))


class PointsReverseApi(_CapillaryApi):
    def get_exception_handler(self):
        return v2_exception_handler

    @extend_schema(
        operation_id="points_reverse",
        summary="Reverse (part of) a till redemption (Capillary v2)",
        description='Body `{"redemptionId", "pointsToBeReversed", "identifier": {"type": '
        '"mobile"|"email"|"externalId", "value"}}`. Credits back up to what the redemption took; several '
        "partial reversals allowed, their sum never above it. Answer 200 `{redemptionId, pointsReversed, "
        'balance, warnings: []}`; errors `{"errors": [{code, message}]}`.\n\n' + _table(REVERSE_CODES),
        parameters=_COMMON_PARAMETERS,
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiTypes.OBJECT,
            (400, "application/json"): OpenApiTypes.OBJECT,
            (401, "application/json"): OpenApiTypes.OBJECT,
            (403, "application/json"): OpenApiTypes.OBJECT,
            (413, "application/json"): OpenApiTypes.OBJECT,
            (415, "application/json"): OpenApiTypes.OBJECT,
            (429, "application/json"): OpenApiTypes.OBJECT,
        },
        examples=[
            OpenApiExample(
                "half of a redemption",
                value={
                    "redemptionId": "5XQ2M8K1ZP0A",
                    "pointsToBeReversed": 15,
                    "identifier": {"type": "mobile", "value": "919900000001"},
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        caller = _caller(request)
        org_id = till_org(request, caller)
        body = request.data
        if not isinstance(body, dict):
            raise TillInputError("the body must be a JSON object")
        identifier = body.get("identifier")
        if not isinstance(identifier, dict):
            raise TillInputError("identifier: an object {type, value} is required")
        kind = identifier.get("type")
        field = {"mobile": "mobile", "email": "email", "externalId": "external_id", "external_id": "external_id"}
        if not isinstance(kind, str) or kind not in field:
            raise TillInputError("identifier.type: mobile, email or externalId")
        reference = _text(body, "redemptionId", max_length=64)
        try:
            points = points_parse(body.get("pointsToBeReversed"))
            payer = points_payer_find(org_id=org_id, customer=customer_ref({field[kind]: identifier.get("value")}))
            if reference is None:
                raise points_errors.RedemptionUnknown("redemptionId is required")
            reversed_ = points_reverse(
                org_id=org_id,
                customer_id=payer.customer.pk,
                reference=reference,
                points=points,
                till_username=caller.till_username,
            )
        except points_errors.TillPointsRefused as exc:
            return Response({"errors": [{"code": _code_of(exc, _POINTS_CODE), "message": str(exc)}]}, status=400)
        return Response(
            {
                "redemptionId": reversed_.redemption.reference,
                "pointsReversed": _money_text(reversed_.points),
                "balance": _money_text(reversed_.balance),
                "warnings": [],
            }
        )


# --- coupons -------------------------------------------------------------------------------------


def _series_info(coupon) -> dict:
    pool = coupon.pool
    return {
        "id": pool.pk,
        "description": pool.description or pool.name,
        "discount_type": pool.discount_type or None,
        "discount_value": _money_text(pool.discount_value) if pool.discount_value is not None else None,
        "valid_till": coupon.expires_at.strftime("%Y-%m-%d %H:%M:%S") if coupon.expires_at else None,
    }


class CouponIsRedeemableApi(_TillApi):
    @extend_schema(
        operation_id="coupon_isredeemable",
        summary="Can this coupon be redeemed by the customer now? (Capillary v1.1; writes nothing)",
        description="Answer `response.coupons.redemption_status: {code, is_redeemable, item_status}`, with "
        "`details=extended` also `series_info: {id, description, discount_type, discount_value, valid_till}`. "
        "HTTP 200 for every item code.\n\n" + _table(COUPON_ITEM_CODES),
        parameters=[
            *_COMMON_PARAMETERS,
            OpenApiParameter("code", str, required=True),
            *_CUSTOMER_PARAMETERS,
            OpenApiParameter("details", str, enum=["extended"]),
        ],
        responses={200: _V11, 400: _V11, 401: _V11, 403: _V11, 429: _V11},
    )
    def get(self, request):
        caller = _caller(request)
        org_id = till_org(request, caller)
        query = query_of(request)
        code_text = _text(query, "code", max_length=64) or ""
        coupon = None
        try:
            customer = _coupon_customer(org_id=org_id, ref=customer_ref(query))
            if not code_text:
                raise coupon_errors.CouponUnknown("code is required")
            coupon = coupon_for_till(org_id=org_id, code=code_text, customer_id=customer.pk)
            item_code, message = 700, "Coupon can be redeemed"
        except coupon_errors.CouponNotUsable as exc:
            item_code, message = _code_of(exc, _COUPON_CODE), str(exc)
        status = {"code": code_text, "is_redeemable": item_code == 700, "item_status": _item_status(item_code, message)}
        coupons = {"redemption_status": status}
        if coupon is not None and query.get("details") == "extended":
            coupons["series_info"] = _series_info(coupon)
        return Response(_envelope(item_code, message, coupons=coupons))


def _coupon_customer(*, org_id: int, ref: CustomerRef):
    try:
        return points_payer_find(org_id=org_id, customer=ref).customer
    except points_errors.CustomerUnknown as exc:
        raise coupon_errors.CouponNotHeld("customer not found") from exc


COUPON_REDEEM_EXAMPLE = {
    "root": {
        "coupon": [
            {
                "code": "DIN-XXXXXXXX",
                "customer": {"mobile": "919900000001"},
                "transaction": {"number": "bill-2001", "amount": "450.00"},
            }
        ]
    }
}


class CouponRedeemApi(_TillApi):
    @extend_schema(
        operation_id="coupon_redeem",
        summary="Redeem a coupon at the till (Capillary v1.1)",
        description='Body `{"root": {"coupon": [{code, customer: {...}, transaction: {number, amount}}]}}` '
        "(`coupon` may be one object; one coupon per call). Marks the coupon REDEEMED with the transaction; "
        "a coupon is redeemed at most once under any concurrency. The same code with the same transaction "
        "number replays the first answer; with another number: 702. Answer `response.coupons.coupon: "
        "{code, transaction_number, item_status}`: HTTP 200 on 700, 400 otherwise.\n\n" + _table(COUPON_ITEM_CODES),
        parameters=_COMMON_PARAMETERS,
        request=OpenApiTypes.OBJECT,
        responses={200: _V11, 400: _V11, 401: _V11, 403: _V11, 413: _V11, 415: _V11, 429: _V11},
        examples=[OpenApiExample("a till's coupon", value=COUPON_REDEEM_EXAMPLE, request_only=True)],
    )
    def post(self, request):
        caller, org_id, item, source = _till_item(request, "coupon")
        txn = item.get("transaction")
        if not isinstance(txn, dict):
            raise TillInputError("transaction: an object {number, amount} is required")
        number = _text(txn, "number", max_length=64)
        if number is None:
            raise TillInputError("transaction.number is required")
        amount = None
        if txn.get("amount") not in (None, ""):
            try:
                amount = points_parse(txn["amount"])
            except points_errors.PointsInvalid as exc:
                raise TillInputError("transaction.amount: a positive amount with two decimals at most") from exc
        code_text = _text(item, "code", max_length=64) or ""
        ref = customer_ref(source)
        try:
            coupon_redeem_by_identifier(
                org_id=org_id,
                mobile=ref.mobile,
                email=ref.email,
                external_id=ref.external_id,
                code=code_text,
                transaction_number=number,
                amount=amount,
                till_username=caller.till_username or "",
            )
            item_code, message, http = 700, "Coupon redeemed", 200
        except coupon_errors.CouponNotUsable as exc:
            item_code, message, http = _code_of(exc, _COUPON_CODE), str(exc), 400
        answer = {"code": code_text, "transaction_number": number, "item_status": _item_status(item_code, message)}
        return Response(_envelope(item_code, message, coupons={"coupon": answer}), status=http)


@extend_schema_view(
    get=extend_schema(operation_id="points_validationcode_get", summary="Capillary's documented path (GET)"),
    post=extend_schema(operation_id="points_validationcode", summary="Capillary's documented path (POST)"),
)
class ValidationCodeDocumentedApi(ValidationCodeApi):
    """``/v1.1/points/validationcode``: the same as ``/v1.1/points/validation_code`` (kept as an alias)."""
