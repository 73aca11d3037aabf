"""Webhook bodies in AppVirality's shape, for endpoints with ``format: appvirality``.

The outbox renders them by name (settings ``WEBHOOK_BODY_FORMATS``) from the events the earning
services emit: a ``conversion`` (the rewards one event earned in one campaign) and a
``reward_status`` (one reward's review status changed). The body carries the endpoint's
``securekey``; each side is the referrer's or the friend's (the user's, in a loyalty campaign)
reward, or null when that side earned nothing.
"""

from __future__ import annotations

from orgs.models import EventKind, OutboxEvent, WebhookEndpoint

from .companion import av_date, av_datetime, reward_status_name


def _side(reward: dict | None) -> dict | None:
    if reward is None:
        return None
    customer, campaign, coupon = reward["customer"], reward["campaign"], reward.get("coupon") or {}
    amount = reward.get("amount")
    unit = campaign.get("rewardUnit") or ""
    status = reward_status_name(review_status=reward["reviewStatus"], redeemed=reward["redeemed"])
    what = f"{amount} {unit}".strip() if amount is not None else "one coupon"
    return {
        "participantid": customer.get("userKey"),
        "emailid": customer.get("email"),
        "name": customer.get("name") or "",
        "storeuserid": customer.get("externalId"),
        "rewardid": reward.get("ruleId"),
        "rewarddtlid": reward["rewarddtlid"],
        "reward_type": "Coupon" if campaign.get("rewardType") == "COUPONS" else "Wallet",
        "rewarded_date": av_datetime(reward.get("earnedAt")),
        "amount": amount,
        "reward_unit": unit,
        "reward_description": f"{what} for {reward['beneficiary'] or 'the user'}",
        "reward_status": status,
        "couponcode": coupon.get("code"),
        "expires": av_date(coupon.get("expiresAt")),
    }


def _by_side(rewards: list[dict]) -> tuple[dict | None, dict | None]:
    friend = next((r for r in rewards if r.get("beneficiary") != "referrer"), None)  # friend, user, or unknown
    referrer = next((r for r in rewards if r.get("beneficiary") == "referrer"), None)
    return friend, referrer


def webhook_document(*, event: OutboxEvent, endpoint: WebhookEndpoint) -> dict:
    """The JSON document of ``event`` for an AppVirality-format endpoint."""
    payload = event.payload
    if event.kind == EventKind.CONVERSION:
        rewards, campaign, conversion = payload["rewards"], payload["campaign"], payload["conversion"]
        message = f"{conversion['eventName']} conversion rewarded"
    else:
        reward = payload["reward"]
        rewards, campaign, conversion = [reward], reward["campaign"], reward.get("conversion") or {}
        status = reward_status_name(review_status=payload["to"], redeemed=reward["redeemed"])
        message = f"reward {reward['rewarddtlid']} is now {status}"
    friend, referrer = _by_side(rewards)
    return {
        "securekey": endpoint.securekey,
        "success": True,
        "campaignid": campaign["id"],
        "campaignname": campaign.get("name") or "",
        "eventname": conversion.get("eventName") or "",
        "extraInfo": conversion.get("extraInfo") or "",
        "message": message,
        "friend": _side(friend),
        "referrer": _side(referrer),
    }
