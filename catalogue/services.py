"""Issue Reward, one call: the application service behind Capillary's ``POST /v1.1/user/rewards/issue/``.

``rewards_issue`` takes the call as typed input (``catalogue.calls``, parsed by the adapter
``capillary/apis.py``) and follows the contract's processing order (docs/contracts/issue-rewards.md);
each rule lives in its own module:

1. resolve and validate the whole call (``resolve.py``: customer, group, rewards, payment configs,
   points, custom fields, requestIds): any problem fails the call, nothing issued;
2. *isRedeemable* (``points.py``): the points of all rewards, summed per paying wallet, must be
   there. Checked first on the balances read in step 1 (a quick refusal), then again under the
   paying wallets' row locks, in the transaction that pays, so a call that would fail the check
   alone fails it in a race too, issuing nothing;
3. each reward is issued on its own (partial issual): ``planner.py`` decides its goods
   (``goods.py``: coupons, a cart promotion), the ledger entry that pays for it and its
   ``RewardIssue`` row; points move only for what was issued. A vendor reward (``vendor.py``)
   calls the partner with no transaction open and no lock held, then takes the points; if they
   went meanwhile, the voucher is recorded as a ``VendorException`` for staff, never as a
   negative balance. requestIds (``requests.py``) make a call idempotent.

Two paths carry out step 3, the same plan with different transaction boundaries:

* ``_issue_together``: a call of local rewards with ``skip_validation`` in ONE transaction
  (requestIds claimed in one statement, one debit per paying wallet, one insert of the issue
  rows and their events); on PostgreSQL that transaction is ONE statement, the function
  ``catalogue_issue_local`` (``issue_statement.py``; same steps, same lock order), and the steps
  below run only where it cannot decide (a requestId held by another call, points spent
  meanwhile), on SQLite, or with ``ISSUE_ONE_STATEMENT`` off;
* ``_issue_each``: reward by reward (vendor rewards, validation codes, a requestId seen before or
  held by another call, points spent meanwhile), each local reward in its own savepoint.

Lock order, on every path (two calls wait for each other instead of deadlocking): the requestId
claims (``IssueRequest`` rows, sorted by org and key), then the customers whose cart-promotion
limits the call checks (sorted by id), then the paying wallets (sorted by id, across orgs, group
wallets included); coupons come last and are never waited for (SKIP LOCKED).

It knows no Capillary code, body or HTTP status: it returns an ``IssueOutcome`` (what each reward
became) or raises an ``IssueError`` for the call as a whole.
"""

from __future__ import annotations

import time

from django.db import transaction

from . import selectors
from .calls import IssueCallIn, IssueOutcome, RewardFailed, RewardIssued
from .errors import InsufficientPoints, RequestIdTaken, RewardNotIssued
from .goods import promotion_holders_lock
from .issue_statement import issue_local_together, one_statement_available
from .models import IssueRequest, RewardIssue
from .planner import CallContext, Plan, issue_record, issues_record, line_plan
from .points import (
    line_points_check,
    payers_lock,
    points_by_wallet,
    points_check,
    points_short,
    points_short_locked,
    posting_pay,
    postings_pay,
    wallet_holds,
)
from .refusals import refusals_record
from .requests import request_free, request_holder, requests_all_claimed, requests_claim, requests_match_seen
from .resolve import Line, call_resolve, is_vendor
from .validation_codes import validation_code_consume
from .vendor import vendor_call_finish, vendor_call_open

_PENDING_POLL_SECONDS = 0.05

Result = RewardIssued | RewardFailed


def rewards_issue(
    *, org_id: int, till_username: str, scope: frozenset[int], call: IssueCallIn, skip_validation: bool
) -> IssueOutcome:
    """Issue the call's rewards (see the module's docstring) for the till ``till_username`` of org
    ``org_id``, reaching the orgs of ``scope``. Raises ``IssueError`` / ``OutOfScope`` when the
    call fails as a whole; per-reward failures are in the outcome."""
    lines = call_resolve(caller_org_id=org_id, scope=scope, call=call)
    ctx = CallContext(till_username=till_username, call=call)
    # One transaction when it can be: not for vendor rewards (no transaction around a partner
    # call), nor with a validation code (spent only once every check of the whole call has
    # passed, which there ends inside the transaction).
    if skip_validation and not any(is_vendor(line) for line in lines):
        results = _issue_together(lines, ctx)
        if results is not None:
            return _answered(lines, ctx, results)
    requests_match_seen(lines)
    points_check(lines)  # refuses early; checked again under the wallets' locks
    if not skip_validation:
        validation_code_consume(code=call.validation_code, lines=lines)
    return _answered(lines, ctx, _issue_each(lines, ctx))


def _answered(lines: list[Line], ctx: CallContext, results: list[Result]) -> IssueOutcome:
    """The call's outcome, its refused rewards recorded as answered (``refusals.py``)."""
    refusals_record(lines=lines, results=results, till_username=ctx.till_username, event_log_id=ctx.call.event_log_id)
    return IssueOutcome(rewards=results, event_log_id=ctx.call.event_log_id)


def _refuse_unless_replays(short: InsufficientPoints, lines: list[Line]) -> None:
    """A call short of points fails as a whole (``short`` is raised), unless some of its rewards
    carry a requestId: a replay costs nothing, so the reward-by-reward path, which looks them up
    first, decides."""
    if not any(line.request_key for line in lines):
        raise short


def _failed(line: Line, error: RewardNotIssued) -> RewardFailed:
    return RewardFailed(
        org_id=line.org_id,
        reward_id=line.reward.pk,
        requested_quantity=line.item.requested_quantity,
        request_id=line.item.request_id,
        payment_config=line.config,
        error=error,
    )


def _issue_together(lines: list[Line], ctx: CallContext) -> list[Result] | None:
    """Issue a call of local rewards (no vendor) in one transaction: claim the requestIds, plan
    each reward (a reward whose coupons or promotion cannot be had fails alone, having written
    nothing but its claim, which goes), then one debit per paying wallet with one ledger entry per
    reward, then the issue rows. The same outcome as issuing reward by reward, in a fraction of the
    round trips. Each wallet's debit refuses unless the points of the whole call are there
    (isRedeemable under the lock, in the same statement).

    None, having written nothing, when the reward-by-reward path must decide: a requestId seen
    before or held by another call, or points spent meanwhile."""
    short = points_short(lines)
    if short is not None:
        _refuse_unless_replays(short, lines)
        return None
    results: dict[int, Result] = {line.index: _failed(line, line.failure) for line in lines if line.failure}
    todo = [line for line in lines if line.failure is None]
    if one_statement_available():
        issued = issue_local_together(todo, lines, ctx)
        if issued is not None:
            for line in todo:
                got = issued[line.index]
                results[line.index] = _failed(line, got) if isinstance(got, RewardNotIssued) else RewardIssued(got)
            return [results[line.index] for line in lines]
    with transaction.atomic():
        claims = requests_claim(todo)
        if not requests_all_claimed(todo, claims):
            transaction.set_rollback(True)
            return None
        promotion_holders_lock(todo)
        plans: list[Plan] = []
        pending_promotions: dict[tuple, int] = {}
        for line in todo:
            try:
                plans.append(
                    line_plan(line, ctx, claim_pk=claims.get(line.index), pending_promotions=pending_promotions)
                )
            except RewardNotIssued as exc:
                results[line.index] = _failed(line, exc)
                request_free(claims.pop(line.index, None))  # not issued: its requestId stays free
        paying: dict[int, list[Plan]] = {}
        for plan in plans:
            if plan.posting is not None:
                if plan.line.payer.wallet_id is None:
                    transaction.set_rollback(True)
                    return None
                paying.setdefault(plan.line.payer.wallet_id, []).append(plan)
        # isRedeemable under the lock: each wallet's debit (or, if nothing of it was issued, a
        # locked read) refuses unless the points of the whole call are there, in wallet id order
        needed = points_by_wallet(lines)
        for wallet_id in sorted(paying.keys() | needed.keys()):
            wallet_plans = paying.get(wallet_id)
            if wallet_plans:
                paid = postings_pay(
                    wallet_id=wallet_id,
                    org_id=wallet_plans[0].line.org_id,
                    postings=[plan.posting for plan in wallet_plans],
                    require=needed.get(wallet_id),
                )
            else:
                paid = wallet_holds(wallet_id=wallet_id, points=needed[wallet_id])
            if not paid:
                short = points_short_locked(lines)
                if short is None and not wallet_plans:
                    continue  # the points came back meanwhile
                if short is not None:
                    _refuse_unless_replays(short, lines)
                transaction.set_rollback(True)
                return None
        for plan, issue in zip(plans, issues_record(plans), strict=True):
            results[plan.line.index] = RewardIssued(issue)
    return [results[line.index] for line in lines]


def _issue_each(lines: list[Line], ctx: CallContext) -> list[Result]:
    """Issue the call reward by reward (vendor rewards, validation codes, requestIds seen before),
    with its isRedeemable check made under the paying wallets' locks.

    In one transaction, in the lock order of the module's docstring: the points of the whole call
    are checked (balance less the points held by open vendor calls) and the local rewards issued,
    each in its own savepoint (one failing does not undo the others); a VENDOR reward's
    ``VendorCall`` is opened PENDING in that transaction, holding its points, so the next call
    sees them as spent. The locks go with the commit, before any vendor is called; the partner's
    voucher is then paid from the held points (``vendor_call_settle``). A requestId another call
    holds is left to ``_issue_line`` after the commit (it waits for that call without a lock).
    """
    results: dict[int, Result] = {}
    todo = []
    for line in lines:
        if line.failure is not None:
            results[line.index] = _failed(line, line.failure)
        elif line.replay is not None:
            results[line.index] = RewardIssued(line.replay)
        else:
            todo.append(line)
    opened = []
    with transaction.atomic():
        claims = requests_claim(todo)
        held_elsewhere = [line for line in todo if line.request_key is not None and line.index not in claims]
        for line in held_elsewhere:
            line.seen_before = True  # its requestId is another call's: that call pays for it
        promotion_holders_lock(todo, at_least=1)
        payers_lock(lines)
        points_check(lines)
        for line in todo:
            if line in held_elsewhere:
                continue
            claim_pk = claims.get(line.index)
            if is_vendor(line):
                opened.append((line, vendor_call_open(line, ctx, claim_pk=claim_pk)))
            else:
                results[line.index] = _issue_in_savepoint(line, ctx, claim_pk=claim_pk)
    for line, call in opened:
        try:
            results[line.index] = RewardIssued(vendor_call_finish(line, ctx, call))
        except RewardNotIssued as exc:
            results[line.index] = _failed(line, exc)
    for line in held_elsewhere:
        results[line.index] = _issue_line(line, ctx)
    return [results[line.index] for line in lines]


def _issue_in_savepoint(line: Line, ctx: CallContext, *, claim_pk: int | None) -> Result:
    """A local reward of ``_issue_each``: planned, paid and recorded in a savepoint of its own."""
    try:
        with transaction.atomic():
            plan = line_plan(line, ctx, claim_pk=claim_pk)
            posting_pay(wallet_id=line.payer.wallet_id, org_id=line.org_id, posting=plan.posting)
            issue = issue_record(plan.issue, customer=line.payer.customer)
    except RewardNotIssued as exc:
        request_free(claim_pk)  # not issued: its requestId stays free
        return _failed(line, exc)
    return RewardIssued(issue)


def _issue_line(line: Line, ctx: CallContext) -> Result:
    """One reward whose requestId another call held: wait for that call (it issues it, or lets the
    requestId go and this call issues it), holding no lock."""
    deadline = time.monotonic() + line.reward.vendor_timeout_ms / 1000 + 5
    issue_once = _issue_vendor if is_vendor(line) else _issue_local
    while True:
        try:
            issue = issue_once(line, ctx)
        except RewardNotIssued as exc:
            return _failed(line, exc)
        if issue is not None:
            return RewardIssued(issue)
        request = request_holder(line)
        if request is not None and request.payload_hash != line.payload_hash:
            return _failed(line, RequestIdTaken("requestId was used meanwhile for another payload"))
        if request is not None and request.state == IssueRequest.State.DONE:
            return RewardIssued(selectors.reward_issue_with_details(request_pk=request.pk))
        if time.monotonic() > deadline:
            return _failed(line, RewardNotIssued("a call with this requestId is still being issued"))
        if request is not None:  # PENDING: the other call is waiting for its vendor
            time.sleep(_PENDING_POLL_SECONDS)
        # else the other call failed and let the requestId go: try to issue it here


def _claimed(line: Line) -> tuple[bool, int | None]:
    """Claim one line's requestId: (claimed, claim id); not claimed when another call holds it."""
    claims = requests_claim([line])
    return line.request_key is None or line.index in claims, claims.get(line.index)


def _issue_local(line: Line, ctx: CallContext) -> RewardIssue | None:
    """POINTS_ONLY, COUPON, CART_PROMOTION, issued on its own: everything in one transaction, in the
    lock order of the module's docstring (requestId, customer, wallet). None when another call
    holds the requestId (nothing written)."""
    with transaction.atomic():
        claimed, claim_pk = _claimed(line)
        if not claimed:
            return None
        plan = line_plan(line, ctx, claim_pk=claim_pk)
        line_points_check(line)
        posting_pay(wallet_id=line.payer.wallet_id, org_id=line.org_id, posting=plan.posting)
        return issue_record(plan.issue, customer=line.payer.customer)


def _issue_vendor(line: Line, ctx: CallContext) -> RewardIssue | None:
    """VENDOR, issued on its own: claim the requestId, check its points under the wallet's lock and
    open the vendor call (which holds them), then ``vendor_call_finish``. None when another call
    holds the requestId (nothing written)."""
    with transaction.atomic():
        claimed, claim_pk = _claimed(line)
        if not claimed:
            return None
        line_points_check(line)
        call = vendor_call_open(line, ctx, claim_pk=claim_pk)
    return vendor_call_finish(line, ctx, call)
