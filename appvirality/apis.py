"""POST /v2_0/redeemrewards: the AppVirality-compatible Redeem Rewards endpoint (thin view)."""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django_ratelimit.core import is_ratelimited
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from core.numbers import BIGINT_MAX
from core.plain_views import plain_view
from core.request_body import AnyContentTypeJSONBodyParser, BodyMalformed, BodyTooLarge, json_read, max_body_bytes

from . import wire as appvirality

logger = logging.getLogger(__name__)

_CODES_TABLE = "\n".join(f"| {c.code} | {c.http_status} | {c.message} |" for c in appvirality.STATUS_CODES.values())

_REQUEST = inline_serializer(
    "RedeemRewardsRequest",
    {
        "apikey": serializers.CharField(max_length=appvirality.MAX_TEXT, help_text="The app's API key."),
        "privatekey": serializers.CharField(max_length=appvirality.MAX_TEXT, help_text="The app's private key."),
        "userkey": serializers.UUIDField(required=False, help_text="User key (first choice of identifier)."),
        "UserIdInstore": serializers.CharField(
            required=False, max_length=appvirality.MAX_IDENTIFIER, help_text="The user's id in your store (second)."
        ),
        "EmailId": serializers.EmailField(
            required=False, max_length=appvirality.MAX_IDENTIFIER, help_text="The user's email (third)."
        ),
        "rewarddtlids": serializers.ListField(
            child=serializers.CharField(max_length=appvirality.MAX_REWARD_ID),
            required=False,
            max_length=appvirality.MAX_IDS,
            help_text="Mode 1: ids of earned rewards (strings or ints).",
        ),
        "amount": serializers.DecimalField(
            max_digits=14,
            decimal_places=2,
            required=False,
            help_text="Mode 2: credits to redeem (> 0, 2 decimals; ASCII digits and one point, or a JSON number).",
        ),
        "poolId": serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=BIGINT_MAX,
            help_text="Mode 3: the coupon pool to take one coupon from (an integer or a string of ASCII digits).",
        ),
        "campaignId": serializers.CharField(
            required=False, max_length=appvirality.MAX_TEXT, help_text="Only rewards of this campaign."
        ),
        "growthHack": serializers.ChoiceField(
            choices=["Word_of_Mouth", "Referral", "Loyalty_Program"],
            required=False,
            help_text="Only rewards of this growth hack (case-insensitive).",
        ),
    },
)

_RESPONSE = inline_serializer(
    "RedeemRewardsResponse",
    {
        "success": serializers.BooleanField(),
        "statuscode": serializers.IntegerField(),
        "message": serializers.CharField(),
        "redeemed": inline_serializer(
            "Redeemed",
            {"amount": serializers.CharField(help_text="Two decimals."), "rewarddtlids": serializers.ListField()},
            required=False,
        ),
        "wallet": inline_serializer(
            "WalletBalance", {"balance": serializers.CharField(help_text="Two decimals.")}, required=False
        ),
        "coupon": inline_serializer(
            "DisbursedCoupon",
            {
                "code": serializers.CharField(),
                "poolId": serializers.IntegerField(),
                "expiresAt": serializers.DateTimeField(allow_null=True),
            },
            required=False,
        ),
    },
)

_DESCRIPTION = f"""
AppVirality-compatible Redeem Rewards. Keys are matched case-insensitively; unknown keys are ignored.
The user is identified by the first present of `userkey`, `UserIdInstore`, `EmailId` (empty strings
count as absent); the mode is the first present of `rewarddtlids` (non-empty), `amount`, `poolId`, and
the keys of the other modes are then ignored, not validated. A call redeems everything it names or
nothing. Amounts are strings with two decimals; JSON numbers are read exactly, never as floats.

Decisions where AppVirality is silent: a body that is not a JSON object answers 102 (the credentials
cannot be read); a blocked user answers 69 in every mode; a `poolId` of a pool without a "User will
choose" campaign, or of another campaign than `campaignId`, answers 103; a rate-limited call (106) is
not recorded. With `Idempotency-Key`, the same key and byte-identical body within 24 hours replays the
first answer (any status code) with no second effect; another body answers 105.

When several checks fail, the first in this order wins: 101, 102, user (2/5), 3, 0 (campaign), 69, 30,
103, then the mode's own (0/57, 43/104, 49).

Request limits (README "Security"): a body over {max_body_bytes()} bytes answers HTTP 413 with statuscode 102;
JSON nested deeper than the limit, a NUL character or a lone surrogate in any string or key, a number
literal of more than 40 characters or with an exponent outside -100..100, NaN or Infinity answer 102
(HTTP 400) before the credentials are read. Amounts and ids are ASCII digits only. The body is read as JSON
whatever its Content-Type (UTF-8, UTF-16 or UTF-32), so this operation never answers 415.

| statuscode | HTTP | meaning |
|---|---|---|
{_CODES_TABLE}
"""


def _throttled(request, org, group: str = "appvirality-redeem") -> bool:
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if not limit:
        return False
    try:
        return is_ratelimited(
            request, group=group, key=lambda group, req: str(org.pk), rate=f"{limit}/m", increment=True
        )
    except Exception as exc:  # the cache (Redis) is down: fail open (RATELIMIT_FAIL_OPEN), never a 5xx
        logger.warning("rate limit not checked: %s", exc)
        return False


def appvirality_exception_handler(exc, context):
    """A body the reader refused answers in AppVirality's format; anything else as DRF does."""
    answered = appvirality.error_answer(exc)
    if answered is None:
        return exception_handler(exc, context)
    status, body = answered
    return Response(body, status=status)


class RedeemRewardsApi(APIView):
    """AppVirality Redeem Rewards: the body goes through the one reader (``core.request_body``)
    whatever its Content-Type; ``appvirality.wire`` does the rest."""

    authentication_classes = ()
    permission_classes = ()
    parser_classes = (AnyContentTypeJSONBodyParser,)

    def get_exception_handler(self):
        return appvirality_exception_handler

    @extend_schema(
        operation_id="redeemRewards",
        summary="Redeem a user's rewards into the wallet, or take one coupon from a pool",
        description=_DESCRIPTION,
        request={"application/json": _REQUEST},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "minLength": 1, "maxLength": appvirality.MAX_TEXT, "pattern": "^[ -~]+$"},
                OpenApiParameter.HEADER,
                required=False,
                description=f"1-{appvirality.MAX_TEXT} printable ASCII characters.",
            )
        ],
        responses={
            200: OpenApiResponse(_RESPONSE, description="Every well-formed, authenticated call: see statuscode."),
            400: OpenApiResponse(_RESPONSE, description="statuscode 102: malformed body or field."),
            401: OpenApiResponse(_RESPONSE, description="statuscode 101: apikey / privatekey missing or wrong."),
            409: OpenApiResponse(_RESPONSE, description="statuscode 105: Idempotency-Key reused with another body."),
            413: OpenApiResponse(_RESPONSE, description="statuscode 102: the body is larger than the limit."),
            429: OpenApiResponse(_RESPONSE, description="statuscode 106: rate limit exceeded for this app."),
        },
        examples=[
            OpenApiExample(
                "By amount",
                request_only=True,
                value={
                    "apikey": "demo-o2-apikey",
                    "privatekey": "demo-o2-privatekey",
                    "UserIdInstore": "ext-ravi",
                    "amount": "5.00",
                },
            ),
            OpenApiExample(
                "By reward ids",
                request_only=True,
                value={
                    "apikey": "demo-o2-apikey",
                    "privatekey": "demo-o2-privatekey",
                    "EmailId": "asha@example.com",
                    "rewarddtlids": ["rd-1001", "rd-1002"],
                },
            ),
            OpenApiExample(
                "By coupon pool",
                request_only=True,
                value={
                    "apikey": "demo-o2-apikey",
                    "privatekey": "demo-o2-privatekey",
                    "userkey": "2d0f2c8e-7c7e-4a57-9c43-5f3f6b1f0a11",
                    "poolId": "531",
                },
            ),
        ],
        tags=["AppVirality"],
    )
    def post(self, request):
        status, body = redeem_answer(request, document=request.data, raw=request.body)
        return Response(body, status=status)


def redeem_answer(request, *, document, raw: bytes) -> tuple[int, dict]:
    """(HTTP status, body) of a Redeem Rewards POST whose body was read."""
    return appvirality.redeem(
        document=document,
        raw=raw,
        idempotency_key=request.headers.get("Idempotency-Key"),
        throttled=lambda org: _throttled(request, org),
    )


def plain_post_view(drf_view, answer_post):
    """The view of an AppVirality call (``core.plain_views``): a POST is read by the one body reader
    and answered by ``answer_post(request, document=..., raw=...)``; any other method goes to
    ``drf_view``, which the schema documents."""

    def answer(request):
        try:
            raw = request.body
            document = json_read(raw)
        except (RequestDataTooBig, BodyTooLarge, BodyMalformed) as exc:  # too large, or not JSON read here
            return (*appvirality.error_answer(exc), None)
        return (*answer_post(request, document=document, raw=raw), None)

    return plain_view(drf_view, answer)
