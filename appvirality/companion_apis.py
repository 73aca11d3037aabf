"""POST /v2_0/<verb>: the AppVirality calls other than Redeem Rewards (thin views, one per verb),
each documented in the OpenAPI schema with its status codes; ``appvirality.companion`` does the rest."""

import textwrap

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.request_body import AnyContentTypeJSONBodyParser

from . import wire as appvirality
from .apis import _RESPONSE, _throttled, appvirality_exception_handler, plain_post_view
from .companion import companion_call

_CREDENTIALS = {
    "apikey": serializers.CharField(help_text="The app's API key."),
    "privatekey": serializers.CharField(help_text="The app's private key."),
}
_USER = {
    "userkey": serializers.UUIDField(required=False, help_text="User key (first choice of identifier)."),
    "UserIdInstore": serializers.CharField(required=False, help_text="The user's id in your store (second)."),
    "EmailId": serializers.EmailField(required=False, help_text="The user's email (third)."),
}
_FILTERS = {
    "campaignId": serializers.CharField(required=False, help_text="Only this campaign (0 if unknown)."),
    "growthHack": serializers.ChoiceField(
        choices=["Word_of_Mouth", "Referral", "Loyalty_Program"], required=False, help_text="Case-insensitive."
    ),
}
_STATUS = {
    "success": serializers.BooleanField(),
    "statuscode": serializers.IntegerField(),
    "message": serializers.CharField(),
}
_AMOUNT = {"help_text": "Two decimals.", "allow_null": True}
_REWARD_STATUS = serializers.ChoiceField(choices=["UnderReview", "Approved", "Rejected", "Suspicious", "Rewarded"])


def _amounts(name: str, extra: dict | None = None):
    return inline_serializer(
        name,
        {
            "total": serializers.CharField(help_text="Approved and rewarded amounts."),
            "claimed": serializers.CharField(help_text="The redeemed part."),
            "pending": serializers.CharField(help_text="What Redeem Rewards by amount could move now."),
            "underReview": serializers.CharField(help_text="Amounts under review."),
            **(extra or {}),
        },
    )


_COMMON_DESCRIPTION = """
Keys are matched case-insensitively; unknown keys are ignored; the verb in the path is matched
case-insensitively and a trailing slash is accepted. The user is the first present of `userkey`,
`UserIdInstore`, `EmailId`. Amounts are strings with two decimals; JSON numbers are read exactly,
never as floats; dates are `dd-MMM-yyyy HH:mm:ss` in UTC. When several checks fail, the first in
this order wins: 101, 102, user (2/5), 3, 0 (campaign), 69, then the call's own. The body is read
as JSON whatever its Content-Type (UTF-8, UTF-16 or UTF-32), so this operation never answers 415; a
body over the size limit is 102 with HTTP 413.
"""


def _codes_table(codes: tuple[int, ...]) -> str:
    rows = [appvirality.STATUS_CODES[code] for code in sorted(codes)]
    return "| statuscode | HTTP | meaning |\n|---|---|---|\n" + "\n".join(
        f"| {c.code} | {c.http_status} | {c.message} |" for c in rows
    )


def _companion_schema(*, verb: str, summary: str, description: str, codes: tuple, request: dict, response: dict):
    codes = tuple(sorted({1, 101, 102, 106, *codes}))
    return extend_schema(
        operation_id=verb,
        summary=summary,
        description=f"{textwrap.dedent(description).strip()}\n{_COMMON_DESCRIPTION}\n{_codes_table(codes)}",
        request=inline_serializer(f"{verb}Request", {**_CREDENTIALS, **request}),
        responses={
            200: OpenApiResponse(
                inline_serializer(f"{verb}Response", {**_STATUS, **response}),
                description="Every well-formed, authenticated call: statuscode "
                + ", ".join(str(c) for c in codes if c not in (101, 102, 106)),
            ),
            400: OpenApiResponse(_RESPONSE, description="statuscode 102: malformed body, field or range."),
            401: OpenApiResponse(_RESPONSE, description="statuscode 101: apikey / privatekey missing or wrong."),
            413: OpenApiResponse(_RESPONSE, description="statuscode 102: the body is larger than the limit."),
            429: OpenApiResponse(_RESPONSE, description="statuscode 106: rate limit exceeded for this app."),
        },
        tags=["AppVirality"],
    )


class CompanionApi(APIView):
    """One call of the AppVirality API other than Redeem Rewards (``verb``); the body goes through
    the one reader (``core.request_body``), as for Redeem Rewards. What the schema documents and
    what answers every method but POST; a POST goes the shorter way of ``companion_view``."""

    authentication_classes = ()
    permission_classes = ()
    parser_classes = (AnyContentTypeJSONBodyParser,)
    verb = ""

    def get_exception_handler(self):
        return appvirality_exception_handler

    def post(self, request, **_kwargs):
        status, body = companion_call(
            verb=self.verb,
            document=request.data,
            raw=request.body,
            throttled=lambda org: _throttled(request, org, group=f"appvirality-{self.verb}"),
        )
        return Response(body, status=status)


def companion_view(api: type[CompanionApi]):
    """The view of ``api``: a POST goes the plain way of ``plain_post_view``."""
    group = f"appvirality-{api.verb}"

    def answer_post(request, *, document, raw: bytes) -> tuple[int, dict]:
        return companion_call(
            verb=api.verb, document=document, raw=raw, throttled=lambda org: _throttled(request, org, group=group)
        )

    return plain_post_view(api.as_view(), answer_post)


_REWARD_LINE = inline_serializer(
    "EarnedRewardLine",
    {
        "rewarddtlid": serializers.CharField(),
        "campaignId": serializers.CharField(),
        "beneficiary": serializers.ChoiceField(choices=["referrer", "friend", "user"]),
        "userkey": serializers.UUIDField(),
        "amount": serializers.CharField(**_AMOUNT),
        "reward_status": _REWARD_STATUS,
    },
)


@extend_schema_view(
    post=_companion_schema(
        verb="updateuserinfo",
        summary="Register or update a user; attach the referrer",
        description="""
    An unknown user is created (from `UserIdInstore` or `EmailId`; an email-only user's store id is its
    userkey) and gets a `userkey` and a unique 8-character `referralcode` (A-Z0-9, matched
    case-insensitively); a known one is updated (omitted fields keep their value). The referrer is set
    once: a later code, or the code of the referrer already set, answers 1 with `referrerSet: false`.
    A code unknown in this app (another app's included), the user's own, or of a user this user referred
    answers 111 and changes nothing. A `UserIdInstore` or `EmailId` of another user answers 5.""",
        codes=(2, 5, 111),
        request={
            **_USER,
            "name": serializers.CharField(required=False, max_length=200),
            "mobile": serializers.CharField(required=False, max_length=20),
            "referrercode": serializers.CharField(required=False, help_text="The referrer's referral code."),
        },
        response={
            "userkey": serializers.UUIDField(required=False),
            "referralcode": serializers.CharField(required=False),
            "referrerSet": serializers.BooleanField(required=False),
            "created": serializers.BooleanField(required=False),
        },
    )
)
class UpdateUserInfoApi(CompanionApi):
    verb = "updateuserinfo"


@extend_schema_view(
    post=_companion_schema(
        verb="registerconversionevent",
        summary="Record a conversion event; the campaign rules' rewards follow",
        description="""
    For each active campaign the user is eligible for (narrowed by `campaignId` / `growthHack`) whose rule
    matches `eventName` (case-insensitive), the rewards are created in one transaction: the referrer and
    the friend in a Word_of_Mouth campaign (only when the user has a referrer), the user in a
    Loyalty_Program one; a fixed amount or a percentage of `transactionValue` rounded half-up to cents,
    at most the rule's cap; at most `per_user` of one user's events per rule. A COUPONS campaign's reward
    is one coupon, handed out at once when the campaign distributes "by the event" (or "by the order"),
    from its pools lowest id first; none left: the reward is earned and waits for stock. Rewards of a
    rule with review days start `UnderReview` (their coupon goes out on approval).

    `tskey` makes the call idempotent, per user and forever: the same user and `tskey` again (at the same
    time or later, with any body) create nothing and answer the first accepted call's rewards
    (`replayed: true`); refused calls (0, 69, 102) do not use up a tskey. No rule matched: 1 with empty
    `rewards`. 102 also when a matching rule pays a percentage and `transactionValue` is missing.
    Ranges: `extraInfo` at most 1,000 characters, `tskey` 100, `transactionValue` > 0, two decimals,
    below 10^12.""",
        codes=(0, 2, 3, 5, 69),
        request={
            **_USER,
            "eventName": serializers.CharField(help_text="Install, Signup, Transaction or a custom name."),
            "transactionValue": serializers.DecimalField(max_digits=14, decimal_places=2, required=False),
            "transactionUnit": serializers.CharField(required=False, max_length=32),
            "extraInfo": serializers.CharField(required=False, max_length=1000),
            "tskey": serializers.CharField(required=False, max_length=100),
            **_FILTERS,
        },
        response={
            "rewards": serializers.ListField(child=_REWARD_LINE, required=False),
            "replayed": serializers.BooleanField(required=False),
        },
    )
)
class RegisterConversionEventApi(CompanionApi):
    verb = "registerconversionevent"


@extend_schema_view(
    post=_companion_schema(
        verb="getuserbalance",
        summary="A user's WALLET reward balances by growth hack and campaign",
        description="""
    `total` = approved and rewarded amounts, `claimed` = their redeemed part, `pending` = what Redeem
    Rewards by amount could move now (campaigns the user is eligible for), `underReview` = amounts under
    review; rejected and suspicious rewards count nowhere. Only growth hacks and campaigns with WALLET
    rewards of this user are listed; amounts add up whatever the campaigns' `rewardUnit`.""",
        codes=(0, 2, 3, 5),
        request={**_USER, **_FILTERS},
        response={
            "userBalance": _amounts(
                "UserBalance",
                {
                    "growthHacks": serializers.ListField(
                        child=_amounts(
                            "GrowthHackBalance",
                            {
                                "ghName": serializers.ChoiceField(choices=["Word_of_Mouth", "Loyalty_Program"]),
                                "campaigns": serializers.ListField(
                                    child=_amounts(
                                        "CampaignBalance",
                                        {
                                            "campaignId": serializers.CharField(),
                                            "campaignName": serializers.CharField(),
                                            "rewardUnit": serializers.CharField(),
                                        },
                                    )
                                ),
                            },
                        )
                    )
                },
            )
        },
    )
)
class GetUserBalanceApi(CompanionApi):
    verb = "getuserbalance"


@extend_schema_view(
    post=_companion_schema(
        verb="getusercoupons",
        summary="The coupons a user holds",
        description="""
    The coupons issued to this user and not yet used (a coupon redeemed at a Capillary till drops out),
    not expired, newest first. `couponExpiry` is `dd-MMM-yyyy` or null; `couponValue` the pool's value
    (two decimals) or null.""",
        codes=(2, 5),
        request=_USER,
        response={
            "coupons": serializers.ListField(
                required=False,
                child=inline_serializer(
                    "UserCoupon",
                    {
                        "couponCode": serializers.CharField(),
                        "couponExpiry": serializers.CharField(allow_null=True),
                        "couponValue": serializers.CharField(**_AMOUNT),
                        "couponUnit": serializers.CharField(),
                        "campaignID": serializers.CharField(allow_null=True),
                        "campaignName": serializers.CharField(allow_null=True),
                        "name": serializers.CharField(),
                        "details": serializers.CharField(),
                        "image": serializers.CharField(),
                    },
                ),
            )
        },
    )
)
class GetUserCouponsApi(CompanionApi):
    verb = "getusercoupons"


@extend_schema_view(
    post=_companion_schema(
        verb="getcouponpools",
        summary='The "User will choose" pools a user may pick from',
        description="""
    The pools of the "User will choose" campaigns this user is eligible for, with the count of available,
    unexpired coupons; campaigns without such a pool are left out. An unknown `campaignid` answers 0; a
    blocked user, or a named campaign the user is not eligible for, 69.""",
        codes=(0, 2, 5, 69),
        request={**_USER, "campaignid": serializers.CharField(required=False)},
        response={
            "campaigns": serializers.ListField(
                required=False,
                child=inline_serializer(
                    "ChoosableCampaign",
                    {
                        "campaignId": serializers.CharField(),
                        "campaignName": serializers.CharField(),
                        "growthhack": serializers.CharField(),
                        "pools": serializers.ListField(
                            child=inline_serializer(
                                "ChoosablePool",
                                {
                                    "poolId": serializers.IntegerField(),
                                    "name": serializers.CharField(),
                                    "details": serializers.CharField(),
                                    "image": serializers.CharField(),
                                    "value": serializers.CharField(**_AMOUNT),
                                    "unit": serializers.CharField(),
                                    "available": serializers.IntegerField(),
                                },
                            )
                        ),
                    },
                ),
            )
        },
    )
)
class GetCouponPoolsApi(CompanionApi):
    verb = "getcouponpools"


@extend_schema_view(
    post=_companion_schema(
        verb="checkrewardstatus",
        summary="The status of one earned reward",
        description="""
    `rewarddtlid` is enough (no user identifier). `reward_status` is `UnderReview`, `Approved`,
    `Rejected`, `Suspicious`, or `Rewarded` once fully redeemed (a reward consumed in part stays
    `Approved`). 11 when the id is unknown in this app.""",
        codes=(11,),
        request={"rewarddtlid": serializers.CharField()},
        response={
            "rewarddtlid": serializers.CharField(required=False),
            "reward_status": _REWARD_STATUS,
            "comment": serializers.CharField(required=False),
            "amount": serializers.CharField(required=False, **_AMOUNT),
            "rewardunit": serializers.CharField(required=False),
            "campaignId": serializers.CharField(required=False),
            "userkey": serializers.UUIDField(required=False),
        },
    )
)
class CheckRewardStatusApi(CompanionApi):
    verb = "checkrewardstatus"


@extend_schema_view(
    post=_companion_schema(
        verb="changerewardstatus",
        summary="Approve, reject or flag earned rewards (all or nothing)",
        description="""
    `rewardslist`: 1 to 100 items `{rewarddtlid, reward_status, comment?}`, no id twice; `reward_status`
    one of `Approved`, `Rejected`, `Suspicious`, `Under Review` / `UnderReview` (case-insensitive;
    anything else 102). All or nothing: any unknown id answers 11, any reward already consumed (in part
    or fully) 57 (11 first), and nothing changes. Every change is kept in the reward's history (who: the
    app; when) and emits a `reward_status` event; an approved coupon reward gets its coupon at once.
    Approved -> UnderReview is allowed (a re-check; it then waits for a decision, not the review job).""",
        codes=(11, 57),
        request={
            "rewardslist": serializers.ListField(
                child=inline_serializer(
                    "RewardStatusChange",
                    {
                        "rewarddtlid": serializers.CharField(),
                        "reward_status": serializers.CharField(
                            help_text="Approved, Rejected, Suspicious, Under Review or UnderReview (any case)."
                        ),
                        "comment": serializers.CharField(required=False, max_length=500),
                    },
                )
            )
        },
        response={
            "rewardslist": serializers.ListField(
                required=False,
                child=inline_serializer(
                    "RewardStatusLine", {"rewarddtlid": serializers.CharField(), "reward_status": _REWARD_STATUS}
                ),
            )
        },
    )
)
class ChangeRewardStatusApi(CompanionApi):
    verb = "changerewardstatus"


@extend_schema_view(
    post=_companion_schema(
        verb="getfriendslist",
        summary="The users a user referred",
        description="""
    The users whose referrer is this user, oldest registration first, one page: `pageIndex` from 1
    (default 1), `pageSize` 1 to 100 (default 20); `totalCount` counts them all.""",
        codes=(2, 5),
        request={
            **_USER,
            "pageIndex": serializers.IntegerField(required=False, min_value=1),
            "pageSize": serializers.IntegerField(required=False, min_value=1, max_value=100),
        },
        response={
            "friends": serializers.ListField(
                required=False,
                child=inline_serializer(
                    "Friend",
                    {
                        "emailId": serializers.CharField(allow_null=True),
                        "UserIdInstore": serializers.CharField(),
                        "name": serializers.CharField(),
                        "regDate": serializers.CharField(),
                    },
                ),
            ),
            "totalCount": serializers.IntegerField(required=False),
        },
    )
)
class GetFriendsListApi(CompanionApi):
    verb = "getfriendslist"


COMPANION_APIS = {
    api.verb: api
    for api in (
        UpdateUserInfoApi,
        RegisterConversionEventApi,
        GetUserBalanceApi,
        GetUserCouponsApi,
        GetCouponPoolsApi,
        CheckRewardStatusApi,
        ChangeRewardStatusApi,
        GetFriendsListApi,
    )
}
