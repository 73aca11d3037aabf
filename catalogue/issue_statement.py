"""Issue Reward's one-statement path (PostgreSQL): a call of local rewards issued in ONE round trip.

``services._issue_together`` issues a call of local rewards in one transaction, step by step;
on PostgreSQL the same transaction is one call of the function ``catalogue_issue_local`` (kept in
``catalogue/migrations/0010_issue_local_set_based.py``), run in autocommit: the statement is the
transaction (``core.statements.statement_rows``). This module only prepares its input from what
the Python planner decides (``planner``: the issue rows, their events' payloads, the ledger
entries' references and memos; ``points``: isRedeemable per wallet; ``goods``: the refusals) and
turns its rows back into results. The function's steps and lock order are those of
``_issue_together``: requestIds, promotion holders, goods line by line, wallets in id order.

``None`` (nothing written) when the Python path must decide: a requestId another call holds, or
points spent meanwhile (SQLSTATE ``RWI01`` from the function). The Python path is also the
implementation where there is no such function (SQLite) or when ``ISSUE_ONE_STATEMENT`` is off;
the tests run both on PostgreSQL.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from core.statements import statement_rows
from events.outbox import events_written

from .errors import RewardNotIssued
from .goods import coupons_short, promotion_holders, promotion_limit_reached
from .models import CatalogueReward, RewardIssue
from .planner import CallContext, issue_payload, line_spec, reward_issue_build
from .points import issue_posting, points_by_wallet, points_reference
from .resolve import Line

FALLBACK_SQLSTATE = "RWI01"
_STATEMENT = "SELECT line, outcome, issue_id, coupon_codes, held, event_pk FROM catalogue_issue_local(%s::jsonb)"
_FILLED_BY_THE_STATEMENT = ("transactionId", "couponCodes")


def one_statement_available() -> bool:
    return connection.vendor == "postgresql" and settings.ISSUE_ONE_STATEMENT


def issue_local_together(
    todo: list[Line], lines: list[Line], ctx: CallContext
) -> dict[int, RewardIssue | RewardNotIssued] | None:
    """Issue ``todo`` (the call's lines that resolved; ``lines``: all of them, for isRedeemable) in
    one statement: {line index: its issue, or why it was not issued}, or None having written nothing."""
    if any(line.points > 0 and line.payer.wallet_id is None for line in todo):
        return None  # the Python path refuses it
    now = timezone.now()
    planned, rows, wallet_org = {}, [], {}
    keyed = sorted((line for line in todo if line.request_key is not None), key=lambda ln: (ln.org_id, ln.request_key))
    claim_of = {line.index: n for n, line in enumerate(keyed, start=1)}  # its place among the claims
    for line in todo:
        reference = points_reference()
        goods = {"promotion": line.reward.promotion} if line.reward.type == CatalogueReward.Type.CART_PROMOTION else {}
        spec = line_spec(line, ctx, claim_pk=None)
        issue = reward_issue_build(spec, reference=reference, goods=goods, line=line)
        issue.created_at = now
        planned[line.index] = issue
        posting = issue_posting(
            reward_id=line.reward.pk, quantity=line.item.quantity, points=line.points, reference=reference
        )
        event = issue_payload(issue, customer=line.payer.customer)
        for key in _FILLED_BY_THE_STATEMENT:
            del event[key]
        record = spec.record
        rows.append(
            {
                "line": line.index,
                "claim": claim_of.get(line.index),
                "type": line.reward.type,
                "org": line.org_id,
                "customer": issue.customer_id,
                "group": issue.group_id,
                "wallet": line.payer.wallet_id,
                "reward": issue.reward_id,
                "config": issue.payment_config_id,
                "pool": line.reward.coupon_pool_id,
                "promotion": line.reward.promotion_id,
                "max": line.reward.promotion.max_per_customer if line.reward.promotion_id is not None else None,
                "qty": issue.quantity,
                "req_qty": issue.requested_quantity,
                "points": issue.points,
                "value": issue.redemption_value,
                "ref": reference,
                "memo": posting.memo if posting is not None else "",
                "till": record["till_username"],
                "request_id": record["request_id"],
                "event_log_id": record["event_log_id"],
                "txn": record["transaction_number"],
                "notes": record["notes"],
                "brand": record["brand"],
                "custom_fields": record["custom_fields"],
                "fstatus": record["fulfillment_status"],
                "event": event,
            }
        )
        if line.payer.wallet_id is not None:
            wallet_org.setdefault(line.payer.wallet_id, line.org_id)
    needed = points_by_wallet(lines)
    wallets = [
        {"wallet": wallet_id, "org": wallet_org.get(wallet_id), "needed": needed.get(wallet_id)}
        for wallet_id in sorted(needed.keys() | {w for w, _ in _paying(todo)})
    ]
    call = {
        "now": now.isoformat(),
        "claims": [
            {
                "line": ln.index,
                "org": ln.org_id,
                "key": ln.request_key,
                "rid": ln.item.request_id,
                "hash": ln.payload_hash,
            }
            for ln in keyed
        ],
        "holders": promotion_holders(todo),
        "lines": rows,
        "wallets": wallets,
        "paid": {},  # filled in by migration 0008's function (the reverse of 0010 puts it back)
    }
    answer = statement_rows(_STATEMENT, [json.dumps(call, cls=DjangoJSONEncoder)], declined=FALLBACK_SQLSTATE)
    if answer is None:
        return None
    events_written(event_pks=[row[5] for row in answer if row[5] is not None])
    by_index = {line.index: line for line in todo}
    results = {}
    for index, outcome, issue_id, coupon_codes, held, _ in answer:
        line = by_index[index]
        if outcome == "ISSUED":
            issue = planned[index]
            issue.pk, issue.coupon_codes = (
                issue_id,
                json.loads(coupon_codes),
            )  # Django's psycopg hands jsonb back as text
            results[index] = issue
        elif outcome == "PROMOTION_LIMIT":
            results[index] = promotion_limit_reached(line, held=held)
        else:
            results[index] = coupons_short(line)
    return results


def _paying(todo: list[Line]):
    return [(line.payer.wallet_id, line) for line in todo if line.points > 0]
