"""What a conversion event pays, decided in Python for both ways of registering it
(``wallets.conversions``): the rule sides that may pay whoever the user is (``sides_of``), those
that pay this user and its referrer (``side_applies``, ``plan_of``), the answer's lines and the
events' payloads. The database function of the one-statement path (``wallets.conversion_call``)
applies ``side_applies`` in SQL and fills in the parties' values; everything else it is given.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from core.errors import DomainError
from core.money import ZERO
from events.outbox import customer_ref
from orgs.errors import UnknownUser, UnknownUserKey
from orgs.models import Campaign
from orgs.selectors import campaign_is_eligible, campaign_is_open

from .earning import AUTOMATIC_COUPONS, reward_fields, share_of
from .models import CampaignRule, EarnedReward
from .selectors import rules_for_event


@dataclass(frozen=True)
class ConversionInput:
    event_name: str
    transaction_value: Decimal | None = None
    transaction_unit: str = ""
    extra_info: str = ""
    tskey: str | None = None
    campaign_code: str | None = None
    growth_hack: str | None = None  # the name as sent (checked after the user)


@dataclass(frozen=True)
class RewardLine:
    """One reward a conversion created, as its answer lists it (kept for repeats of the tskey)."""

    code: str
    campaign_code: str
    beneficiary: str
    user_key: str
    amount: Decimal | None
    review_status: str
    redeemed: bool

    def stored(self) -> dict:
        return {**self.__dict__, "amount": None if self.amount is None else str(self.amount)}

    @classmethod
    def from_stored(cls, data: dict) -> RewardLine:
        return cls(**{**data, "amount": None if data["amount"] is None else Decimal(data["amount"])})


@dataclass(frozen=True)
class ConversionResult:
    rewards: list[RewardLine]
    replayed: bool = False


@dataclass(frozen=True)
class Party:
    """The user of a conversion, or its referrer, as the rules and the events need them: read in
    the call's first statement, never a model."""

    pk: int
    org_id: int
    external_id: str
    email: str | None
    mobile: str | None
    user_key: uuid.UUID
    name: str
    blocked: bool
    segment_ids: frozenset[int]
    referrer_id: int | None = None


@dataclass(frozen=True)
class Parties:
    customer: Party
    referrer: Party | None


# Where a rule side's template names its beneficiary: the database function writes the parties'
# own values over this one's (``register_in_one_statement``).
SOMEONE = Party(0, 0, "", None, None, uuid.UUID(int=0), "", False, frozenset())


@dataclass(frozen=True)
class Side:
    """What one side of a rule pays, decided before the user is known: which of them it pays,
    and its number in the plan, depend on the user and its referrer (``side_applies``)."""

    rule: CampaignRule
    beneficiary: str
    amount: Decimal | None

    @property
    def review_status(self) -> str:
        return EarnedReward.Review.UNDER_REVIEW if self.rule.review_days > 0 else EarnedReward.Review.APPROVED

    def hands_out_coupon(self) -> bool:
        return (
            self.amount is None
            and self.review_status == EarnedReward.Review.APPROVED
            and self.rule.campaign.coupon_distribution in AUTOMATIC_COUPONS
        )


@dataclass(frozen=True)
class Planned:
    number: int  # its place in the plan: the reward's code is av-<conversion>-<number>
    side: Side
    who: Party

    @property
    def rule(self) -> CampaignRule:
        return self.side.rule

    @property
    def beneficiary(self) -> str:
        return self.side.beneficiary

    @property
    def amount(self) -> Decimal | None:
        return self.side.amount

    @property
    def review_status(self) -> str:
        return self.side.review_status


@dataclass(frozen=True)
class Created:
    plan: Planned
    code: str
    coupon: object = None  # coupons.models.Coupon handed out at once (step by step only)

    def line(self) -> RewardLine:
        return RewardLine(
            code=self.code,
            campaign_code=self.plan.rule.campaign.code,
            beneficiary=self.plan.beneficiary,
            user_key=str(self.plan.who.user_key),
            amount=self.plan.amount,
            review_status=self.plan.review_status,
            redeemed=self.coupon is not None,
        )


def unknown_user(*, kind: str, value: str) -> DomainError:
    return (UnknownUserKey if kind == "user_key" else UnknownUser)(identifier=value)


def answered(answer: list[dict] | None, *, replayed: bool = False) -> ConversionResult:
    return ConversionResult(rewards=[RewardLine.from_stored(r) for r in answer or []], replayed=replayed)


def rules_matching(*, org_id: int, conversion: ConversionInput, campaign: Campaign | None, growth_hack: str | None):
    return [
        rule
        for rule in rules_for_event(org_id=org_id, event_name=conversion.event_name)
        if (campaign is None or rule.campaign_id == campaign.pk)
        and (growth_hack is None or rule.campaign.growth_hack == growth_hack)
    ]


def value_required(*, rules: list[CampaignRule], conversion: ConversionInput) -> bool:
    """A rule pays a percentage of a transaction value the call did not send."""
    return conversion.transaction_value is None and any(
        side is not None and side.percent is not None
        for rule in rules
        for side in (rule.side(name) for name in CampaignRule.SIDES)
    )


def sides_of(*, rules: list[CampaignRule], conversion: ConversionInput) -> list[Side]:
    """What each rule's sides pay whoever the user is, in plan order: rule by rule, the referrer
    then the friend (Word_of_Mouth), or the user; only open campaigns, and only what pays something."""
    sides: list[Side] = []
    for rule in rules:
        campaign = rule.campaign
        if not campaign_is_open(campaign=campaign):
            continue
        names = ("referrer", "friend") if campaign.growth_hack == Campaign.GrowthHack.WORD_OF_MOUTH else ("user",)
        for name in names:
            side = rule.side(name)
            if side is None:
                continue
            amount = share_of(side=side, transaction_value=conversion.transaction_value)
            if amount is not None and amount <= ZERO:
                continue  # a percentage of a tiny value: nothing to earn
            sides.append(Side(rule=rule, beneficiary=name, amount=amount))
    return sides


def side_applies(side: Side, parties: Parties) -> Party | None:
    """Whom the side pays for this user, or None: the user eligible for the campaign; a referral's
    sides only when the user has a referrer, the referrer's only when the referrer is eligible
    too. The database function decides the same in SQL (migration 0015)."""
    customer, referrer, campaign = parties.customer, parties.referrer, side.rule.campaign
    if not campaign_is_eligible(campaign=campaign, customer=customer, segment_ids=customer.segment_ids):
        return None
    if side.beneficiary == "user":
        return customer
    if referrer is None:
        return None
    if side.beneficiary == "friend":
        return customer
    eligible = campaign_is_eligible(campaign=campaign, customer=referrer, segment_ids=referrer.segment_ids)
    return referrer if eligible else None


def plan_of(*, parties: Parties, sides: list[Side]) -> list[Planned]:
    """The sides that pay this user and its referrer, numbered in plan order."""
    planned: list[Planned] = []
    for side in sides:
        who = side_applies(side, parties)
        if who is not None:
            planned.append(Planned(len(planned) + 1, side=side, who=who))
    return planned


def rules_in_lock_order(rules) -> list[CampaignRule]:
    """The rules, each once, in id order: the order their usages are locked in."""
    return sorted({rule.pk: rule for rule in rules}.values(), key=lambda rule: rule.pk)


def conversion_payloads(
    *, customer: Party, conversion: ConversionInput, conversion_id: int, created: list[Created], now
) -> list[tuple[int, dict]]:
    """One event per campaign that paid (a campaign has one rule per event name: per rule), with
    every reward created in exactly one: (rule id, payload)."""
    by_rule: dict[int, list[Created]] = {}
    for c in created:
        by_rule.setdefault(c.plan.rule.pk, []).append(c)
    payloads = []
    for rule_id, group in by_rule.items():
        rewards = [reward_payload(c, conversion=conversion, conversion_id=conversion_id, now=now) for c in group]
        payload = event_payload(customer=customer, conversion=conversion, conversion_id=conversion_id, rewards=rewards)
        payloads.append((rule_id, payload))
    return payloads


def reward_payload(c: Created, *, conversion: ConversionInput, conversion_id: int, now) -> dict:
    return reward_fields(
        code=c.code,
        rule_id=c.plan.rule.pk,
        beneficiary=c.plan.beneficiary,
        who=c.plan.who,
        campaign=c.plan.rule.campaign,
        amount=c.plan.amount,
        review_status=c.plan.review_status,
        redeemed=c.coupon is not None,
        earned_at=now,
        coupon=c.coupon,
        conversion=conversion_seen(conversion, conversion_id=conversion_id),
    )


def conversion_seen(conversion: ConversionInput, *, conversion_id: int) -> dict:
    """The conversion as each reward of its events shows it."""
    return {"id": conversion_id, "eventName": conversion.event_name, "extraInfo": conversion.extra_info}


def conversion_fields(conversion: ConversionInput, *, conversion_id: int) -> dict:
    """The conversion as its events show it."""
    return {
        "id": conversion_id,
        "eventName": conversion.event_name,
        "extraInfo": conversion.extra_info,
        "transactionValue": conversion.transaction_value,
        "transactionUnit": conversion.transaction_unit,
        "tskey": conversion.tskey,
    }


def event_payload(*, customer: Party, conversion: ConversionInput, conversion_id: int, rewards: list[dict]) -> dict:
    return {
        "conversion": conversion_fields(conversion, conversion_id=conversion_id),
        "customer": customer_ref(customer, user_key=True),
        "campaign": rewards[0]["campaign"],
        "rewards": rewards,
    }
