"""The rest of the AppVirality server API (docs/contracts/appvirality-companion.md).

Each call: parse the body (102), authenticate (101), throttle (106), identify the user (2/5),
read the filters (3, 0), call one service or selector, render its answer; domain errors become
status codes in ``answer_error``. Nothing here opens a transaction or runs a query itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from django.utils.dateparse import parse_datetime

from core.errors import DomainError
from core.numbers import NumberInvalid, integer_parse, money_parse
from coupons.selectors import choosable_pools, user_coupons
from orgs.credentials import app_authenticate
from orgs.errors import NotEligible
from orgs.models import Campaign, Customer, Org
from orgs.selectors import (
    campaign_is_eligible,
    campaign_named,
    customer_identify,
    friends_page,
    growth_hack_named,
)
from orgs.services import UserInfo, user_register
from wallets.conversions import ConversionInput, conversion_register
from wallets.earning import ReviewChange, rewards_review
from wallets.errors import UnknownReward
from wallets.models import EarnedReward
from wallets.selectors import Amounts, reward_by_code, user_balance

from .wire import IDENTIFIERS, WireError, _error_code, _present, answer, credentials, money, parse_body

MAX_PAGE_SIZE = 100
MAX_REVIEW_ITEMS = 100
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MOBILE = re.compile(r"^\+?\d{6,15}$")

REVIEW_NAMES = {
    EarnedReward.Review.UNDER_REVIEW: "UnderReview",
    EarnedReward.Review.APPROVED: "Approved",
    EarnedReward.Review.REJECTED: "Rejected",
    EarnedReward.Review.SUSPICIOUS: "Suspicious",
}
REWARDED = "Rewarded"
REVIEW_BY_NAME = {name.lower(): status for status, name in REVIEW_NAMES.items()}
GROWTH_HACK_NAMES = {
    Campaign.GrowthHack.WORD_OF_MOUTH: "Word_of_Mouth",
    Campaign.GrowthHack.LOYALTY_PROGRAM: "Loyalty_Program",
}


def reward_status_name(*, review_status: str, redeemed: bool) -> str:
    """AppVirality's name of a reward's status: ``Rewarded`` once redeemed, else its review status."""
    return REWARDED if redeemed else REVIEW_NAMES[review_status]


def av_datetime(moment: datetime | str | None) -> str | None:
    """AppVirality's ``dd-MMM-yyyy HH:mm:ss`` in UTC (``01-Dec-2026 20:17:49``)."""
    if isinstance(moment, str):
        moment = parse_datetime(moment)
    return None if moment is None else moment.astimezone(UTC).strftime("%d-%b-%Y %H:%M:%S")


def av_date(moment: datetime | str | None) -> str | None:
    """AppVirality's coupon expiry ``dd-MMM-yyyy`` in UTC."""
    if isinstance(moment, str):
        moment = parse_datetime(moment)
    return None if moment is None else moment.astimezone(UTC).strftime("%d-%b-%Y")


# --- parsing -------------------------------------------------------------------------------------


def _string(data: dict, key: str, *, max_length: int = 255, allow_int: bool = False) -> str | None:
    """An optional string field, stripped; empty counts as absent. Raises WireError(102)."""
    value = data.get(key)
    if not _present(value):
        return None
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > max_length:
        raise WireError(102, f"{key} must be a string of at most {max_length} characters")
    return value.strip() or None


def _integer(data: dict, name: str, *, default: int, low: int, high: int) -> int:
    value = data.get(name.lower())
    if not _present(value):
        return default
    try:
        return integer_parse(value, minimum=low, maximum=high)
    except NumberInvalid as exc:
        raise WireError(102, f"{name} must be an integer from {low} to {high}: {exc}") from exc


def _identifier(data: dict) -> tuple[str, str]:
    """The user identifier by AppVirality's precedence: userkey, UserIdInstore, EmailId."""
    for kind, service_kind in IDENTIFIERS.items():
        value = _string(data, kind, allow_int=kind == "useridinstore")
        if value:
            return service_kind, value
    raise WireError(102, "one of userkey, UserIdInstore, EmailId is required")


def _transaction_value(data: dict) -> Decimal | None:
    value = data.get("transactionvalue")
    if not _present(value):
        return None
    try:
        amount = money_parse(value)  # two decimals, below 10**12
    except NumberInvalid as exc:
        raise WireError(102, f"transactionValue: {exc}") from exc
    if amount <= 0:
        raise WireError(102, "transactionValue must be greater than 0")
    return amount


def _user(org: Org, kind: str, value: str) -> Customer:
    return customer_identify(org_id=org.pk, kind=kind, value=value)


def _growth_hack(name: str | None) -> str | None:
    return growth_hack_named(name) if name is not None else None


def _filter_names(data: dict) -> tuple[str | None, str | None]:
    """The growth hack and campaignId as sent (their types are checked with the other fields: 102)."""
    return _string(data, "growthhack"), _string(data, "campaignid", max_length=100, allow_int=True)


def _filters(org: Org, growth_hack: str | None, code: str | None) -> tuple[Campaign | None, str | None]:
    """The growth hack (3) then the campaign (0), checked after the user as the contract orders."""
    growth_hack = _growth_hack(growth_hack)
    return (campaign_named(org_id=org.pk, code=code) if code else None), growth_hack


# --- the calls -----------------------------------------------------------------------------------


def update_user_info(*, org: Org, data: dict) -> tuple[int, dict]:
    user_key = _string(data, "userkey", max_length=64)
    external_id = _string(data, "useridinstore", max_length=150, allow_int=True)
    email = _string(data, "emailid", max_length=254)
    name = _string(data, "name", max_length=200)
    mobile = _string(data, "mobile", max_length=20, allow_int=True)
    referrer_code = _string(data, "referrercode", max_length=100)
    if external_id is None and email is None:
        raise WireError(102, "UserIdInstore or EmailId is required")
    if email is not None and not EMAIL.match(email):
        raise WireError(102, "EmailId is not an email address")
    if mobile is not None and not MOBILE.match(mobile):
        raise WireError(102, "mobile is not a phone number")
    info = UserInfo(
        user_key=user_key, external_id=external_id, email=email, name=name, mobile=mobile, referrer_code=referrer_code
    )
    done = user_register(org_id=org.pk, info=info)
    return answer(
        1,
        userkey=str(done.customer.user_key),
        referralcode=done.customer.referral_code,
        referrerSet=done.referrer_set,
        created=done.created,
    )


def register_conversion_event(*, org: Org, data: dict) -> tuple[int, dict]:
    kind, value = _identifier(data)
    event_name = _string(data, "eventname", max_length=100)
    if event_name is None:
        raise WireError(102, "eventName is required")
    fields = {
        "event_name": event_name,
        "transaction_value": _transaction_value(data),
        "transaction_unit": _string(data, "transactionunit", max_length=32) or "",
        "extra_info": _string(data, "extrainfo", max_length=1000) or "",
        "tskey": _string(data, "tskey", max_length=100, allow_int=True),
    }
    growth_hack, code = _filter_names(data)
    conversion = ConversionInput(**fields, campaign_code=code, growth_hack=growth_hack)
    result = conversion_register(org_id=org.pk, kind=kind, value=value, conversion=conversion)
    rewards = [
        {
            "rewarddtlid": line.code,
            "campaignId": line.campaign_code,
            "beneficiary": line.beneficiary,
            "userkey": line.user_key,
            "amount": money(line.amount) if line.amount is not None else None,
            "reward_status": reward_status_name(review_status=line.review_status, redeemed=line.redeemed),
        }
        for line in result.rewards
    ]
    detail = "" if rewards else "no rule of an eligible campaign matched the event"
    return answer(1, detail, rewards=rewards, replayed=result.replayed)


def _amounts(amounts: Amounts) -> dict:
    return {
        "total": money(amounts.total),
        "claimed": money(amounts.claimed),
        "pending": money(amounts.pending),
        "underReview": money(amounts.under_review),
    }


def get_user_balance(*, org: Org, data: dict) -> tuple[int, dict]:
    kind, value = _identifier(data)
    growth_hack, code = _filter_names(data)
    balance = user_balance(org_id=org.pk, kind=kind, value=value, campaign_code=code, growth_hack=growth_hack)
    return answer(
        1,
        userBalance={
            **_amounts(balance.amounts),
            "growthHacks": [
                {
                    "ghName": GROWTH_HACK_NAMES[hack.growth_hack],
                    **_amounts(hack.amounts),
                    "campaigns": [
                        {
                            "campaignId": shown.code,
                            "campaignName": shown.name,
                            "rewardUnit": shown.reward_unit,
                            **_amounts(shown.amounts),
                        }
                        for shown in hack.campaigns
                    ],
                }
                for hack in balance.growth_hacks
            ],
        },
    )


def get_user_coupons(*, org: Org, data: dict) -> tuple[int, dict]:
    kind, value = _identifier(data)
    customer = _user(org, kind, value)
    coupons = []
    for coupon in user_coupons(customer=customer):
        pool, campaign = coupon.pool, coupon.pool.campaign
        coupons.append(
            {
                "couponCode": coupon.code,
                "couponExpiry": av_date(coupon.expires_at),
                "couponValue": money(pool.value) if pool.value is not None else None,
                "couponUnit": pool.unit,
                "campaignID": campaign.code if campaign else None,
                "campaignName": campaign.name if campaign else None,
                "name": pool.name,
                "details": pool.details,
                "image": pool.image,
            }
        )
    return answer(1, coupons=coupons)


def get_coupon_pools(*, org: Org, data: dict) -> tuple[int, dict]:
    kind, value = _identifier(data)
    code = _string(data, "campaignid", max_length=100, allow_int=True)
    customer = _user(org, kind, value)
    campaign = campaign_named(org_id=org.pk, code=code) if code else None
    if customer.blocked or (campaign is not None and not _eligible(campaign, customer)):
        raise NotEligible(campaign=code)
    campaigns = [
        {
            "campaignId": group.campaign.code,
            "campaignName": group.campaign.name,
            "growthhack": GROWTH_HACK_NAMES[group.campaign.growth_hack],
            "pools": [
                {
                    "poolId": pool.pk,
                    "name": pool.name,
                    "details": pool.details,
                    "image": pool.image,
                    "value": money(pool.value) if pool.value is not None else None,
                    "unit": pool.unit,
                    "available": pool.available,
                }
                for pool in group.pools
            ],
        }
        for group in choosable_pools(customer=customer, campaign=campaign)
    ]
    return answer(1, campaigns=campaigns)


def _eligible(campaign: Campaign, customer: Customer) -> bool:
    return campaign_is_eligible(campaign=campaign, customer=customer)


def _reward_id(value, key: str = "rewarddtlid") -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise WireError(102, f"{key} must be a string or an integer")
    return value.strip()


def check_reward_status(*, org: Org, data: dict) -> tuple[int, dict]:
    if not _present(data.get("rewarddtlid")):
        raise WireError(102, "rewarddtlid is required")
    code = _reward_id(data["rewarddtlid"])
    reward = reward_by_code(org_id=org.pk, code=code)
    if reward is None:
        raise UnknownReward(code=code)
    return answer(
        1,
        rewarddtlid=reward.code,
        reward_status=reward_status_name(
            review_status=reward.review_status, redeemed=reward.status == EarnedReward.Status.REDEEMED
        ),
        comment=reward.review_comment,
        amount=money(reward.amount) if reward.amount is not None else None,
        rewardunit=reward.campaign.reward_unit,
        campaignId=reward.campaign.code,
        userkey=str(reward.customer.user_key),
    )


def _review_changes(value) -> list[ReviewChange]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_REVIEW_ITEMS:
        raise WireError(102, f"rewardslist must be a list of 1 to {MAX_REVIEW_ITEMS} items")
    changes, seen = [], set()
    for item in value:
        if not isinstance(item, dict):
            raise WireError(102, "each rewardslist item is an object")
        item = {str(key).lower(): field for key, field in item.items()}
        code = _reward_id(item.get("rewarddtlid"))
        if code in seen:
            raise WireError(102, f"rewarddtlid {code!r} is listed twice")
        seen.add(code)
        status = item.get("reward_status")
        if not isinstance(status, str) or status.replace(" ", "").lower() not in REVIEW_BY_NAME:
            raise WireError(102, "reward_status must be Approved, Rejected, Suspicious or UnderReview")
        comment = _string(item, "comment", max_length=500)
        changes.append(
            ReviewChange(code=code, review_status=REVIEW_BY_NAME[status.replace(" ", "").lower()], comment=comment)
        )
    return changes


def change_reward_status(*, org: Org, data: dict) -> tuple[int, dict]:
    changes = _review_changes(data.get("rewardslist"))
    rewards = rewards_review(org_id=org.pk, changes=changes, actor=f"AppVirality app {org.pk}")
    by_code = {reward.code: reward for reward in rewards}
    return answer(
        1,
        rewardslist=[
            {
                "rewarddtlid": change.code,
                "reward_status": reward_status_name(
                    review_status=by_code[change.code].review_status,
                    redeemed=by_code[change.code].status == EarnedReward.Status.REDEEMED,
                ),
            }
            for change in changes
        ],
    )


def get_friends_list(*, org: Org, data: dict) -> tuple[int, dict]:
    kind, value = _identifier(data)
    page_index = _integer(data, "pageIndex", default=1, low=1, high=10**6)
    page_size = _integer(data, "pageSize", default=20, low=1, high=MAX_PAGE_SIZE)
    customer = _user(org, kind, value)
    page = friends_page(customer=customer, page_index=page_index, page_size=page_size)
    return answer(
        1,
        friends=[
            {
                "emailId": friend.email,
                "UserIdInstore": friend.external_id,
                "name": friend.name,
                "regDate": av_datetime(friend.registered_at),
            }
            for friend in page.friends
        ],
        totalCount=page.total,
    )


CALLS: dict[str, Callable[..., tuple[int, dict]]] = {
    "updateuserinfo": update_user_info,
    "registerconversionevent": register_conversion_event,
    "getuserbalance": get_user_balance,
    "getusercoupons": get_user_coupons,
    "getcouponpools": get_coupon_pools,
    "checkrewardstatus": check_reward_status,
    "changerewardstatus": change_reward_status,
    "getfriendslist": get_friends_list,
}


def companion_call(*, verb: str, document, raw: bytes, throttled: Callable[[Org], bool]) -> tuple[int, dict]:
    """Answer one call of ``verb`` (a key of ``CALLS``): (HTTP status, body). ``document`` is the
    body as ``core.request_body`` read it, ``raw`` its bytes."""
    try:
        data = parse_body(document, raw=raw)
    except WireError as error:
        return answer(error.statuscode, error.detail)
    presented = credentials(data)
    org = app_authenticate(apikey=presented[0], privatekey=presented[1]) if presented else None
    if org is None:
        return answer(101)
    if throttled(org):
        return answer(106)
    try:
        return CALLS[verb](org=org, data=data)
    except DomainError as error:  # WireError included
        return answer(*_error_code(error))
