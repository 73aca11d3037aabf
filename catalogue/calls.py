"""The Issue Reward call as its application service takes it (``catalogue.services.rewards_issue``)
and what it reports: plain, typed values, parsed by the adapter (``capillary/apis.py``) and
rendered by it (``capillary/render.py``). No Capillary code, body or HTTP status here."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from wallets.owners import GroupRef

from .errors import RewardNotIssued
from .models import PaymentConfig, RewardIssue


@dataclass(frozen=True)
class RewardLineIn:
    reward_id: int
    quantity: int
    requested_quantity: int
    org_id: int | None = None
    params: Any = None
    payment_config_id: int | None = None
    redemption_value: Decimal | None = None
    points: Decimal | None = None
    custom_fields: dict | None = None
    fulfillment_status: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class OrgDetailIn:
    org_id: int
    params: Any = None
    notes: str | None = None
    group: GroupRef = GroupRef()


@dataclass(frozen=True)
class IssueCallIn:
    rewards: list[RewardLineIn]
    mobile: str | None = None
    email: str | None = None
    external_id: str | None = None
    transaction_number: str | None = None
    notes: str | None = None
    event_log_id: str | None = None
    brand: str | None = None
    validation_code: str | None = None
    group: GroupRef = GroupRef()
    org_details: list[OrgDetailIn] = field(default_factory=list)


@dataclass(frozen=True)
class RewardIssued:
    """One reward of the call issued now, or earlier under the same requestId (a replay)."""

    issue: RewardIssue


@dataclass(frozen=True)
class RewardFailed:
    """One reward of the call not issued, and why."""

    org_id: int
    reward_id: int
    requested_quantity: int
    request_id: str | None
    payment_config: PaymentConfig | None
    error: RewardNotIssued


@dataclass(frozen=True)
class IssueOutcome:
    """What a call did, reward by reward, in the call's order (a call that fails as a whole raises
    an ``IssueError`` instead)."""

    rewards: list[RewardIssued | RewardFailed]
    event_log_id: str | None = None

    @property
    def issued(self) -> int:
        return sum(1 for reward in self.rewards if isinstance(reward, RewardIssued))
