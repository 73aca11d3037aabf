"""The Capillary answers of Issue Reward: what the service reports (``catalogue.calls``), rendered
as Capillary's bodies, codes (``capillary/errors.py``) and HTTP statuses. The same entry for a
reward issued now and for a replay of its requestId."""

from __future__ import annotations

from decimal import Decimal

from catalogue.calls import IssueOutcome, RewardFailed, RewardIssued
from catalogue.errors import InsufficientPoints, PointsGone
from catalogue.models import CatalogueReward, PaymentConfig, RewardIssue
from catalogue.points import points_text

from .errors import call_error_code, reward_error_code

SUCCESS = {"success": True, "code": 200, "message": "Reward issued successfully"}


PARTIAL = {"success": True, "code": 8010, "message": "Reward issued partially"}


FAILED = {"success": False, "code": 8003, "message": "fail to issue reward"}


def issue_answer(outcome: IssueOutcome) -> tuple[int, dict]:
    """(HTTP status, body) of an issue call: 200 all issued, 200/8010 some, 400/8003 none, and
    400/8004 (partnerError 804) when every reward failed for points spent meanwhile."""
    results = [
        issue_result(reward.issue)
        if isinstance(reward, RewardIssued)
        else failure_result(reward, event_log_id=outcome.event_log_id)
        for reward in outcome.rewards
    ]
    issued = outcome.issued
    if issued == len(results):
        return 200, {"status": SUCCESS, "rewards": results}
    if issued:
        return 200, {"status": PARTIAL, "rewards": results}
    if all(isinstance(reward.error, PointsGone) for reward in outcome.rewards):
        http_status, code, partner = call_error_code(InsufficientPoints())
        status = {
            "success": False,
            "code": code,
            "message": "insufficient points",
            "partnerError": {"codes": [partner], "messages": [r["status"]["message"] for r in results]},
        }
        return http_status, {"status": status, "rewards": results}
    return 400, {"status": FAILED, "rewards": results}


def json_number(value: Decimal | None):
    """A ratio or value as a JSON number, as the seed has them. Exact: these have at most 15
    significant digits, which a double's shortest representation reproduces digit for digit."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def config_out(config: PaymentConfig | None) -> dict | None:
    if config is None:
        return None
    if config.mode == PaymentConfig.Mode.CONV_RATIO:
        return {"paymentMode": config.mode, "id": config.pk, "conversionRatio": json_number(config.conversion_ratio)}
    return {"paymentMode": config.mode, "id": config.pk, "points": json_number(config.points)}


def issue_result(issue: RewardIssue) -> dict:
    """The response entry of an issued reward, the same on a replay."""
    reward, points = issue.reward, points_text(issue.points)
    intouch = None
    if issue.coupon_codes:
        first = issue.coupon_codes[0]
        intouch = {"pointsRedeemed": points, "couponCode": first["code"], "codeExpiry": first["expiry"]}
        if len(issue.coupon_codes) > 1:
            intouch["couponCodes"] = [c["code"] for c in issue.coupon_codes]
    promotions = []
    if issue.promotion_id is not None:
        promotions = [{"promotionId": issue.promotion.code, "pointsRedeemed": points}]
    vendor = []
    if reward.type == CatalogueReward.Type.VENDOR:
        vendor = [{**issue.vendor_details, "pointsRedeemed": points, "offer_name": reward.vendor_name}]
    return {
        "status": SUCCESS,
        "orgId": issue.org_id,
        "transactionId": issue.pk,
        "rewardId": issue.reward_id,
        "requestedQuantity": issue.requested_quantity,
        "quantity": issue.quantity,
        "pointsReferenceId": issue.points_reference_id,
        "pointsReferenceIds": [issue.points_reference_id],
        "eventLogId": issue.event_log_id,
        "requestId": issue.request_id,
        "intouch": intouch,
        "promotions": promotions,
        "vendor": vendor,
        "restrictions": None,
        "paymentConfig": config_out(issue.payment_config),
        "fulfillmentDetails": {"status": issue.fulfillment_status} if issue.fulfillment_status else None,
        "customFields": issue.custom_fields or None,
        "redemptionDetails": {
            "redemptionType": reward.redemption_type,
            "totalRedemptionValue": json_number(issue.redemption_value),
        },
    }


def failure_result(failed: RewardFailed, *, event_log_id: str | None) -> dict:
    """The response entry of a reward that failed."""
    return {
        "status": {"success": False, "code": reward_error_code(failed.error), "message": str(failed.error)},
        "orgId": failed.org_id,
        "transactionId": None,
        "rewardId": failed.reward_id,
        "requestedQuantity": failed.requested_quantity,
        "quantity": 0,
        "pointsReferenceId": None,
        "pointsReferenceIds": [],
        "eventLogId": event_log_id,
        "requestId": failed.request_id,
        "intouch": None,
        "promotions": [],
        "vendor": [],
        "restrictions": None,
        "paymentConfig": config_out(failed.payment_config),
        "fulfillmentDetails": None,
        "customFields": None,
        "redemptionDetails": None,
    }
