"""Reversal of a Redeem Rewards call by staff (the back office's "Reverse this redemption")."""

from decimal import Decimal

from django.db import IntegrityError, transaction

from core.errors import AlreadyReversed, OperationRefused, staff_reason
from core.money import ZERO, to_money
from coupons.services import coupons_void_issued
from events.outbox import event_emit
from orgs.models import EventKind

from .errors import InsufficientBalance
from .models import LedgerEntry, RedemptionCall, RedemptionReversal, Wallet
from .redemption import reward_locked_redeemed, reward_unredeem, rewards_give_back
from .services import wallet_post


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
    rewards_give_back(org_id=call.org_id, customer_id=call.customer_id, taken=taken)
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
    if call.coupon_id is None or len(call.reward_codes) != 1:
        raise OperationRefused("this pool redemption recorded no coupon or reward")
    [code] = call.reward_codes
    reward = reward_locked_redeemed(org_id=call.org_id, customer_id=call.customer_id, code=code)
    voided = coupons_void_issued(org_id=call.org_id, holder_id=call.customer_id, coupon_ids=[call.coupon_id])
    if voided != 1:
        raise OperationRefused("the coupon is no longer issued to this customer")
    reward_unredeem(reward=reward)
    return None
