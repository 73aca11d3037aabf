"""registerconversionevent in one statement on PostgreSQL: the database function of wallets
migration 0015 (``sql.CONVERSION_CALL``), its own transaction, given what Python decides without
the user (``wallets.conversion_plan``); ``wallets.conversions`` runs the call step by step when
this declines it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from core.errors import DomainError
from events.outbox import events_written
from orgs.models import EventKind
from orgs.selectors import campaign_is_open, customer_key, growth_hack_named

from .conversion_plan import (
    SOMEONE,
    ConversionInput,
    ConversionResult,
    Created,
    Planned,
    answered,
    conversion_fields,
    conversion_seen,
    event_payload,
    reward_payload,
    rules_in_lock_order,
    rules_matching,
    sides_of,
    unknown_user,
    value_required,
)
from .models import CampaignRule
from .selectors import rules_for_event


def register_in_one_statement(
    *, org_id: int, kind: str, value: str, conversion: ConversionInput, statement: str
) -> ConversionResult | None:
    """The whole call in one call of the database function, its own transaction, when the checks
    after the user cannot refuse it but for the user's own part (blocked, or not in the segment of
    the campaign named: the function then writes nothing and this returns None, as it does when
    the call needs a step the function does not take)."""
    key = customer_key(kind=kind, value=value)
    prepared = _prepared_for(org_id=org_id, conversion=conversion) if key is not None else None
    if prepared is None:
        return None
    now = timezone.now()
    call = {
        "conversion": conversion_fields(conversion, conversion_id=0),
        "seen": conversion_seen(conversion, conversion_id=0),
        "earnedAt": now,
    }
    params = [
        org_id, key[0], str(key[1]), conversion.event_name, conversion.transaction_value,
        conversion.transaction_unit, conversion.extra_info, conversion.tskey, now, prepared.segment, prepared.sides,
        prepared.rule_ids, prepared.limits, prepared.events, _json(call),
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        outcome, lines, event_pks = cursor.fetchone()
    if outcome == "unknown":
        raise unknown_user(kind=kind, value=value)
    if outcome == "refused":
        return None
    events_written(event_pks=list(event_pks or []))
    return answered(json.loads(lines) if lines is not None else None, replayed=outcome == "replayed")


@dataclass(frozen=True)
class _Prepared:
    """What the function is given for a set of rules but the call's own values (``call`` above):
    the rule sides that may pay, with their answer lines and event rewards in the shapes of the
    step-by-step path (the parties' values, the conversion's and the moment left for the function
    to fill in), the rules' ids and limits in lock order, one event payload per rule, and the
    eligible segment of the campaign named (the user must be in it)."""

    rules: list[CampaignRule]  # the process's cached copy it was built from
    until: datetime | None  # the first end of one of their campaigns: what pays changes then
    segment: int | None
    sides: str
    rule_ids: list[int]
    limits: list[int]
    events: str


# Built once per process for each event name, filter and transaction value, and kept as long as
# the cached rules it was built from (``wallets.selectors.rules_for_event``).
_PREPARED: dict[tuple, _Prepared] = {}
_PREPARED_MAX = 512


def _prepared_for(*, org_id: int, conversion: ConversionInput) -> _Prepared | None:
    """None when the call may be refused by a check that does not depend on the user (its growth
    hack, its campaign, a transaction value it lacks: the user is checked first, step by step), or
    hands out coupons at once."""
    try:
        growth_hack = growth_hack_named(conversion.growth_hack) if conversion.growth_hack is not None else None
    except DomainError:
        return None
    rules = rules_for_event(org_id=org_id, event_name=conversion.event_name)
    key = (org_id, conversion.event_name.lower(), conversion.campaign_code, growth_hack, conversion.transaction_value)
    found = _PREPARED.get(key)
    if found is not None and found.rules is rules and (found.until is None or timezone.now() < found.until):
        return found
    prepared = _prepare(org_id=org_id, conversion=conversion, rules=rules, growth_hack=growth_hack)
    if prepared is not None:
        if len(_PREPARED) >= _PREPARED_MAX:
            _PREPARED.clear()
        _PREPARED[key] = prepared
    return prepared


def _prepare(
    *, org_id: int, conversion: ConversionInput, rules: list[CampaignRule], growth_hack: str | None
) -> _Prepared | None:
    campaign = None
    if conversion.campaign_code is not None:
        campaign = next((rule.campaign for rule in rules if rule.campaign.code == conversion.campaign_code), None)
        if campaign is None or not campaign_is_open(campaign=campaign):
            return None
    matching = rules_matching(org_id=org_id, conversion=conversion, campaign=campaign, growth_hack=growth_hack)
    if value_required(rules=matching, conversion=conversion):
        return None
    sides = sides_of(rules=matching, conversion=conversion)
    if any(side.hands_out_coupon() for side in sides):
        return None
    blank = ConversionInput(event_name="")  # the call's own values go in ``call``
    created = [Created(plan=Planned(0, side=side, who=SOMEONE), code="") for side in sides]
    rewards = [reward_payload(c, conversion=blank, conversion_id=0, now=None) for c in created]
    templates, events = [], {}
    for n, (c, reward) in enumerate(zip(created, rewards, strict=True), 1):
        rule = c.plan.rule
        templates.append(
            {
                "n": n, "rule": rule.pk, "campaign": rule.campaign_id, "segment": rule.campaign.eligible_segment_id,
                "beneficiary": c.plan.beneficiary, "amount": c.plan.amount, "review": c.plan.review_status,
                "review_days": rule.review_days, "line": c.line().stored(), "reward": reward,
            }
        )  # fmt: skip
        if rule.pk not in events:
            payload = event_payload(customer=SOMEONE, conversion=blank, conversion_id=0, rewards=[reward])
            events[rule.pk] = {"rule": rule.pk, "kind": EventKind.CONVERSION, "payload": payload}
    locked = rules_in_lock_order(side.rule for side in sides)
    now = timezone.now()
    ends = [rule.campaign.ends_at for rule in rules if rule.campaign.ends_at and rule.campaign.ends_at > now]
    return _Prepared(
        rules=rules,
        until=min(ends, default=None),
        segment=campaign and campaign.eligible_segment_id,
        sides=_json(templates),
        rule_ids=[rule.pk for rule in locked],
        limits=[rule.per_user for rule in locked],
        events=_json(list(events.values())),
    )


def _json(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder)
