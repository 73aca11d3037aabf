"""Conversion events (AppVirality ``registerconversionevent``): what a user did, paid at once by
the campaign rules that match it.

A conversion creates all its rewards in one transaction; its ``tskey`` is claimed by a unique
constraint (a concurrent repeat waits for the first and then answers what it answered); a rule's
``per_user`` limit is one upsert on ``RuleUsage`` that refuses past the limit (the row lock
serialises racers). Lock order: the tskey claim, rule usages in rule id order, then coupons
(``wallets.earning``). What a conversion pays is decided in ``wallets.conversion_plan``; on
PostgreSQL the whole call is usually one statement (``wallets.conversion_call``).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from core.errors import DomainError
from core.idempotency import keys_claim
from events.outbox import events_emit
from orgs.errors import NotEligible
from orgs.models import Customer, EventKind
from orgs.selectors import campaign_is_eligible, campaign_named, customer_key, customer_segment_ids, growth_hack_named

from . import sql
from .conversion_call import register_in_one_statement
from .conversion_plan import (
    ConversionInput,
    ConversionResult,
    Created,
    Parties,
    Party,
    Planned,
    RewardLine,
    answered,
    conversion_payloads,
    plan_of,
    rules_in_lock_order,
    rules_matching,
    sides_of,
    unknown_user,
    value_required,
)
from .earning import coupons_hand_out
from .errors import TransactionValueRequired
from .models import CampaignRule, ConversionEvent, EarnedReward

__all__ = ["ConversionInput", "ConversionResult", "RewardLine", "conversion_register"]


_USAGE_TAKE = """
    INSERT INTO wallets_ruleusage (org_id, rule_id, customer_id, count) VALUES (%s, %s, %s, 1)
    ON CONFLICT (rule_id, customer_id) DO UPDATE SET count = wallets_ruleusage.count + 1
     WHERE wallets_ruleusage.count < %s
    RETURNING count
"""


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

    On PostgreSQL a call is one round trip when what it pays is decided without the user but for
    the user's own part (``register_in_one_statement``): the database function of migration 0015
    finds the user and its referrer, keeps the rule sides that apply to them, claims the tskey,
    takes the rules' usages, writes the rewards, the answer and the events in its one transaction.
    A refusal, coupons handed out at once, and other databases go step by step
    (``_register_by_steps``), with the same outcome.
    """
    statement = sql.CONVERSION_CALL.get(connection.vendor)
    if statement is not None:
        done = register_in_one_statement(
            org_id=org_id, kind=kind, value=value, conversion=conversion, statement=statement
        )
        if done is not None:
            return done
    return _register_by_steps(org_id=org_id, kind=kind, value=value, conversion=conversion)


def _register_by_steps(*, org_id: int, kind: str, value: str, conversion: ConversionInput) -> ConversionResult:
    parties = _parties(org_id=org_id, kind=kind, value=value)
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
    planned = plan_of(parties=parties, sides=sides_of(rules=rules, conversion=conversion))
    return _register_stepwise(customer=customer, planned=planned, conversion=conversion, now=now)


def _parties(*, org_id: int, kind: str, value: str) -> Parties:
    """The user (``UnknownUserKey`` / ``UnknownUser`` if none) and its referrer, with their segments."""
    key = customer_key(kind=kind, value=value)
    found = Customer.objects.filter(org_id=org_id, **{key[0]: key[1]}).first() if key is not None else None
    if found is None:
        raise unknown_user(kind=kind, value=value)
    referrer = Customer.objects.filter(pk=found.referrer_id).first() if found.referrer_id else None
    return Parties(customer=_party(found), referrer=referrer and _party(referrer))


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
    rules = rules_matching(org_id=customer.org_id, conversion=conversion, campaign=campaign, growth_hack=growth_hack)
    if value_required(rules=rules, conversion=conversion):
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
    return answered(answer, replayed=True)


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


def _register_stepwise(
    *, customer: Party, planned: list[Planned], conversion: ConversionInput, now
) -> ConversionResult:
    """The same step by step, in one transaction: for other databases, and for coupons handed out
    at once (taken from the pools with SKIP LOCKED through ``coupons_disburse``)."""
    with transaction.atomic():
        conversion_id = _claim(customer=customer, conversion=conversion, now=now)
        if conversion_id is None:
            return _replayed(customer=customer, tskey=conversion.tskey)
        paid = {
            rule.pk
            for rule in rules_in_lock_order(p.rule for p in planned)
            if _usage_take(rule=rule, customer=customer)
        }
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
            Created(plan=plan, code=code, coupon=by_code[code].coupon if by_code[code].coupon_id else None)
            for plan in planned
            if (code := f"av-{conversion_id}-{plan.number}") in by_code
        ]
        lines = [c.line() for c in created]
        if conversion.tskey is not None:
            ConversionEvent.objects.filter(pk=conversion_id).update(answer=[line.stored() for line in lines])
        payloads = conversion_payloads(
            customer=customer, conversion=conversion, conversion_id=conversion_id, created=created, now=now
        )
        events_emit(events=[(customer.org_id, EventKind.CONVERSION, payload) for _, payload in payloads])
    return ConversionResult(rewards=lines)


def _usage_take(*, rule: CampaignRule, customer: Party) -> bool:
    """Count one more event of ``customer`` paid under ``rule``; False (nothing written) at its limit."""
    with connection.cursor() as cursor:
        cursor.execute(_USAGE_TAKE, [customer.org_id, rule.pk, customer.pk, rule.per_user])
        return cursor.fetchone() is not None
