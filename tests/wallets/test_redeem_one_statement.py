"""Redeem Rewards by amount and by pool as one statement (PostgreSQL's ``wallets_redeem_call``)
against the step-by-step path it stands in for (the one SQLite runs).

The contract tests (test_redeem_api.py, test_redeem_concurrency.py) run over both paths. Here:
a call that succeeds is one statement, and both paths leave the same books, call record, stored
answer and event for the same call; a call that would not succeed writes nothing in the
statement and is answered step by step.
"""

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from coupons.models import Coupon
from orgs.models import Campaign, Customer, CustomerSegment, OutboxEvent, Segment
from wallets.models import EarnedReward, IdempotencyKey, LedgerEntry, RedemptionCall, Wallet
from wallets.services import wallet_credit_customer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

URL = "/v2_0/redeemrewards"
KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}
O2 = 4000876
ASHA, RAVI = "ext_id98543198", "ext-ravi"


@pytest.fixture
def world(demo):
    """The demo, with credit wallets open (the first credit of a user opens it, step by step)."""
    for external_id in (ASHA, RAVI):
        wallet_credit_customer(
            customer=Customer.objects.get(org_id=O2, external_id=external_id),
            kind=Wallet.Kind.CREDITS,
            amount=Decimal("3.00"),
            entry_kind=LedgerEntry.Kind.OPENING,
        )


def post(client, body: dict, **headers) -> tuple[int, dict]:
    response = client.post(URL, data=json.dumps(body), content_type="application/json", headers=headers)
    return response.status_code, response.json()


def statements_of(client, body: dict, **headers) -> tuple[list[str], dict]:
    identifiers = ("userkey", "UserIdInstore", "EmailId")
    warm = {key: value for key, value in body.items() if key not in identifiers}
    post(client, {**warm, "UserIdInstore": "nobody"})  # the credentials and the pool cached, as on a server
    with CaptureQueriesContext(connection) as queries:
        _, answer = post(client, body, **headers)
    # The test's own transaction makes the statement run in a savepoint (core.statements); on a
    # server, in autocommit, there is none: the savepoint's two statements are not the call's.
    sent = [query["sql"] for query in queries.captured_queries]
    return [sql for sql in sent if not re.match(r"(RELEASE )?SAVEPOINT ", sql)], answer


def state(call_count: int) -> dict:
    """What the last ``call_count`` calls left, without the ids and references that differ."""
    calls = list(RedemptionCall.objects.order_by("-id")[:call_count])[::-1]
    events = list(OutboxEvent.objects.filter(kind="redemption").order_by("-id")[:call_count])[::-1]

    def scrub(payload: dict) -> dict:
        return {k: v for k, v in payload.items() if k not in ("ledgerEntry", "reference")}

    return {
        "calls": [
            (
                c.customer_id,
                c.mode,
                c.user_identifier,
                c.request_summary,
                c.status_code,
                c.http_status,
                c.response,
                c.amount,
                c.reward_codes,
                c.reward_amounts,
                c.coupon.code if c.coupon else None,
                (c.ledger_entry.delta, c.ledger_entry.balance_after, c.ledger_entry.kind, c.ledger_entry.memo)
                if c.ledger_entry
                else None,
                c.ledger_entry.reference == f"appvirality-redeem:{c.reference.hex}" if c.ledger_entry else None,
                c.idempotency_key,
                c.replayed,
            )
            for c in calls
        ],
        "events": [scrub(e.payload) for e in events],
        "rewards": list(EarnedReward.objects.order_by("id").values_list("code", "status", "redeemed_amount")),
        "redeemed_at_set": list(EarnedReward.objects.order_by("id").values_list("redeemed_at", flat=True)),
        "coupons": list(Coupon.objects.filter(status="ISSUED").order_by("id").values_list("code", "holder_id")),
        "wallets": list(Wallet.objects.order_by("id").values_list("id", "balance")),
        "keys": list(IdempotencyKey.objects.order_by("key").values_list("key", "http_status", "response")),
    }


def both_paths(client, settings, calls: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    """The same calls on each path, from the same state (each in a savepoint rolled back)."""
    seen = {}
    for one_statement in (True, False):
        settings.REDEEM_ONE_STATEMENT = one_statement
        with transaction.atomic():
            answers = [post(client, body, **headers) for body, headers in calls]
            seen[one_statement] = {"answers": answers, **state(len(calls))}
            seen[one_statement]["redeemed_at_set"] = [at is not None for at in seen[one_statement]["redeemed_at_set"]]
            transaction.set_rollback(True)
    return seen[True], seen[False]


class TestOneStatement:
    @pytest.mark.parametrize(
        "body",
        [
            {**KEYS, "UserIdInstore": ASHA, "amount": "12.50"},
            {**KEYS, "EmailId": "Asha@Example.com", "poolId": 531},
            {**KEYS, "userkey": "2d0f2c8e-7c7e-4a57-9c43-5f3f6b1f0a11", "amount": "1"},
        ],
        ids=["by amount", "by pool", "by user key"],
    )
    def test_a_call_that_succeeds_is_one_statement(self, client, world, body):
        statements, answer = statements_of(client, body, **{"Idempotency-Key": "one-trip"})
        assert answer["statuscode"] == 1
        assert len(statements) == 1 and "wallets_redeem_call" in statements[0]

    def test_a_call_with_a_filter_or_by_ids_runs_step_by_step(self, client, world):
        for body in (
            {**KEYS, "UserIdInstore": ASHA, "amount": "1", "campaignId": "refer-a-friend"},
            {**KEYS, "UserIdInstore": ASHA, "amount": "1", "growthHack": "Word_of_Mouth"},
            {**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"]},
        ):
            statements, answer = statements_of(client, body)
            assert answer["statuscode"] == 1
            assert not any("wallets_redeem_call" in sql for sql in statements)

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({**KEYS, "UserIdInstore": "nobody", "amount": "1"}, 5),
            ({**KEYS, "UserIdInstore": ASHA, "amount": "25.01"}, 104),
            ({**KEYS, "UserIdInstore": RAVI, "poolId": 531}, 43),
        ],
    )
    @pytest.mark.parametrize("key", [None, "k-refused"], ids=["without a key", "with a key"])
    def test_a_call_that_would_not_succeed_writes_nothing_in_the_statement(self, client, world, body, code, key):
        # with a key, the statement claims it first and then gives up (RWR01), which undoes the claim
        statements, answer = statements_of(client, body, **({"Idempotency-Key": key} if key else {}))
        assert answer["statuscode"] == code
        assert "wallets_redeem_call" in statements[0]  # tried, gave no row, then step by step
        assert len(statements) > 1
        assert RedemptionCall.objects.order_by("-id").first().status_code == code
        if key:
            assert IdempotencyKey.objects.get(key=key).response["statuscode"] == code


class TestSameAsStepByStep:
    def test_by_amount_across_rewards_with_a_key_and_its_replay(self, client, settings, world):
        calls = [
            ({**KEYS, "UserIdInstore": ASHA, "amount": "12.50"}, {"Idempotency-Key": "k-1"}),
            ({**KEYS, "UserIdInstore": ASHA, "amount": "12.50"}, {"Idempotency-Key": "k-1"}),
            ({**KEYS, "EmailId": "ASHA@example.com", "amount": "12.50"}, {}),
            ({**KEYS, "UserIdInstore": ASHA, "amount": "0.01"}, {}),
        ]  # 25.00 to redeem: 12.50 (replayed once), 12.50, then nothing left
        fast, stepwise = both_paths(client, settings, calls)
        assert [a[1]["statuscode"] for a in fast["answers"]] == [1, 1, 1, 43]
        assert fast == stepwise

    def test_by_amount_leaves_out_campaigns_the_user_may_not_redeem(self, client, settings, world):
        # Ravi (SILVER) has rd-1003 (7.50, open to all) and rd-3001 (5.00, GOLD only)
        calls = [({**KEYS, "UserIdInstore": RAVI, "amount": "7.50"}, {})]
        fast, stepwise = both_paths(client, settings, calls)
        assert fast["answers"][0][1]["statuscode"] == 1
        assert fast == stepwise
        CustomerSegment.objects.create(
            org_id=O2,
            customer=Customer.objects.get(org_id=O2, external_id=RAVI),
            segment=Segment.objects.get(pk=Campaign.objects.get(code="gold-only").eligible_segment_id),
        )
        calls = [({**KEYS, "UserIdInstore": RAVI, "amount": "12.50"}, {})]
        fast, stepwise = both_paths(client, settings, calls)
        assert fast["answers"][0][1]["statuscode"] == 1
        assert fast == stepwise

    def test_by_amount_with_a_wallet_reward_without_an_amount(self, client, settings, world):
        # step by step, it gives nothing and is redeemed with the others; the statement leaves it to that path
        EarnedReward.objects.filter(code="rd-1001").update(amount=None)
        calls = [({**KEYS, "UserIdInstore": ASHA, "amount": "12.50"}, {"Idempotency-Key": "k-3"})]
        fast, stepwise = both_paths(client, settings, calls)
        assert fast["answers"][0][1]["redeemed"]["rewarddtlids"] == ["rd-1001", "rd-1002"]
        assert fast == stepwise

    def test_by_pool_with_an_expiry_and_a_key(self, client, settings, world):
        expiry = datetime.now(UTC) + timedelta(days=30, microseconds=1234)
        Coupon.objects.filter(pool_id=531).update(expires_at=expiry)
        calls = [
            ({**KEYS, "UserIdInstore": ASHA, "poolId": "531"}, {"Idempotency-Key": "k-2"}),
            ({**KEYS, "UserIdInstore": ASHA, "poolId": "531"}, {"Idempotency-Key": "k-2"}),
            ({**KEYS, "UserIdInstore": ASHA, "poolId": "531"}, {}),
        ]
        fast, stepwise = both_paths(client, settings, calls)
        assert [a[1]["statuscode"] for a in fast["answers"]] == [1, 1, 43]
        assert fast["answers"][0][1]["coupon"]["expiresAt"] == expiry.isoformat()
        assert fast == stepwise

    def test_by_pool_on_the_hour_and_for_a_blocked_user(self, client, settings, world):
        Coupon.objects.filter(pool_id=531).update(expires_at=datetime(2099, 1, 1, tzinfo=UTC))
        fast, stepwise = both_paths(client, settings, [({**KEYS, "UserIdInstore": ASHA, "poolId": 531}, {})])
        assert fast["answers"][0][1]["coupon"]["expiresAt"] == "2099-01-01T00:00:00+00:00"
        assert fast == stepwise
        Customer.objects.filter(org_id=O2, external_id=ASHA).update(blocked=True)
        fast, stepwise = both_paths(client, settings, [({**KEYS, "UserIdInstore": ASHA, "poolId": 531}, {})])
        assert fast["answers"][0][1]["statuscode"] == 69
        assert fast == stepwise
