"""Step 1 of an issue call: resolve and validate the whole call (orgs and data scope, customers and
groups, rewards, payment configs and their points, custom fields, requestIds) into ``Line``s.
Any problem fails the call as a whole (an ``IssueError``): nothing is issued. A reward the
customer may not have (disabled, outside its segments, no active card) is kept as the line's
``failure``: that reward alone fails."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from core.money import ZERO, to_money
from orgs.errors import OutOfScope
from orgs.models import Customer

from . import selectors
from .calls import IssueCallIn, OrgDetailIn, RewardLineIn
from .eligibility import customer_refusal
from .errors import (
    CustomerNotFound,
    GroupNotFound,
    InvalidIssueRequest,
    NotGroupMember,
    PaymentConfigInvalid,
    PaymentConfigRequired,
    RequestIdConflict,
    RewardNotIssued,
)
from .models import CatalogueReward, PaymentConfig, RewardIssue


@dataclass
class Payer:
    org_id: int
    customer: Customer
    group: Any  # CustomerGroup or None
    wallet_id: int | None
    balance: Decimal

    @property
    def key(self) -> tuple:
        return ("group", self.group.pk) if self.group is not None else ("customer", self.customer.pk)


@dataclass
class Line:
    index: int
    item: RewardLineIn
    org_id: int
    reward: CatalogueReward
    config: PaymentConfig | None
    points: Decimal
    redemption_value: Decimal | None
    payer: Payer
    notes: str
    params: Any
    payload_hash: str
    request_key: str | None
    failure: RewardNotIssued | None = None
    replay: RewardIssue | None = None
    seen_before: bool = False


def line_cost(*, reward: CatalogueReward, config: PaymentConfig | None, item: RewardLineIn, index: int):
    """(points, total redemption value) of a reward line."""
    if config is None:
        return ZERO, None
    if config.mode == PaymentConfig.Mode.POINTS:
        points = config.points * item.quantity
        value = points
    elif item.points is not None:
        points = item.points
        value = item.points * config.conversion_ratio
    elif item.redemption_value is not None:
        value = item.redemption_value * item.quantity
        points = (value / config.conversion_ratio).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        if points <= 0:
            raise InvalidIssueRequest(f"rewards[{index}].paymentConfig.redemptionValue: worth less than one point")
    else:
        raise InvalidIssueRequest(
            f"rewards[{index}].paymentConfig: redemptionValue or points is required for a CONV_RATIO reward"
        )
    try:
        return to_money(points), value.normalize()
    except ValueError as exc:
        raise InvalidIssueRequest(f"rewards[{index}]: the reward would cost too many points") from exc


def line_payment_config(*, reward: CatalogueReward, item: RewardLineIn, index: int) -> PaymentConfig | None:
    if item.payment_config_id is not None:
        config = reward.configs.get(item.payment_config_id)
        if config is None:
            raise PaymentConfigInvalid(
                f"rewards[{index}].paymentConfig.id: {item.payment_config_id} is not a payment config of reward "
                f"{reward.pk}"
            )
        return config
    if len(reward.configs) > 1:
        raise PaymentConfigRequired(f"rewards[{index}].paymentConfig.id: reward {reward.pk} has several")
    return next(iter(reward.configs.values()), None)


def payers_find(*, call: IssueCallIn, org_ids: list[int], details: dict[int, OrgDetailIn]) -> dict[int, Payer]:
    payers = {}
    for org_id in org_ids:
        customer = selectors.customer_for_issue(
            org_id=org_id, mobile=call.mobile, email=call.email, external_id=call.external_id
        )
        if customer is None:
            raise CustomerNotFound(f"customer not found in org {org_id}")
        detail = details.get(org_id)
        ref = detail.group if detail is not None and detail.group.given else call.group
        if not ref.given:
            payers[org_id] = Payer(org_id, customer, None, customer.wallet_id, customer.wallet_balance or ZERO)
            continue
        group = selectors.group_for_issue(
            org_id=org_id,
            customer_id=customer.pk,
            group_id=ref.group_id,
            external_id=ref.external_id,
            primary_user_id=ref.primary_user_id,
        )
        if group is None:
            raise GroupNotFound(f"loyalty group not found in org {org_id}")
        if not group.is_member:
            raise NotGroupMember(f"customer is not a member of loyalty group {group.pk}")
        payers[org_id] = Payer(org_id, customer, group, group.wallet_id, group.wallet_balance or ZERO)
    return payers


def reward_refusal(*, reward: CatalogueReward, payer: Payer, segments: set[int], now) -> RewardNotIssued | None:
    return customer_refusal(reward=reward, customer=payer.customer, segments=segments, now=now)


def payload_hash(*, line_org: int, payer: Payer, item: RewardLineIn, config, points: Decimal) -> str:
    payload = {
        "org": line_org,
        "customer": payer.customer.pk,
        "group": payer.group.pk if payer.group is not None else None,
        "reward": item.reward_id,
        "quantity": item.quantity,
        "config": config.pk if config is not None else None,
        "points": str(points),
        "customFields": item.custom_fields,
        "fulfillment": item.fulfillment_status,
        "params": item.params,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def request_key(request_id: str) -> str:
    return hashlib.sha256(request_id.encode()).hexdigest()


def customer_segments(payer: Payer, *, rewards: dict[int, CatalogueReward]) -> set[int]:
    """The customer's segments among those of the org's rewards (no query when none has any)."""
    wanted = {s for reward in rewards.values() if reward.org_id == payer.org_id for s in reward.segment_ids}
    if not wanted:
        return set()
    return selectors.customer_segment_ids(customer_id=payer.customer.pk, segment_ids=wanted)


def call_resolve(*, caller_org_id: int, scope: frozenset[int], call: IssueCallIn) -> list[Line]:
    """The call's lines, in its order; ``caller_org_id``: the caller's org (a reward's org by default)."""
    details: dict[int, OrgDetailIn] = {}
    for i, detail in enumerate(call.org_details):
        if detail.org_id in details:
            raise InvalidIssueRequest(f"orgLevelDetails[{i}].orgId: org {detail.org_id} is listed twice")
        details[detail.org_id] = detail
    default_org = call.org_details[0].org_id if len(call.org_details) == 1 else caller_org_id
    line_orgs = [item.org_id or default_org for item in call.rewards]
    outside = (set(line_orgs) | set(details)) - scope
    if outside:
        raise OutOfScope(f"org {min(outside)} is outside the data scope of this call")
    request_ids = [item.request_id for item in call.rewards if item.request_id is not None]
    if len(set(request_ids)) < len(request_ids):
        raise RequestIdConflict("each reward needs its own requestId")

    rewards = selectors.rewards_for_issue(reward_ids=[item.reward_id for item in call.rewards])
    payers = payers_find(call=call, org_ids=list(dict.fromkeys(line_orgs)), details=details)
    custom_fields: dict[int, set[str]] = {}
    statuses: dict[int, set[str]] = {}
    if any(item.custom_fields or item.fulfillment_status for item in call.rewards):
        custom_fields, statuses = selectors.org_definitions(org_ids=set(line_orgs))
    segments = {org_id: customer_segments(payer, rewards=rewards) for org_id, payer in payers.items()}

    now = timezone.now()
    lines = []
    for index, (item, org_id) in enumerate(zip(call.rewards, line_orgs, strict=True)):
        reward = rewards.get(item.reward_id)
        if reward is None or reward.org_id != org_id:
            raise InvalidIssueRequest(f"rewards[{index}].rewardId: reward {item.reward_id} not found in org {org_id}")
        config = line_payment_config(reward=reward, item=item, index=index)
        points, value = line_cost(reward=reward, config=config, item=item, index=index)
        if item.custom_fields:
            unknown = set(item.custom_fields) - custom_fields[org_id]
            if unknown:
                raise InvalidIssueRequest(f"rewards[{index}].customFields: {sorted(unknown)[0]!r} is not defined")
        if item.fulfillment_status is not None and item.fulfillment_status not in statuses[org_id]:
            raise InvalidIssueRequest(
                f"rewards[{index}].fulfillmentDetails.status: {item.fulfillment_status!r} is not defined"
            )
        payer = payers[org_id]
        detail = details.get(org_id)
        lines.append(
            Line(
                index=index,
                item=item,
                org_id=org_id,
                reward=reward,
                config=config,
                points=points,
                redemption_value=value,
                payer=payer,
                notes=(detail.notes if detail is not None and detail.notes is not None else call.notes) or "",
                params=item.params if item.params is not None else (detail.params if detail is not None else None),
                payload_hash=payload_hash(line_org=org_id, payer=payer, item=item, config=config, points=points),
                request_key=request_key(item.request_id) if item.request_id is not None else None,
                failure=reward_refusal(reward=reward, payer=payer, segments=segments[org_id], now=now),
            )
        )
    return lines


def is_vendor(line: Line) -> bool:
    return line.reward.type == CatalogueReward.Type.VENDOR
