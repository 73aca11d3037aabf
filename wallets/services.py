"""Writes to wallets. The only place a balance changes: one ledger entry per change."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.money import ZERO, to_money
from core.transactions import joined_transaction
from events.outbox import customer_ref, event_emit
from orgs.errors import (
    AlreadyRedeemed,
    AlreadyReversed,
    AmountTooLarge,
    InsufficientBalance,
    ModeMismatch,
    NotEligible,
    NothingToRedeem,
    OperationRefused,
    RewardsNotFound,
)
from orgs.models import Campaign, Customer, CustomerGroup, EventKind
from orgs.selectors import campaign_is_eligible, customer_segment_ids

from .models import (
    EarnedReward,
    IdempotencyKey,
    LedgerEntry,
    RedemptionCall,
    RedemptionReversal,
    Wallet,
    WalletAdjustment,
)

# One statement applies a delta, takes the wallet's row lock and refuses to go below zero.
_APPLY_DELTA = {
    "postgresql": (
        "UPDATE wallets_wallet SET balance = balance + %(delta)s "
        "WHERE {target} AND balance + %(delta)s >= 0 RETURNING id, balance"
    ),
    # SQLite keeps numeric values as binary floats: round back to cents at every step.
    "sqlite": (
        "UPDATE wallets_wallet SET balance = ROUND(balance + %(delta)s, 2) "
        "WHERE {target} AND ROUND(balance + %(delta)s, 2) >= 0 RETURNING id, balance"
    ),
}
_BY_ID = "id = %(wallet)s AND org_id = %(org)s"
_BY_CUSTOMER = "org_id = %(org)s AND kind = %(kind)s AND customer_id = %(customer)s"


def wallet_get_or_create(*, kind: str, customer: Customer | None = None, group: CustomerGroup | None = None) -> Wallet:
    owner = customer or group
    wallet, _ = Wallet.objects.get_or_create(org_id=owner.org_id, kind=kind, customer=customer, group=group)
    return wallet


def _money_delta(delta) -> Decimal:
    delta = to_money(delta)
    if not delta:
        raise ValueError("a ledger entry must move a non-zero amount")
    return delta


def _apply_delta(target: str, params: dict) -> tuple[int, Decimal] | None:
    with connection.cursor() as cursor:
        cursor.execute(_APPLY_DELTA[connection.vendor].format(target=target), params)
        row = cursor.fetchone()
    if row is None:
        return None
    return row[0], Decimal(str(row[1])).quantize(Decimal("0.01"))


def _entry(*, wallet_id: int, org_id: int, delta: Decimal, balance_after: Decimal, **fields) -> LedgerEntry:
    return LedgerEntry.objects.create(
        org_id=org_id, wallet_id=wallet_id, delta=delta, balance_after=balance_after, **fields
    )


@joined_transaction()
def wallet_post(*, wallet: Wallet, delta: Decimal, kind: str, reference: str = "", memo: str = "") -> LedgerEntry:
    """Change ``wallet``'s balance by ``delta`` and record the ledger entry, atomically.

    The balance update takes the wallet's row lock and refuses to go below zero
    in the same statement (the CHECK constraint is the backstop). Raises
    ``InsufficientBalance`` for a debit the wallet cannot cover, having written
    nothing: the caller's transaction stays usable (no savepoint needed).
    """
    delta = _money_delta(delta)
    applied = _apply_delta(_BY_ID, {"delta": delta, "wallet": wallet.pk, "org": wallet.org_id})
    if applied is None:
        raise InsufficientBalance(wallet_id=wallet.pk, delta=delta)
    wallet.balance = applied[1]
    return _entry(
        wallet_id=wallet.pk,
        org_id=wallet.org_id,
        delta=delta,
        balance_after=applied[1],
        kind=kind,
        reference=reference,
        memo=memo,
    )


@dataclass(frozen=True)
class Posting:
    """One ledger entry of ``wallet_post_many``."""

    delta: Decimal
    kind: str
    reference: str = ""
    memo: str = ""


# PostgreSQL: the balance update and every entry in one statement. The entries' balance_after
# run up to the new balance in the given order (``later`` is the sum of the deltas after each).
_POST_MANY_SQL = """
WITH moved AS (
    UPDATE wallets_wallet SET balance = balance + %s
     WHERE id = %s AND org_id = %s AND balance + %s >= 0
    RETURNING id, org_id, balance
)
INSERT INTO wallets_ledgerentry (org_id, wallet_id, delta, balance_after, kind, reference, memo, created_at)
SELECT moved.org_id, moved.id, p.delta, moved.balance - p.later, p.kind, p.reference, p.memo, %s
  FROM moved, (VALUES {rows}) AS p(ord, delta, later, kind, reference, memo)
 ORDER BY p.ord
RETURNING id, balance_after
"""


@joined_transaction()
def wallet_post_many(*, wallet: Wallet, postings: list[Posting]) -> list[LedgerEntry]:
    """Several entries on one wallet, all or none: one ledger entry per posting, in order.

    The deltas must all have the same sign, so no running balance dips below the final one.
    On PostgreSQL this is one statement (one balance update, one row lock); it raises
    ``InsufficientBalance`` for debits the wallet cannot cover, having written nothing.
    """
    deltas = [_money_delta(posting.delta) for posting in postings]
    if len({delta > 0 for delta in deltas}) > 1:
        raise ValueError("wallet_post_many takes credits or debits, not both")
    if connection.vendor != "postgresql":
        with transaction.atomic():  # SQLite's per-row triggers want one update per entry
            return [
                wallet_post(wallet=wallet, delta=d, kind=p.kind, reference=p.reference, memo=p.memo)
                for d, p in zip(deltas, postings, strict=True)
            ]
    total = sum(deltas, ZERO)
    rows, params, later = [], [], total
    for order, (delta, posting) in enumerate(zip(deltas, postings, strict=True)):
        later -= delta
        rows.append("(%s::int, %s::numeric, %s::numeric, %s::varchar, %s::varchar, %s::varchar)")
        params += [order, delta, later, posting.kind, posting.reference, posting.memo]
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _POST_MANY_SQL.format(rows=", ".join(rows)),
            [total, wallet.pk, wallet.org_id, total, now, *params],
        )
        written = sorted(cursor.fetchall())  # ids follow the postings' order
    if not written:
        raise InsufficientBalance(wallet_id=wallet.pk, delta=total)
    wallet.balance = written[-1][1]
    return [
        LedgerEntry(
            id=pk,
            org_id=wallet.org_id,
            wallet_id=wallet.pk,
            delta=delta,
            balance_after=after,
            kind=posting.kind,
            reference=posting.reference,
            memo=posting.memo,
            created_at=now,
        )  # fmt: skip
        for (pk, after), delta, posting in zip(written, deltas, postings, strict=True)
    ]


@joined_transaction()
def wallet_credit_customer(
    *, customer: Customer, kind: str, amount: Decimal, entry_kind: str, reference: str = "", memo: str = ""
) -> LedgerEntry:
    """Credit the customer's wallet of ``kind``, opening it on first use.

    One statement when the wallet exists (no read of the wallet first).
    """
    amount = _money_delta(amount)
    if amount < 0:
        raise ValueError("a credit must be positive")
    params = {"delta": amount, "org": customer.org_id, "kind": kind, "customer": customer.pk}
    applied = _apply_delta(_BY_CUSTOMER, params)
    if applied is None:
        wallet = wallet_get_or_create(kind=kind, customer=customer)
        return wallet_post(wallet=wallet, delta=amount, kind=entry_kind, reference=reference, memo=memo)
    return _entry(
        wallet_id=applied[0],
        org_id=customer.org_id,
        delta=amount,
        balance_after=applied[1],
        kind=entry_kind,
        reference=reference,
        memo=memo,
    )


# --- Redemption of earned rewards into the credit wallet (AppVirality Redeem Rewards) ----------


@dataclass(frozen=True)
class Redemption:
    amount: Decimal
    reward_codes: list[str]
    ledger_entry: LedgerEntry
    taken: dict[str, Decimal]  # code -> amount taken from that reward by this redemption

    @property
    def balance(self) -> Decimal:
        return self.ledger_entry.balance_after


def _campaign_filter(*, customer: Customer, campaign: Campaign | None, growth_hack: str | None) -> Q:
    """The rewards a call may touch: this user's approved ones (under review, rejected or
    suspicious rewards are not there for a redemption), narrowed by campaign and growth hack."""
    condition = Q(org_id=customer.org_id, customer_id=customer.pk, review_status=EarnedReward.Review.APPROVED)
    if campaign is not None:
        condition &= Q(campaign_id=campaign.pk)
    if growth_hack is not None:
        condition &= Q(campaign__growth_hack=growth_hack)
    return condition


def _require_eligible(*, customer: Customer, campaigns) -> None:
    segment_ids = None
    for campaign in campaigns:
        if campaign.eligible_segment_id is not None and segment_ids is None:
            segment_ids = customer_segment_ids(customer=customer)
        if not campaign_is_eligible(campaign=campaign, customer=customer, segment_ids=segment_ids):
            raise NotEligible(campaign=campaign.code)


def _require_not_blocked(customer: Customer) -> None:
    """A blocked user is eligible for no campaign: 69 in every mode, not "nothing to redeem"."""
    if customer.blocked:
        raise NotEligible(blocked=True)


def _locked_rewards(condition: Q):
    return (
        EarnedReward.objects.select_for_update(of=("self",))
        .select_related("campaign")
        .filter(condition)
        .order_by("earned_at", "id")
    )


def _credit(
    *, customer: Customer, rewards: list[EarnedReward], taken: dict[str, Decimal], amount: Decimal, reference: str
) -> Redemption:
    if len(rewards) == 1:
        [reward] = rewards
        EarnedReward.objects.filter(pk=reward.pk).update(
            redeemed_amount=reward.redeemed_amount, status=reward.status, redeemed_at=reward.redeemed_at
        )
    else:
        EarnedReward.objects.bulk_update(rewards, ["redeemed_amount", "status", "redeemed_at"])
    codes = [reward.code for reward in rewards]
    entry = wallet_credit_customer(
        customer=customer,
        kind=Wallet.Kind.CREDITS,
        amount=amount,
        entry_kind=LedgerEntry.Kind.REDEMPTION,
        reference=reference,
        memo=("rewards " + ", ".join(codes))[:255],
    )
    event_emit(org_id=customer.org_id, kind=EventKind.REDEMPTION, payload=_redemption_event(customer, codes, entry))
    return Redemption(amount=amount, reward_codes=codes, ledger_entry=entry, taken=taken)


def _redemption_event(customer: Customer, codes: list[str], entry: LedgerEntry) -> dict:
    return {
        "customer": customer_ref(customer, user_key=True),
        "amount": entry.delta,
        "rewardCodes": codes,
        "wallet": {"id": entry.wallet_id, "kind": Wallet.Kind.CREDITS, "balance": entry.balance_after},
        "ledgerEntry": entry.pk,
        "reference": entry.reference,
    }


@joined_transaction()
def rewards_redeem_by_ids(
    *,
    customer: Customer,
    codes: list[str],
    campaign: Campaign | None = None,
    growth_hack: str | None = None,
    reference: str = "",
) -> Redemption:
    """Redeem the named earned rewards (all or none) into the user's credit wallet.

    Checks, in the contract's order: eligibility of every campaign involved,
    that they are wallet-type rewards, that every id is this user's (after the
    filters), that none is redeemed already. Locks the rewards in id order.
    """
    codes = list(dict.fromkeys(codes))
    _require_not_blocked(customer)
    if campaign is not None:
        _require_eligible(customer=customer, campaigns=[campaign])
    rewards = list(
        _locked_rewards(
            _campaign_filter(customer=customer, campaign=campaign, growth_hack=growth_hack) & Q(code__in=codes)
        )
    )
    _require_eligible(customer=customer, campaigns={reward.campaign for reward in rewards})
    if any(reward.campaign.reward_type != Campaign.RewardType.WALLET for reward in rewards):
        raise ModeMismatch()
    if len(rewards) < len(codes):
        raise RewardsNotFound(missing=sorted(set(codes) - {reward.code for reward in rewards}))
    if any(reward.status == EarnedReward.Status.REDEEMED for reward in rewards):
        raise AlreadyRedeemed(codes=[reward.code for reward in rewards if reward.status == "REDEEMED"])
    now = timezone.now()
    taken = {reward.code: reward.remaining for reward in rewards}
    amount = sum(taken.values(), ZERO)
    for reward in rewards:
        reward.redeemed_amount, reward.status, reward.redeemed_at = reward.amount, EarnedReward.Status.REDEEMED, now
    return _credit(customer=customer, rewards=rewards, taken=taken, amount=amount, reference=reference)


@joined_transaction()
def rewards_redeem_by_amount(
    *,
    customer: Customer,
    amount: Decimal,
    campaign: Campaign | None = None,
    growth_hack: str | None = None,
    reference: str = "",
) -> Redemption:
    """Credit exactly ``amount``, consuming the user's unredeemed wallet rewards oldest first.

    The last reward consumed may be consumed in part and keeps its remainder.
    Without a campaign, rewards of campaigns the user is not eligible for are
    left out; with one, an ineligible campaign is refused.
    """
    amount = to_money(amount)
    _require_not_blocked(customer)
    if campaign is not None:
        _require_eligible(customer=customer, campaigns=[campaign])
        if campaign.reward_type != Campaign.RewardType.WALLET:
            raise ModeMismatch()
    condition = _campaign_filter(customer=customer, campaign=campaign, growth_hack=growth_hack) & Q(
        status=EarnedReward.Status.UNREDEEMED, campaign__reward_type=Campaign.RewardType.WALLET
    )
    rewards = list(_locked_rewards(condition))
    if campaign is None:
        needs_segments = any(reward.campaign.eligible_segment_id is not None for reward in rewards)
        segment_ids = customer_segment_ids(customer=customer) if needs_segments else set()
        rewards = [
            reward
            for reward in rewards
            if campaign_is_eligible(campaign=reward.campaign, customer=customer, segment_ids=segment_ids)
        ]
    available = sum((reward.remaining for reward in rewards), ZERO)
    if not available:
        raise NothingToRedeem()
    if amount > available:
        raise AmountTooLarge(requested=amount, available=available)
    now, left, consumed, taken = timezone.now(), amount, [], {}
    for reward in rewards:
        if not left:
            break
        take = min(left, reward.remaining)
        reward.redeemed_amount += take
        left -= take
        if reward.remaining == 0:
            reward.status, reward.redeemed_at = EarnedReward.Status.REDEEMED, now
        consumed.append(reward)
        taken[reward.code] = take
    return _credit(customer=customer, rewards=consumed, taken=taken, amount=amount, reference=reference)


# --- Idempotency-Key store and call records ------------------------------------------------------

IDEMPOTENCY_TTL = timedelta(hours=24)

_CLAIM = """
    INSERT INTO wallets_idempotencykey (org_id, "key", body_digest, created_at)
    VALUES (%(org)s, %(key)s, %(digest)s, %(now)s)
    ON CONFLICT (org_id, "key") DO UPDATE
       SET body_digest = EXCLUDED.body_digest, created_at = EXCLUDED.created_at, http_status = NULL, response = NULL
     WHERE wallets_idempotencykey.created_at < %(expired)s
    RETURNING id
"""


def idempotency_claim(*, org_id: int, key: str, body_digest: str) -> tuple[int | None, IdempotencyKey | None]:
    """Claim ``key`` for the current transaction: ``(id, None)`` when this call goes ahead,
    ``(None, earlier)`` when an earlier call (within 24 hours) owns it.

    A concurrent call with the same key waits on the unique index until the
    first commits, then sees its stored answer: the same key runs once.
    """
    now = timezone.now()
    params = {
        "org": org_id,
        "key": key,
        "digest": body_digest,
        "now": connection.ops.adapt_datetimefield_value(now),
        "expired": connection.ops.adapt_datetimefield_value(now - IDEMPOTENCY_TTL),
    }
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, params)
        row = cursor.fetchone()
    if row is not None:
        return row[0], None
    return None, IdempotencyKey.objects.get(org_id=org_id, key=key)


def idempotency_store(*, claim_id: int, http_status: int, response: dict) -> None:
    IdempotencyKey.objects.filter(pk=claim_id).update(http_status=http_status, response=response)


def redemption_call_record(**fields) -> RedemptionCall:
    return RedemptionCall.objects.create(**fields)


# --- Back office: manual adjustments and reversals by staff ---------------------------------------


def staff_reason(reason: str) -> str:
    """The reason a staff operation (reversal, revocation, adjustment) must give, trimmed."""
    reason = (reason or "").strip()
    if not reason:
        raise OperationRefused("a reason is required")
    return reason


def wallet_adjust(*, wallet_id: int, delta: Decimal, reason: str, staff_user) -> WalletAdjustment:
    """Credit (``delta > 0``) or debit (``delta < 0``) a wallet by hand: one ledger entry
    (ADJUSTMENT) and its ``WalletAdjustment`` record, in one transaction.

    A debit the wallet cannot cover is refused (``OperationRefused``), as is a zero
    amount or a missing reason; nothing is written then.
    """
    reason = staff_reason(reason)
    try:
        delta = to_money(delta)
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise OperationRefused(f"not an amount: {delta!r}") from exc
    if not delta:
        raise OperationRefused("the amount must not be zero")
    with transaction.atomic():
        wallet = Wallet.objects.filter(pk=wallet_id).first()
        if wallet is None:
            raise OperationRefused(f"no wallet {wallet_id}")
        try:
            entry = wallet_post(
                wallet=wallet,
                delta=delta,
                kind=LedgerEntry.Kind.ADJUSTMENT,
                reference=f"adjustment:{staff_user.get_username()}"[:64],
                memo=reason[:255],
            )
        except InsufficientBalance as exc:
            raise OperationRefused(
                f"the wallet holds {wallet.balance} (at most that can be debited), not {-delta}"
            ) from exc
        adjustment = WalletAdjustment.objects.create(
            org_id=wallet.org_id,
            wallet=wallet,
            delta=delta,
            reason=reason,
            staff_user=staff_user,
            staff_username=staff_user.get_username(),
            ledger_entry=entry,
        )
        payload = {
            "adjustmentId": adjustment.pk,
            "wallet": {"id": wallet.pk, "kind": wallet.kind, "balance": wallet.balance},
            "customerId": wallet.customer_id,
            "groupId": wallet.group_id,
            "delta": delta,
            "ledgerEntry": entry.pk,
            "reason": reason,
            "staff": staff_user.get_username(),
        }
        event_emit(org_id=wallet.org_id, kind=EventKind.ADJUSTMENT, payload=payload)
        return adjustment


def redemption_reverse(*, redemption_call_id: int, reason: str, staff_user) -> RedemptionReversal:
    """Undo a successful Redeem Rewards call, in one transaction.

    IDS / AMOUNT: each earned reward gets back what this call took from it (UNREDEEMED again),
    and the credits are taken back from the wallet (a REVERSAL ledger entry); refused if the
    wallet no longer holds them (spent meanwhile). POOL: the coupon is voided and the reward
    that bought it is UNREDEEMED again. Refused for failed or replayed calls. Reversing twice is
    impossible: the call's row is locked first and ``RedemptionReversal.redemption_call`` is unique.

    Locks in the redemption's own order (rewards by earned_at, id, then the wallet), so a
    reversal and a new redemption of the same rewards cannot deadlock.
    """
    reason = staff_reason(reason)
    with transaction.atomic():
        call = RedemptionCall.objects.select_for_update(of=("self",)).filter(pk=redemption_call_id).first()
        if call is None:
            raise OperationRefused(f"no redemption call {redemption_call_id}")
        if call.status_code != 1 or call.replayed or call.customer_id is None:
            raise OperationRefused("only a successful, first-time redemption can be reversed")
        if RedemptionReversal.objects.filter(redemption_call_id=call.pk).exists():
            raise AlreadyReversed(f"redemption call {call.pk} has been reversed already")
        if call.mode == RedemptionCall.Mode.POOL:
            amount, entry = None, _reverse_pool(call)
        else:
            amount, entry = _reverse_credits(call)
        try:
            with transaction.atomic():
                reversal = RedemptionReversal.objects.create(
                    org_id=call.org_id,
                    redemption_call=call,
                    reason=reason,
                    staff_user=staff_user,
                    staff_username=staff_user.get_username(),
                    amount=amount,
                    ledger_entry=entry,
                )
        except IntegrityError as exc:  # the unique constraint: someone reversed it meanwhile
            raise AlreadyReversed(f"redemption call {call.pk} has been reversed already") from exc
        payload = {
            "of": "redemption",
            "reversalId": reversal.pk,
            "redemptionCallId": call.pk,
            "reference": str(call.reference),
            "mode": call.mode,
            "customerId": call.customer_id,
            "rewardCodes": call.reward_codes,
            "amount": amount,
            "couponId": call.coupon_id if call.mode == RedemptionCall.Mode.POOL else None,
            "ledgerEntry": entry.pk if entry is not None else None,
            "reason": reason,
            "staff": staff_user.get_username(),
        }
        event_emit(org_id=call.org_id, kind=EventKind.REVERSAL, payload=payload)
        return reversal


def _reverse_credits(call: RedemptionCall) -> tuple[Decimal, LedgerEntry]:
    taken = {code: to_money(amount) for code, amount in (call.reward_amounts or {}).items()}
    if not taken or call.ledger_entry_id is None or call.amount is None:
        raise OperationRefused("this call recorded no per-reward amounts or ledger entry: it cannot be reversed here")
    if sum(taken.values(), ZERO) != call.amount:
        raise OperationRefused("the call's per-reward amounts do not add up to its amount")
    rewards = list(_locked_rewards(Q(org_id=call.org_id, customer_id=call.customer_id, code__in=list(taken))))
    if len(rewards) != len(taken):
        raise OperationRefused("some of the call's earned rewards no longer exist")
    for reward in rewards:
        back = taken[reward.code]
        if reward.redeemed_amount < back:
            raise OperationRefused(f"reward {reward.code} has only {reward.redeemed_amount} redeemed, not {back}")
        reward.redeemed_amount -= back
        reward.status, reward.redeemed_at = EarnedReward.Status.UNREDEEMED, None
    EarnedReward.objects.bulk_update(rewards, ["redeemed_amount", "status", "redeemed_at"])
    wallet = Wallet.objects.get(pk=LedgerEntry.objects.values_list("wallet_id", flat=True).get(pk=call.ledger_entry_id))
    try:
        entry = wallet_post(
            wallet=wallet,
            delta=-call.amount,
            kind=LedgerEntry.Kind.REVERSAL,
            reference=f"reversal:{call.reference.hex}",
            memo=("rewards " + ", ".join(taken))[:255],
        )
    except InsufficientBalance as exc:
        raise OperationRefused(
            f"the credits were already spent: the wallet holds {wallet.balance}, the redemption credited {call.amount}"
        ) from exc
    return call.amount, entry


def _reverse_pool(call: RedemptionCall) -> None:
    from coupons.models import Coupon

    if call.coupon_id is None or len(call.reward_codes) != 1:
        raise OperationRefused("this pool redemption recorded no coupon or reward")
    [code] = call.reward_codes
    reward = _locked_rewards(Q(org_id=call.org_id, customer_id=call.customer_id, code=code)).first()
    if reward is None or reward.status != EarnedReward.Status.REDEEMED:
        raise OperationRefused(f"reward {code} is not redeemed")
    voided = Coupon.objects.filter(
        pk=call.coupon_id, org_id=call.org_id, holder_id=call.customer_id, status=Coupon.Status.ISSUED
    ).update(status=Coupon.Status.VOID)
    if voided != 1:
        raise OperationRefused("the coupon is no longer issued to this customer")
    EarnedReward.objects.filter(pk=reward.pk).update(status=EarnedReward.Status.UNREDEEMED, redeemed_at=None)
    return None
