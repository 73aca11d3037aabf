"""Step 2 of an issue call and its payment: *isRedeemable* (the points of all rewards, summed per
paying wallet, must be there: checked on the balances read in step 1, then again under the paying
wallets' row locks in the transaction that pays), and the ledger entries that pay for issues
(through ``wallets.services``, the only writer of balances)."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.db.models import Sum

from core.money import ZERO
from wallets.errors import InsufficientBalance
from wallets.models import LedgerEntry, Wallet
from wallets.services import Posting, wallet_post, wallet_post_many

from .errors import InsufficientPoints, PointsGone
from .models import VendorCall
from .resolve import Line, Payer


def points_check(lines: list[Line]) -> None:
    """Raise ``InsufficientPoints`` unless every payer holds the points of its lines."""
    short = points_short(lines)
    if short is not None:
        raise short


def points_short(lines: list[Line]) -> InsufficientPoints | None:
    """*isRedeemable*: the points of the call's lines (those not seen before), summed per payer,
    against the payer's balance as last read; the refusal of the first payer short, or None."""
    needed: dict[tuple, Decimal] = {}
    payers: dict[tuple, Payer] = {}
    for line in lines:
        if not line.seen_before:
            needed[line.payer.key] = needed.get(line.payer.key, ZERO) + line.points
            payers[line.payer.key] = line.payer
    for key, points in needed.items():
        if points > payers[key].balance:
            payer = payers[key]
            whose = f"group {payer.group.pk}" if payer.group is not None else "customer"
            return InsufficientPoints(
                f"insufficient points in org {payer.org_id}: {whose} has {points_text(payer.balance)}, "
                f"the rewards cost {points_text(points)}"
            )
    return None


def points_by_wallet(lines: list[Line]) -> dict[int, Decimal]:
    """The points the call's isRedeemable check needs from each paying wallet."""
    needed: dict[int, Decimal] = {}
    for line in lines:
        if not line.seen_before and line.points > 0 and line.payer.wallet_id is not None:
            needed[line.payer.wallet_id] = needed.get(line.payer.wallet_id, ZERO) + line.points
    return needed


_OPEN_VENDOR_CALLS = (VendorCall.State.PENDING, VendorCall.State.ANSWERED)


def payers_lock(lines: list[Line], *, paying_only: bool = True) -> None:
    """Lock the wallets that pay for ``lines`` (with ``paying_only``, those of the lines the points
    check counts: costing points, not seen before), in the caller's transaction, in wallet id
    order, and set each payer's balance to what it may spend now: its balance less the points
    held by open vendor calls (PENDING or ANSWERED: their partner is being called, their points
    not yet taken). Read after the lock, so a hold written by a call that had the lock is seen."""
    payers = {
        line.payer.wallet_id: line.payer
        for line in lines
        if line.payer.wallet_id is not None and not (paying_only and (line.points <= 0 or line.seen_before))
    }
    if not payers:
        return
    balances = dict(
        Wallet.objects.select_for_update().filter(pk__in=payers).order_by("pk").values_list("pk", "balance")
    )
    held = dict(
        VendorCall.objects.filter(wallet_id__in=payers, state__in=_OPEN_VENDOR_CALLS)
        .values("wallet_id")
        .annotate(points=Sum("points"))
        .values_list("wallet_id", "points")
    )
    for wallet_id, payer in payers.items():
        payer.balance = balances.get(wallet_id, ZERO) - held.get(wallet_id, ZERO)


def line_points_check(line: Line) -> None:
    """One reward issued on its own (a requestId another call held, then let go): its points must be
    there now, under the wallet's lock."""
    if line.points <= 0:
        return
    payers_lock([line], paying_only=False)
    if line.payer.wallet_id is None or line.points > line.payer.balance:
        raise PointsGone("insufficient points: spent by another call meanwhile")


def points_short_locked(lines: list[Line]) -> InsufficientPoints | None:
    """A debit refused: ``points_short`` with the balances as they are now (locked)."""
    payers_lock(lines)
    return points_short(lines)


def points_text(points: Decimal) -> str:
    """Points as the seed writes them: "2", or "2.50" when not whole."""
    return str(int(points)) if points == points.to_integral_value() else str(points.quantize(Decimal("0.01")))


# --- paying ----------------------------------------------------------------------------------

_REFERENCE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def points_reference() -> str:
    """A new pointsReferenceId: on the ISSUE ledger entry and on the issue record."""
    return "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(10))


def issue_posting(*, reward_id: int, quantity: int, points: Decimal, reference: str) -> Posting | None:
    """The ledger entry that pays for an issue (None when it costs no points)."""
    if points <= 0:
        return None
    return Posting(
        delta=-points, kind=LedgerEntry.Kind.ISSUE, reference=reference, memo=f"reward {reward_id} x{quantity}"
    )


def posting_pay(*, wallet_id: int | None, org_id: int, posting: Posting | None) -> None:
    """Take one issue's points from its wallet (row-locked by the conditional UPDATE); raises
    ``PointsGone`` having written nothing when they are not there."""
    if posting is None:
        return
    if wallet_id is None:
        raise PointsGone("insufficient points")
    try:
        wallet_post(
            wallet=Wallet(pk=wallet_id, org_id=org_id),
            delta=posting.delta,
            kind=posting.kind,
            reference=posting.reference,
            memo=posting.memo,
        )
    except InsufficientBalance as exc:
        raise PointsGone("insufficient points: spent by another call meanwhile") from exc


def postings_pay(*, wallet_id: int, org_id: int, postings: list[Posting], require: Decimal | None) -> bool:
    """Take several issues' points from one wallet in one statement, refusing unless ``require``
    points are there before (isRedeemable under the lock); False, having written nothing, when
    they are not."""
    try:
        wallet_post_many(wallet=Wallet(pk=wallet_id, org_id=org_id), postings=postings, require=require)
    except InsufficientBalance:
        return False
    return True


def wallet_holds(*, wallet_id: int, points: Decimal) -> bool:
    """Lock a wallet none of whose lines was issued, and tell whether it holds ``points`` (a call's
    isRedeemable check under the lock)."""
    enough = Wallet.objects.select_for_update().filter(pk=wallet_id, balance__gte=points)
    return enough.values_list("pk", flat=True).first() is not None
