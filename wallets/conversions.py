"""Conversion events (AppVirality ``registerconversionevent``): what a user did, paid at once by
the campaign rules that match it.

A conversion creates all its rewards in one transaction; its ``tskey`` is claimed by a unique
constraint (a concurrent repeat waits for the first and then answers what it answered); a rule's
``per_user`` limit is one upsert on ``RuleUsage`` that refuses past the limit (the row lock
serialises racers). Lock order: the tskey claim, rule usages in rule id order, then coupons
(``wallets.earning``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from core.errors import DomainError
from core.idempotency import keys_claim
from core.money import ZERO
from events.outbox import customer_ref, events_emit, events_written
from orgs.errors import NotEligible, UnknownUser, UnknownUserKey
from orgs.models import Campaign, Customer, EventKind
from orgs.selectors import (
    campaign_is_eligible,
    campaign_named,
    customer_key,
    customer_segment_ids,
    growth_hack_named,
)

from . import sql
from .earning import AUTOMATIC_COUPONS, coupons_hand_out, reward_fields, share_of
from .errors import TransactionValueRequired
from .models import CampaignRule, ConversionEvent, EarnedReward
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


_USAGE_TAKE = """
    INSERT INTO wallets_ruleusage (org_id, rule_id, customer_id, count) VALUES (%s, %s, %s, 1)
    ON CONFLICT (rule_id, customer_id) DO UPDATE SET count = wallets_ruleusage.count + 1
     WHERE wallets_ruleusage.count < %s
    RETURNING count
"""


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
class _Parties:
    customer: Party
    referrer: Party | None
    conversion_id: int | None  # allocated in the same statement (the one-statement path)


@dataclass
class _Planned:
    number: int  # its place in the plan: the reward's code is av-<conversion>-<number>
    rule: CampaignRule
    beneficiary: str
    who: Party
    amount: Decimal | None

    @property
    def review_status(self) -> str:
        return EarnedReward.Review.UNDER_REVIEW if self.rule.review_days > 0 else EarnedReward.Review.APPROVED


def conversion_register(*, org_id: int, kind: str, value: str, conversion: ConversionInput) -> ConversionResult:
    """Record a conversion event of the org's user with this identifier and create what the
    matching rules pay, at once.

    Checks, in the contract's order: the user (``UnknownUserKey`` / ``UnknownUser``), the growth
    hack (``UnknownGrowthHack``; ``conversion.growth_hack`` is the name as sent), the campaign
    named (``UnknownCampaign``), the user's eligibility for it and not blocked (``NotEligible``),
    a transaction value when a matching rule pays a percentage (``TransactionValueRequired``).
    A repeat of a ``tskey`` answers the first call's answer, whatever its body. Each active
    campaign the user is eligible for whose rule matches pays: the referrer and the friend
    (Word_of_Mouth, only when the user has a referrer), or the user (Loyalty_Program); within the
    rule's ``per_user``. A refusal writes nothing.

    On PostgreSQL a call is two round trips: one read (the user, the referrer, their segments,
    the conversion's id) and one call of ``wallets_conversion_register`` (migration 0009), which
    claims the tskey, takes the rules' usages, writes the rewards, the answer and the events in
    its one transaction. Coupons handed out at once, and other databases, go step by step
    (``_register_stepwise``), with the same outcome.
    """
    statements = sql.CONVERSION.get(connection.vendor)
    parties = _parties(org_id=org_id, kind=kind, value=value, statement=statements and statements["parties"])
    customer = parties.customer
    try:
        rules = _rules(customer=customer, conversion=conversion)
    except DomainError:
        if conversion.tskey is not None:  # a repeat answers as the first call did, whatever its body
            earlier = _replay_if_taken(customer=customer, conversion=conversion)
            if earlier is not None:
                return earlier
        raise
    now = timezone.now()
    planned = _plan(parties=parties, rules=rules, conversion=conversion)
    if statements and parties.conversion_id is not None and not any(_hands_out_coupon(p) for p in planned):
        return _register_in_one_statement(
            parties=parties, planned=planned, conversion=conversion, now=now, statement=statements["register"]
        )
    return _register_stepwise(customer=customer, planned=planned, conversion=conversion, now=now)


def _parties(*, org_id: int, kind: str, value: str, statement: str | None) -> _Parties:
    """The user (``UnknownUserKey`` / ``UnknownUser`` if none) and its referrer, with their segments."""
    key = customer_key(kind=kind, value=value)
    row = None
    if key is not None and statement is not None:
        with connection.cursor() as cursor:
            cursor.execute(statement.format(column=key[0]), {"org": org_id, "value": key[1]})
            row = cursor.fetchone()
        if row is not None:
            customer = Party(*row[:8], frozenset(row[9]), referrer_id=row[8])
            referrer = Party(row[8], org_id, *row[10:16], frozenset(row[16])) if row[8] is not None else None
            return _Parties(customer=customer, referrer=referrer, conversion_id=row[17])
    elif key is not None:
        found = Customer.objects.filter(org_id=org_id, **{key[0]: key[1]}).first()
        if found is not None:
            referrer = Customer.objects.filter(pk=found.referrer_id).first() if found.referrer_id else None
            return _Parties(customer=_party(found), referrer=referrer and _party(referrer), conversion_id=None)
    raise (UnknownUserKey if kind == "user_key" else UnknownUser)(identifier=value)


def _party(customer: Customer) -> Party:
    shown = (getattr(customer, name) for name in ("pk", "org_id", "external_id", "email", "mobile", "user_key"))
    segments = frozenset(customer_segment_ids(customer=customer))
    return Party(*shown, customer.name, customer.blocked, segments, referrer_id=customer.referrer_id)


def _rules(*, customer: Party, conversion: ConversionInput) -> list[CampaignRule]:
    """The rules that may pay for this event (the process's cached copy): the checks after the user."""
    growth_hack = growth_hack_named(conversion.growth_hack) if conversion.growth_hack is not None else None
    code = conversion.campaign_code
    campaign = campaign_named(org_id=customer.org_id, code=code) if code is not None else None
    if customer.blocked or (
        campaign is not None
        and not campaign_is_eligible(campaign=campaign, customer=customer, segment_ids=customer.segment_ids)
    ):
        raise NotEligible(campaign=conversion.campaign_code)
    rules = [
        rule
        for rule in rules_for_event(org_id=customer.org_id, event_name=conversion.event_name)
        if (campaign is None or rule.campaign_id == campaign.pk)
        and (growth_hack is None or rule.campaign.growth_hack == growth_hack)
    ]
    if conversion.transaction_value is None and any(
        side is not None and side.percent is not None
        for rule in rules
        for side in (rule.side(name) for name in CampaignRule.SIDES)
    ):
        raise TransactionValueRequired(event=conversion.event_name)
    return rules


def _replay_if_taken(*, customer: Party, conversion: ConversionInput) -> ConversionResult | None:
    """A call refused by its checks still answers the first call's answer when its tskey is taken
    (waiting for a concurrent first call): the claim, rolled back at once if it was free."""
    with transaction.atomic():
        if _claim(customer=customer, conversion=conversion, now=timezone.now()) is None:
            return _replayed(customer=customer, tskey=conversion.tskey)
        transaction.set_rollback(True)
    return None


def _replayed(*, customer: Party, tskey: str) -> ConversionResult:
    answer = (
        ConversionEvent.objects.filter(org_id=customer.org_id, customer_id=customer.pk, tskey=tskey)
        .values_list("answer", flat=True)
        .get()
    )
    return ConversionResult(rewards=[RewardLine.from_stored(r) for r in answer or []], replayed=True)


def _claim(*, customer: Party, conversion: ConversionInput, now) -> int | None:
    """The event's row, claimed with its tskey (the one idempotency helper): its id, or None when
    an earlier call of this user holds the tskey (a concurrent one is waited for)."""
    columns = ["org_id", "customer_id", "event_name", "transaction_value", "transaction_unit", "extra_info"]
    values = [customer.org_id, customer.pk, conversion.event_name, conversion.transaction_value]
    values += [conversion.transaction_unit, conversion.extra_info, conversion.tskey, now]
    claimed = keys_claim(
        table=ConversionEvent._meta.db_table,
        columns=[*columns, "tskey", "created_at"],
        rows=[values],
        unique=["org_id", "customer_id", "tskey"],
        returning=["id"],
    )
    return claimed[0][0] if claimed else None


def _plan(*, parties: _Parties, rules: list[CampaignRule], conversion: ConversionInput) -> list[_Planned]:
    """What each rule pays to whom if its usage allows, numbered in rule order."""
    customer, referrer = parties.customer, parties.referrer
    planned: list[_Planned] = []
    for rule in rules:
        campaign = rule.campaign
        if not campaign_is_eligible(campaign=campaign, customer=customer, segment_ids=customer.segment_ids):
            continue
        if campaign.growth_hack == Campaign.GrowthHack.WORD_OF_MOUTH:
            if referrer is None:
                continue
            sides = [("friend", customer)]
            if campaign_is_eligible(campaign=campaign, customer=referrer, segment_ids=referrer.segment_ids):
                sides.insert(0, ("referrer", referrer))
        else:
            sides = [("user", customer)]
        for name, who in sides:
            side = rule.side(name)
            if side is None:
                continue
            amount = share_of(side=side, transaction_value=conversion.transaction_value)
            if amount is not None and amount <= ZERO:
                continue  # a percentage of a tiny value: nothing to earn
            planned.append(_Planned(len(planned) + 1, rule=rule, beneficiary=name, who=who, amount=amount))
    return planned


def _hands_out_coupon(plan: _Planned) -> bool:
    return (
        plan.amount is None
        and plan.review_status == EarnedReward.Review.APPROVED
        and plan.rule.campaign.coupon_distribution in AUTOMATIC_COUPONS
    )


def _paid_rules(planned: list[_Planned]) -> list[CampaignRule]:
    """The rules of the plan, each once, in id order: the order their usages are locked in."""
    return sorted({plan.rule.pk: plan.rule for plan in planned}.values(), key=lambda rule: rule.pk)


@dataclass(frozen=True)
class _Created:
    plan: _Planned
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


def _register_in_one_statement(
    *, parties: _Parties, planned: list[_Planned], conversion: ConversionInput, now, statement: str
) -> ConversionResult:
    """The claim, the usages, the rewards, the answer and the events in one call of the database
    function (its own transaction: a refusal by the tskey writes nothing more)."""
    customer, conversion_id = parties.customer, parties.conversion_id
    created = [_Created(plan=plan, code=f"av-{conversion_id}-{plan.number}") for plan in planned]
    rules = _paid_rules(planned)
    rewards = [
        {
            "rule": c.plan.rule.pk,
            "campaign": c.plan.rule.campaign_id,
            "customer": c.plan.who.pk,
            "amount": c.plan.amount,
            "review": c.plan.review_status,
            "review_until": now + timedelta(days=c.plan.rule.review_days) if c.plan.rule.review_days else None,
            "beneficiary": c.plan.beneficiary,
            "code": c.code,
        }
        for c in created
    ]
    answer = [[c.plan.rule.pk, c.line().stored()] for c in created] if conversion.tskey is not None else None
    events = []
    for rule_id, payload in _conversion_payloads(
        customer=customer, conversion=conversion, conversion_id=conversion_id, created=created, now=now
    ):
        events.append({"rule": rule_id, "event_id": uuid.uuid4(), "kind": EventKind.CONVERSION, "payload": payload})
    params = [
        conversion_id, customer.org_id, customer.pk, conversion.event_name, conversion.transaction_value,
        conversion.transaction_unit, conversion.extra_info, conversion.tskey, now,
        [rule.pk for rule in rules], [rule.per_user for rule in rules],
        _json(rewards), None if answer is None else _json(answer), _json(events),
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        claimed, paid, event_pks = cursor.fetchone()
    if not claimed:
        return _replayed(customer=customer, tskey=conversion.tskey)
    events_written(event_pks=list(event_pks or []))
    paid = set(paid or [])
    return ConversionResult(rewards=[c.line() for c in created if c.plan.rule.pk in paid])


def _json(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder)


def _register_stepwise(
    *, customer: Party, planned: list[_Planned], conversion: ConversionInput, now
) -> ConversionResult:
    """The same step by step, in one transaction: for other databases, and for coupons handed out
    at once (taken from the pools with SKIP LOCKED through ``coupons_disburse``)."""
    with transaction.atomic():
        conversion_id = _claim(customer=customer, conversion=conversion, now=now)
        if conversion_id is None:
            return _replayed(customer=customer, tskey=conversion.tskey)
        paid = {rule.pk for rule in _paid_rules(planned) if _usage_take(rule=rule, customer=customer)}
        rewards = [
            EarnedReward(
                org_id=customer.org_id,
                code=f"av-{conversion_id}-{plan.number}",
                campaign=plan.rule.campaign,
                customer_id=plan.who.pk,
                amount=plan.amount,
                earned_at=now,
                review_status=plan.review_status,
                review_until=now + timedelta(days=plan.rule.review_days) if plan.rule.review_days else None,
                beneficiary=plan.beneficiary,
                conversion_id=conversion_id,
                rule=plan.rule,
            )
            for plan in planned
            if plan.rule.pk in paid
        ]
        if rewards:
            EarnedReward.objects.bulk_create(rewards)
            coupons_hand_out(rewards=rewards, now=now)
        by_code = {reward.code: reward for reward in rewards}
        created = [
            _Created(plan=plan, code=code, coupon=by_code[code].coupon if by_code[code].coupon_id else None)
            for plan in planned
            if (code := f"av-{conversion_id}-{plan.number}") in by_code
        ]
        lines = [c.line() for c in created]
        if conversion.tskey is not None:
            ConversionEvent.objects.filter(pk=conversion_id).update(answer=[line.stored() for line in lines])
        payloads = _conversion_payloads(
            customer=customer, conversion=conversion, conversion_id=conversion_id, created=created, now=now
        )
        events_emit(events=[(customer.org_id, EventKind.CONVERSION, payload) for _, payload in payloads])
    return ConversionResult(rewards=lines)


def _usage_take(*, rule: CampaignRule, customer: Party) -> bool:
    """Count one more event of ``customer`` paid under ``rule``; False (nothing written) at its limit."""
    with connection.cursor() as cursor:
        cursor.execute(_USAGE_TAKE, [customer.org_id, rule.pk, customer.pk, rule.per_user])
        return cursor.fetchone() is not None


# --- events ---------------------------------------------------------------------------------------


def _conversion_payloads(
    *, customer: Party, conversion: ConversionInput, conversion_id: int, created: list[_Created], now
) -> list[tuple[int, dict]]:
    """One event per campaign that paid (a campaign has one rule per event name: per rule), with
    every reward created in exactly one: (rule id, payload)."""
    by_rule: dict[int, list[_Created]] = {}
    for c in created:
        by_rule.setdefault(c.plan.rule.pk, []).append(c)
    seen = {"id": conversion_id, "eventName": conversion.event_name, "extraInfo": conversion.extra_info}
    payloads = []
    for rule_id, group in by_rule.items():
        rewards = [
            reward_fields(
                code=c.code,
                rule_id=rule_id,
                beneficiary=c.plan.beneficiary,
                who=c.plan.who,
                campaign=c.plan.rule.campaign,
                amount=c.plan.amount,
                review_status=c.plan.review_status,
                redeemed=c.coupon is not None,
                earned_at=now,
                coupon=c.coupon,
                conversion=seen,
            )
            for c in group
        ]
        payload = {
            "conversion": {
                "id": conversion_id,
                "eventName": conversion.event_name,
                "extraInfo": conversion.extra_info,
                "transactionValue": conversion.transaction_value,
                "transactionUnit": conversion.transaction_unit,
                "tskey": conversion.tskey,
            },
            "customer": customer_ref(customer, user_key=True),
            "campaign": rewards[0]["campaign"],
            "rewards": rewards,
        }
        payloads.append((rule_id, payload))
    return payloads
