"""The Capillary-compatible wire format of the Issue Reward API: thin views over
``catalogue.services``, and one exception handler that turns domain errors into Capillary bodies.

Routes (``capillary/urls.py``), each also under ``/api_gateway/rewards/core``:

* ``POST /v1.1/user/rewards/issue/?username={till}&skip_validation=true`` (a JSON POST takes the
  plain path of ``capillary/plain.py``)
* ``POST /v1.1/points/validation_code?username={till}``
* ``POST /v3/oauth/token/generate``
* ``POST /sandbox/vendor/issue`` (``capillary/sandbox.py``: a stand-in partner API, on with DEBUG
  or ``SANDBOX_VENDOR=1``)
"""

from __future__ import annotations

import threading
from decimal import Decimal

from django.conf import settings
from django.utils.functional import cached_property
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue.calls import GroupRef, IssueCallIn, OrgDetailIn, RewardLineIn
from catalogue.services import rewards_issue
from catalogue.validation_codes import validation_code_for
from core.api_fields import DecimalField, IdField, IntegerField, JSONValueField, plain_json
from core.request_body import max_body_bytes

from .auth import (
    Caller,
    OAuthTokenAuthentication,
    TillBasicAuthentication,
    caller_for_username,
    data_scope_orgs,
    oauth_token_generate,
)
from .errors import capillary_exception_handler, oauth_exception_handler
from .parsing import JsonOnly, query_of
from .render import issue_answer

MAX_REWARDS_PER_CALL = 50
MAX_QUANTITY = 10_000
# Length limits of the free text a call may carry (each is stored, echoed or sent on to a vendor).
MAX_TEXT = 255  # transactionNumber, eventLogId, requestId, custom field values
MAX_NOTES = 1_000
MAX_CUSTOM_FIELDS = 50
MAX_CUSTOM_FIELD_NAME = 100
MAX_PARAMS_CHARS = 4_096  # params (free JSON passed on to vendors), once serialized

# --- errors ----------------------------------------------------------------------------------

ISSUE_CODES = {
    200: "every reward issued (HTTP 200)",
    8010: "some rewards issued, some failed: see each reward's status (HTTP 200)",
    8003: "no reward issued: see each reward's status; per reward: disabled / outside its dates, coupon series "
    "too short, cart promotion inactive, vendor failed (HTTP 400)",
    8004: "points cannot be redeemed (HTTP 400); status.partnerError.codes: 804 insufficient points, "
    "816 customer not found in the reward's org, 1632 loyalty group not found, 1620 customer not in the group. "
    "Per reward: its points were spent by a concurrent call",
    12005: "per reward: the customer holds the cart promotion as often as it allows",
    12016: "paymentConfig.id is not one of the reward's payment configs (HTTP 400)",
    12034: "per reward: the customer is in none of the reward's segments",
    12035: "the reward has several payment configs and paymentConfig.id is missing (HTTP 400)",
    12050: "per reward: the customer has cards or labels and none is ACTIVE",
    10003: "requestId used before for another reward payload, or twice in one call (HTTP 400; per reward when "
    "a concurrent call took it meanwhile)",
    400: "malformed body (not JSON, nested too deeply, a NUL or lone surrogate in a string, an overlong "
    "number, a string over its maxLength), unknown reward, quantity below 1, undefined custom field or "
    "fulfillment status, missing or wrong validationCode, bad DATA-SCOPE headers (HTTP 400)",
    401: "missing or wrong credentials, expired or forged token, username not the caller's till (HTTP 401)",
    403: "an org of the call is neither the caller's own nor connected to it, or not in DATA-SCOPE-ORG (HTTP 403)",
    413: "the body is larger than the limit (API_MAX_BODY_BYTES; HTTP 413)",
    415: "the Content-Type is not application/json (HTTP 415)",
    429: "too many failed Basic authentications for this till or from this address: no check is made until "
    "the Retry-After header's seconds have passed (HTTP 429)",
}
CODES_TABLE = "\n".join(f"| {code} | {meaning} |" for code, meaning in ISSUE_CODES.items())


def caller_of(user, *, username: str | None) -> Caller:
    """The caller the authentication found (``user``: None when no credentials were given), as the
    till ``username`` names (the ``username`` query parameter)."""
    if not isinstance(user, Caller):
        raise exceptions.NotAuthenticated("credentials required: Basic (till) or X-CAP-API-OAUTH-TOKEN")
    return caller_for_username(caller=user, username=username)


def _caller(request) -> Caller:
    return caller_of(request.user, username=request.query_params.get("username"))


def _scope(request, caller: Caller) -> frozenset[int]:
    return data_scope_orgs(
        caller=caller,
        scope=request.headers.get("DATA-SCOPE"),
        orgs=request.headers.get("DATA-SCOPE-ORG") or request.headers.get("DATA-SCOPE-ORGS"),
    )


class _CapillaryApi(JsonOnly, APIView):
    authentication_classes = (TillBasicAuthentication, OAuthTokenAuthentication)
    permission_classes = ()

    def get_exception_handler(self):
        return capillary_exception_handler


# --- input -----------------------------------------------------------------------------------


def _quantity(**kwargs):
    """An integer; the decimal part is dropped (1.56 is 1); below 1 is invalid."""
    return IntegerField(min_value=1, max_value=MAX_QUANTITY, truncate=True, **kwargs)


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": MAX_CUSTOM_FIELDS,
        "description": f"Custom field name (1 to {MAX_CUSTOM_FIELD_NAME} characters) -> a string of at most "
        f"{MAX_TEXT} characters, a number, a boolean or null.",
        "additionalProperties": {
            "oneOf": [{"type": "string", "maxLength": MAX_TEXT}, {"type": "number"}, {"type": "boolean"}],
            "nullable": True,
        },
    }
)
class CustomFieldsField(serializers.DictField):
    """Custom field name -> a string, number, boolean or null."""

    child = serializers.JSONField()

    def to_internal_value(self, data):
        data = plain_json(super().to_internal_value(data))
        if len(data) > MAX_CUSTOM_FIELDS:
            raise serializers.ValidationError(f"At most {MAX_CUSTOM_FIELDS} custom fields.")
        for name, value in data.items():
            if not name or len(name) > MAX_CUSTOM_FIELD_NAME:
                raise serializers.ValidationError(f"Custom field names have 1 to {MAX_CUSTOM_FIELD_NAME} characters.")
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise serializers.ValidationError(f"{name}: a string, number, boolean or null.")
            if isinstance(value, str) and len(value) > MAX_TEXT:
                raise serializers.ValidationError(f"{name}: at most {MAX_TEXT} characters.")
        return data


def _id_field(**kwargs):
    return IdField(**kwargs)


def _params(**kwargs):
    return JSONValueField(max_chars=MAX_PARAMS_CHARS, required=False, allow_null=True, **kwargs)


def _text(max_length: int | None = 255, **kwargs):
    return serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=max_length, trim_whitespace=False, **kwargs
    )


class PaymentConfigInputSerializer(serializers.Serializer):
    id = _id_field(required=False, allow_null=True)
    redemptionValue = DecimalField(
        max_digits=20, decimal_places=6, min_value=Decimal("0.000001"), required=False, allow_null=True
    )
    points = DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"), required=False, allow_null=True)


class FulfillmentInputSerializer(serializers.Serializer):
    status = serializers.CharField(max_length=100)


class RewardInputSerializer(serializers.Serializer):
    rewardId = _id_field()
    quantity = _quantity(required=False, default=1)
    orgId = _id_field(required=False, allow_null=True)
    params = _params()
    paymentConfig = PaymentConfigInputSerializer(required=False, allow_null=True)
    customFields = CustomFieldsField(required=False, allow_null=True)
    fulfillmentDetails = FulfillmentInputSerializer(required=False, allow_null=True)
    requestId = _text()


class OrgLevelDetailInputSerializer(serializers.Serializer):
    orgId = _id_field()
    params = _params()
    notes = _text(max_length=MAX_NOTES)
    userGroup2PrimaryUserId = _text(max_length=150)
    userGroup2Id = _id_field(required=False, allow_null=True)
    userGroup2ExternalId = _text(max_length=150)


GROUP_FIELDS = (
    ("user_group2_primary_user_id", "userGroup2PrimaryUserId"),
    ("user_group2_id", "userGroup2Id"),
    ("user_group2_external_id", "userGroup2ExternalId"),
)


class _ReusedFields:
    """A serializer whose fields are built once per thread instead of once per call.

    DRF deep-copies and binds every declared field (and every nested serializer's) for each
    serializer it creates: on the issue path that cost about a tenth of the call's CPU. These
    fields keep no state between validations (errors are returned, not stored; nothing reads
    ``context`` or ``partial``), so each thread keeps the set bound to its first serializer and
    validates with it. One thread validates one call at a time, so no set is shared.
    """

    _per_thread = threading.local()

    @cached_property
    def fields(self):
        built = self._per_thread.__dict__.setdefault("fields", {})
        if type(self) not in built:
            built[type(self)] = super().fields
        return built[type(self)]


class IssueInputSerializer(_ReusedFields, serializers.Serializer):
    mobile = _text(max_length=20)
    email = _text(max_length=254)
    externalId = _text(max_length=150)
    transactionNumber = _text()
    notes = _text(max_length=MAX_NOTES)
    eventLogId = _text()
    brand = _text(max_length=200)
    validationCode = _text(max_length=64)
    rewards = serializers.ListField(child=RewardInputSerializer(), min_length=1, max_length=MAX_REWARDS_PER_CALL)
    orgLevelDetails = serializers.ListField(
        child=OrgLevelDetailInputSerializer(), required=False, max_length=MAX_REWARDS_PER_CALL
    )
    user_group2_primary_user_id = _text(max_length=150)
    userGroup2PrimaryUserId = _text(max_length=150)
    user_group2_id = _id_field(required=False, allow_null=True)
    userGroup2Id = _id_field(required=False, allow_null=True)
    user_group2_external_id = _text(max_length=150)
    userGroup2ExternalId = _text(max_length=150)

    def validate(self, attrs):
        if not any(attrs.get(key) for key in ("mobile", "email", "externalId")):
            raise serializers.ValidationError("one of mobile, email, externalId is required")
        for snake, camel in GROUP_FIELDS:
            a, b = attrs.get(snake), attrs.get(camel)
            if a not in (None, "") and b not in (None, "") and a != b:
                raise serializers.ValidationError({camel: f"differs from {snake}"})
        return attrs


def _blank_to_none(value):
    return None if value == "" else value


def _group(data: dict, *, primary: tuple, group_id: tuple, external: tuple) -> GroupRef:
    def first(names):
        return next((v for v in (_blank_to_none(data.get(n)) for n in names) if v is not None), None)

    return GroupRef(primary_user_id=first(primary), group_id=first(group_id), external_id=first(external))


def issue_call_from(data: dict) -> IssueCallIn:
    rewards = []
    for item in data["rewards"]:
        config = item.get("paymentConfig") or {}
        rewards.append(
            RewardLineIn(
                reward_id=item["rewardId"],
                quantity=item["quantity"],
                requested_quantity=item["quantity"],
                org_id=item.get("orgId"),
                params=item.get("params"),
                payment_config_id=config.get("id"),
                redemption_value=config.get("redemptionValue"),
                points=config.get("points"),
                custom_fields=item.get("customFields") or None,
                fulfillment_status=(item.get("fulfillmentDetails") or {}).get("status"),
                request_id=_blank_to_none(item.get("requestId")),
            )
        )
    details = [
        OrgDetailIn(
            org_id=d["orgId"],
            params=d.get("params"),
            notes=d.get("notes"),
            group=_group(
                d, primary=("userGroup2PrimaryUserId",), group_id=("userGroup2Id",), external=("userGroup2ExternalId",)
            ),
        )
        for d in data.get("orgLevelDetails") or []
    ]
    return IssueCallIn(
        rewards=rewards,
        mobile=_blank_to_none(data.get("mobile")),
        email=_blank_to_none(data.get("email")),
        external_id=_blank_to_none(data.get("externalId")),
        transaction_number=data.get("transactionNumber"),
        notes=data.get("notes"),
        event_log_id=data.get("eventLogId"),
        brand=data.get("brand"),
        validation_code=_blank_to_none(data.get("validationCode")),
        group=_group(data, primary=GROUP_FIELDS[0], group_id=GROUP_FIELDS[1], external=GROUP_FIELDS[2]),
        org_details=details,
    )


# --- output (the schema of the answer) -------------------------------------------------------


class StatusSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    code = serializers.IntegerField(help_text="\n\n| code | meaning |\n|---|---|\n" + CODES_TABLE)
    message = serializers.CharField()
    partnerError = inline_serializer(
        "PartnerError",
        {"codes": serializers.ListField(child=serializers.IntegerField()), "messages": serializers.ListField()},
        required=False,
        help_text="With code 8004: 804, 816, 1632 or 1620.",
    )


class RewardResultSerializer(serializers.Serializer):
    status = StatusSerializer()
    orgId = serializers.IntegerField()
    transactionId = serializers.IntegerField(allow_null=True)
    rewardId = serializers.IntegerField()
    requestedQuantity = serializers.IntegerField()
    quantity = serializers.IntegerField(help_text="Units issued: 0 when the reward failed.")
    pointsReferenceId = serializers.CharField(allow_null=True)
    pointsReferenceIds = serializers.ListField(child=serializers.CharField())
    eventLogId = serializers.CharField(allow_null=True)
    requestId = serializers.CharField(allow_null=True)
    intouch = inline_serializer(
        "Intouch",
        {
            "pointsRedeemed": serializers.CharField(),
            "couponCode": serializers.CharField(),
            "codeExpiry": serializers.CharField(allow_null=True, help_text="YYYY-MM-DD HH:MM:SS (UTC)"),
            "couponCodes": serializers.ListField(required=False, help_text="Every code, when quantity > 1."),
        },
        allow_null=True,
    )
    promotions = serializers.ListField(child=serializers.DictField())
    vendor = serializers.ListField(
        child=serializers.DictField(),
        help_text="The vendor's context values (voucher, ...), offer_name and pointsRedeemed.",
    )
    restrictions = serializers.JSONField(allow_null=True)
    paymentConfig = serializers.DictField(allow_null=True, help_text="paymentMode, id, conversionRatio or points.")
    fulfillmentDetails = serializers.DictField(allow_null=True)
    customFields = serializers.DictField(allow_null=True)
    redemptionDetails = serializers.DictField(allow_null=True, help_text="redemptionType, totalRedemptionValue.")


class IssueOutputSerializer(serializers.Serializer):
    status = StatusSerializer()
    rewards = RewardResultSerializer(many=True)


ORG_LIST = {"type": "string", "pattern": r"^[ \t]*[0-9]{1,19}([ \t]*,[ \t]*[0-9]{1,19})*[ \t]*$"}
BODY_TOO_LARGE = f"code 413: the body is larger than {max_body_bytes()} bytes (API_MAX_BODY_BYTES)."
WRONG_CONTENT_TYPE = "code 415: the Content-Type is not application/json."
BODY_REFUSALS = {
    413: OpenApiResponse(IssueOutputSerializer, description=BODY_TOO_LARGE),
    415: OpenApiResponse(IssueOutputSerializer, description=WRONG_CONTENT_TYPE),
}


SEED_REQUEST = {
    "brand": "O2Brand",
    "transactionNumber": "123456789",
    "orgLevelDetails": [{"orgId": 4000876}],
    "rewards": [{"rewardId": 350, "quantity": 1, "orgId": 4000876, "paymentConfig": {"redemptionValue": 1}}],
    "externalId": "ext_id98543198",
}

ISSUE_DESCRIPTION = f"""Issue one or more catalogue rewards to a customer, paid with points, across connected orgs
(Capillary-compatible). Processing: validate everything (any failure: nothing issued); sum the points
per org and wallet (isRedeemable; short: 400/8004/804, nothing issued); then issue each reward on its own
(partial issual). Points move only for issued rewards. A requestId seen before with the same payload
answers the first result again; with another payload, 10003.

Auth: Basic `till:md5_hex(password)` (or the plain password) or `X-CAP-API-OAUTH-TOKEN`.
`DATA-SCOPE: SELF|OTHER`, `DATA-SCOPE-ORG` (or `DATA-SCOPE-ORGS`): comma-separated org ids.

Points and values: `pointsRedeemed` is a decimal string ("2", "2.50"); `conversionRatio`,
`totalRedemptionValue` and `paymentConfig.points` are JSON numbers as in Capillary's samples.

Request limits (README "Security"): the body is JSON (Content-Type application/json, else 415) of at
most {max_body_bytes()} bytes (else 413), nested at most the configured depth, with no NUL or lone
surrogate in any string or key; number literals of at most 40 characters, exponents within ±100.
Ids, quantities and amounts are ASCII digits (no Unicode digits, no "1_0"); every string has the
maxLength the schema shows. Any of these: 400, nothing issued.

| code | meaning |
|---|---|
{CODES_TABLE}
"""


class RewardIssueApi(_CapillaryApi):
    @extend_schema(
        operation_id="rewards_issue",
        summary="Issue rewards (Capillary v1.1, connected orgs)",
        description=ISSUE_DESCRIPTION,
        parameters=[
            OpenApiParameter("username", str, required=True, description="The till (Basic) or a till of the org."),
            OpenApiParameter("skip_validation", bool, description="false or absent: the body needs a validationCode."),
            OpenApiParameter("DATA-SCOPE", str, OpenApiParameter.HEADER, enum=["SELF", "OTHER"]),
            OpenApiParameter(
                "DATA-SCOPE-ORG", ORG_LIST, OpenApiParameter.HEADER, description="Org ids, e.g. 4000876,4004543"
            ),
            OpenApiParameter(
                "DATA-SCOPE-ORGS", ORG_LIST, OpenApiParameter.HEADER, description="Same as DATA-SCOPE-ORG."
            ),
        ],
        request=IssueInputSerializer,
        responses={
            200: IssueOutputSerializer,
            400: IssueOutputSerializer,
            401: IssueOutputSerializer,
            403: IssueOutputSerializer,
            **BODY_REFUSALS,
            429: IssueOutputSerializer,
        },
        examples=[OpenApiExample("Capillary's sample", value=SEED_REQUEST, request_only=True)],
    )
    def post(self, request):
        """Calls the plain path (``capillary/plain.py``) does not take: not JSON, or with ``format``."""

        def data_of():
            serializer = IssueInputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            return serializer.validated_data

        http_status, body = issue_call_answer(caller=_caller(request), request=request, data_of=data_of)
        return Response(body, status=http_status)


def issue_call_answer(*, caller: Caller, request, data_of) -> tuple[int, dict]:
    """(HTTP status, body) of an Issue Reward call by ``caller``: the data scope of ``request``'s
    headers is checked before the body is read and validated (``data_of()``)."""
    scope = _scope(request, caller)
    skip_validation = request.GET.get("skip_validation", "").strip().lower() in ("true", "1", "yes")
    outcome = rewards_issue(
        org_id=caller.org_id,
        till_username=caller.till_username or "",
        scope=scope,
        call=issue_call_from(data_of()),
        skip_validation=skip_validation,
    )
    return issue_answer(outcome)


class ValidationCodeInputSerializer(serializers.Serializer):
    mobile = _text(max_length=20)
    email = _text(max_length=254)
    externalId = _text(max_length=150)
    orgId = _id_field(required=False, allow_null=True)

    def validate(self, attrs):
        if not any(attrs.get(key) for key in ("mobile", "email", "externalId")):
            raise serializers.ValidationError("one of mobile, email, externalId is required")
        return attrs


class ValidationCodeApi(_CapillaryApi):
    InputSerializer = ValidationCodeInputSerializer

    @extend_schema(
        operation_id="points_validation_code",
        summary="Issue a points validation code (single use, short expiry)",
        description="A 6-digit code for `skip_validation=false` issue calls of this customer. "
        "Codes: 200, 400, 401, 403, 429, 8004 (partnerError 816: customer not found).",
        parameters=[OpenApiParameter("username", str, required=True)],
        request=ValidationCodeInputSerializer,
        responses={
            200: inline_serializer(
                "ValidationCodeAnswer",
                {
                    "status": StatusSerializer(),
                    "validationCode": inline_serializer(
                        "ValidationCode", {"code": serializers.CharField(), "ttlSeconds": serializers.IntegerField()}
                    ),
                },
            ),
            400: IssueOutputSerializer,
            401: IssueOutputSerializer,
            403: IssueOutputSerializer,
            **BODY_REFUSALS,
            429: IssueOutputSerializer,
        },
    )
    def post(self, request):
        return self._issue(request, lambda: request.data)

    @extend_schema(
        operation_id="points_validation_code_get",
        summary="Issue a points validation code, the customer named in the query",
        description="As the POST, with `mobile`, `email`, `externalId` (or `external_id`) and `orgId` in the query.",
        parameters=[OpenApiParameter("username", str, required=True)]
        + [OpenApiParameter(name, str) for name in ("mobile", "email", "external_id")],
        responses={200: OpenApiTypes.OBJECT, 400: IssueOutputSerializer, 401: IssueOutputSerializer},
    )
    def get(self, request):
        query = {key: value for key, value in query_of(request).items() if key not in ("username", "format")}
        if "external_id" in query:
            query.setdefault("externalId", query.pop("external_id"))
        return self._issue(request, lambda: query)

    def _issue(self, request, body):
        caller = _caller(request)  # authentication first, then the body
        scope = _scope(request, caller)
        serializer = self.InputSerializer(data=body())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        code, ttl = validation_code_for(
            org_id=data.get("orgId") or caller.org_id,
            scope=scope,
            mobile=_blank_to_none(data.get("mobile")),
            email=_blank_to_none(data.get("email")),
            external_id=_blank_to_none(data.get("externalId")),
        )
        status = {"success": True, "code": 200, "message": "Validation code issued"}
        return Response({"status": status, "validationCode": {"code": code, "ttlSeconds": ttl}})


class OAuthTokenInputSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=128)
    secret = serializers.CharField(max_length=512, trim_whitespace=False)


class OAuthTokenApi(JsonOnly, APIView):
    authentication_classes = ()
    permission_classes = ()
    InputSerializer = OAuthTokenInputSerializer

    def get_exception_handler(self):
        return oauth_exception_handler

    @extend_schema(
        operation_id="oauth_token_generate",
        summary="Trade an API client's key and secret for a JWT (X-CAP-API-OAUTH-TOKEN)",
        description="Codes: 200; 400 malformed body; 401 wrong key or secret.",
        request=OAuthTokenInputSerializer,
        responses={
            200: inline_serializer(
                "OAuthTokenAnswer",
                {
                    "data": inline_serializer(
                        "OAuthToken",
                        {"accessToken": serializers.CharField(), "ttlSeconds": serializers.IntegerField()},
                    ),
                    "errors": serializers.JSONField(allow_null=True),
                },
            ),
            (400, "application/json"): OpenApiTypes.OBJECT,
            (401, "application/json"): OpenApiTypes.OBJECT,
            (413, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description=BODY_TOO_LARGE),
            (415, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description=WRONG_CONTENT_TYPE),
        },
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = oauth_token_generate(**serializer.validated_data)
        data = {"accessToken": token, "ttlSeconds": settings.OAUTH_TOKEN_TTL_SECONDS}
        return Response({"data": data, "errors": None})
