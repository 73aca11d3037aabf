"""VENDOR rewards: the partner is called with no transaction open and no lock held, its voucher
recorded as soon as it answers, then paid for. "Issue a vendor reward" is decided here.

A ``VendorCall`` goes PENDING (opened with the claim of its requestId, holding its points) ->
ANSWERED (the partner's voucher recorded, in its own short transaction) -> DONE (points taken and
the issue recorded, ``vendor_call_settle``), or FAILED (no voucher), FLAGGED (the points went
meanwhile: a ``VendorException`` for staff), ABANDONED (a dead process left it PENDING). A process
that dies in between leaves an open call that ``vendor_calls_recover`` settles.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.http import http_client

from . import sql
from .calls import IssueCallIn
from .errors import PointsGone, RewardNotIssued, VendorFailed, VendorUnanswered
from .models import CatalogueReward, IssueRequest, RewardIssue, VendorCall, VendorException
from .planner import CallContext, IssueSpec, issue_record, line_spec, reward_issue_build
from .points import issue_posting, points_reference, posting_pay
from .requests import request_release
from .resolve import Line


def vendor_call_finish(line: Line, ctx: CallContext, call: VendorCall) -> RewardIssue:
    """Call the vendor of an opened (committed, PENDING) call with no transaction open, record its
    voucher, then pay and record (``vendor_call_settle``).

    Each step commits on its own, so a process that dies after the vendor's answer leaves an
    ANSWERED ``VendorCall`` that ``vendor_calls_recover`` settles (points taken, or flagged)."""
    claim_pk = call.claim_id
    try:
        context, answer = vendor_voucher_request(line=line, call=ctx.call)
    except BaseException as exc:
        # a refusal, or a failure before sending, left no voucher; anything else (a timeout, a
        # lost connection, the worker stopped mid-call) may have: a retry is then flagged
        unknown = not isinstance(exc, VendorFailed) or isinstance(exc, VendorUnanswered)
        VendorCall.objects.filter(pk=call.pk).update(
            state=VendorCall.State.FAILED,
            settled_at=timezone.now(),
            partner_may_hold_voucher=unknown,
            note=str(exc)[:255] if isinstance(exc, VendorFailed) else type(exc).__name__,
        )
        request_release(claim_pk)
        raise
    partner_answered()
    voucher = str(context["voucher"])[:255]
    VendorCall.objects.filter(pk=call.pk, state__in=[VendorCall.State.PENDING, VendorCall.State.ABANDONED]).update(
        state=VendorCall.State.ANSWERED,
        voucher=voucher,
        vendor_details=context,
        vendor_answer=answer,
        answered_at=timezone.now(),
    )
    if call.retry_of_id is not None:  # staff see which voucher the retry got
        VendorException.objects.filter(vendor_call=call.pk, kind=VendorException.Kind.MAYBE_TWICE).update(
            voucher=voucher, vendor_answer=answer
        )
    answer_recorded()
    return vendor_call_settle(call_pk=call.pk, reward=line.reward, config=line.config)


# Seams: called at the two moments a process may die with a vendor call half done. They do
# nothing; the crash tests replace them (``tests/catalogue/test_vendor_recovery.py``).


def partner_answered() -> None:
    """The partner has answered; its answer is not recorded yet."""


def answer_recorded() -> None:
    """The partner's answer is recorded (ANSWERED); its points are not taken yet."""


def vendor_call_open(line: Line, ctx: CallContext, *, claim_pk: int | None) -> VendorCall:
    """Record the vendor call (PENDING) that will issue ``line``: it keeps the issue's spec until
    the voucher is paid, and holds the line's points meanwhile (``points.payers_lock``)."""
    now = timezone.now()
    grace = line.reward.vendor_timeout_ms / 1000 + settings.VENDOR_RECOVERY_MARGIN_SECONDS
    spec = line_spec(line, ctx, claim_pk=claim_pk)
    record = spec.record
    earlier, flag = _vendor_call_earlier(line)
    call = VendorCall.objects.create(
        org_id=spec.org_id,
        customer_id=spec.customer_id,
        group_id=spec.group_id,
        wallet_id=spec.wallet_id,
        reward_id=spec.reward_id,
        payment_config_id=spec.payment_config_id,
        claim_id=spec.claim_pk,
        request_key=line.request_key or "",
        requested_quantity=spec.requested_quantity,
        quantity=spec.quantity,
        points=spec.points,
        redemption_value=spec.redemption_value,
        record=record,
        stale_after=now + timedelta(seconds=grace),
        retry_of=earlier,
        staff_flag=flag,
    )
    if earlier is not None:
        VendorException.objects.create(
            org_id=call.org_id,
            kind=VendorException.Kind.MAYBE_TWICE,
            vendor_call=call,
            customer_id=call.customer_id,
            group_id=call.group_id,
            reward_id=call.reward_id,
            quantity=call.quantity,
            points=call.points,
            reason=flag,
            request_id=line.item.request_id,
            transaction_number=record["transaction_number"],
        )
    return call


def _vendor_call_earlier(line: Line) -> tuple[VendorCall | None, str]:
    """The latest earlier call of the line's requestId that may have left a voucher at the partner
    (``partner_may_hold_voucher``), and the staff flag of the retry that calls the partner again."""
    if line.request_key is None:
        return None, ""
    earlier = (
        VendorCall.objects.filter(org_id=line.org_id, request_key=line.request_key, partner_may_hold_voucher=True)
        .order_by("-pk")
        .first()
    )
    if earlier is None:
        return None, ""
    voucher = f" (voucher {earlier.voucher})" if earlier.voucher else ""
    flag = (
        f"requestId retried after vendor call {earlier.pk} was {earlier.state}{voucher}: a voucher may exist at the "
        "partner for it; two vouchers if the partner does not de-duplicate requestIds"
    )
    return earlier, flag[:255]


def vendor_call_settle(*, call_pk: int, reward: CatalogueReward | None = None, config=None) -> RewardIssue:
    """Pay for and record the voucher of an ANSWERED vendor call, once (its row lock decides).

    Raises ``PointsGone`` when the points went meanwhile: the call is FLAGGED and the voucher
    recorded as a ``VendorException`` for staff. Raises ``RewardNotIssued`` when the call is not
    ANSWERED (settled by someone else)."""
    call = VendorCall.objects.get(pk=call_pk)
    reference = points_reference()
    spec = vendor_call_spec(call)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    sql.VENDOR_CALL_SETTLE, [connection.ops.adapt_datetimefield_value(timezone.now()), call_pk]
                )
                if cursor.fetchone() is None:
                    settled = VendorCall.objects.filter(pk=call_pk, issue__isnull=False).values_list("issue", flat=True)
                    if settled:  # the recovery job settled it while this call was slow: its issue
                        return _with_details(RewardIssue.objects.get(pk=settled[0]), reward, config)
                    raise RewardNotIssued(f"vendor call {call_pk} is {call.state}, not waiting to be paid")
            posting = issue_posting(
                reward_id=spec.reward_id, quantity=spec.quantity, points=spec.points, reference=reference
            )
            posting_pay(wallet_id=spec.wallet_id, org_id=spec.org_id, posting=posting)
            goods = {"voucher": call.voucher, "vendor_details": call.vendor_details}
            issue = issue_record(reward_issue_build(spec, reference=reference, goods=goods), customer=call.customer)
            VendorCall.objects.filter(pk=call_pk).update(issue=issue)
            if call.claim_id is not None:
                IssueRequest.objects.filter(pk=call.claim_id).update(state=IssueRequest.State.DONE)
    except PointsGone as exc:
        _vendor_call_flag(call, reason="insufficient points: spent by another call meanwhile")
        raise PointsGone("insufficient points: spent by another call meanwhile") from exc
    return _with_details(issue, reward, config)


def vendor_call_spec(call: VendorCall) -> IssueSpec:
    """The issue a vendor call keeps until its voucher is paid."""
    return IssueSpec(
        org_id=call.org_id,
        customer_id=call.customer_id,
        group_id=call.group_id,
        wallet_id=call.wallet_id,
        reward_id=call.reward_id,
        payment_config_id=call.payment_config_id,
        requested_quantity=call.requested_quantity,
        quantity=call.quantity,
        points=call.points,
        redemption_value=call.redemption_value,
        claim_pk=call.claim_id,
        record=call.record,
    )


def _with_details(issue: RewardIssue, reward: CatalogueReward | None, config) -> RewardIssue:
    """The issue with the reward and payment config the caller holds already (no reads for the answer)."""
    if reward is not None:
        issue.reward = reward
    if config is not None:
        issue.payment_config = config
    return issue


def _vendor_call_flag(call: VendorCall, *, reason: str) -> None:
    with transaction.atomic():
        if not VendorCall.objects.filter(pk=call.pk, state=VendorCall.State.ANSWERED).update(
            state=VendorCall.State.FLAGGED, settled_at=timezone.now(), note=reason[:255], partner_may_hold_voucher=True
        ):
            return
        VendorException.objects.create(
            org_id=call.org_id,
            vendor_call_id=call.pk,
            customer_id=call.customer_id,
            group_id=call.group_id,
            reward_id=call.reward_id,
            quantity=call.quantity,
            points=call.points,
            voucher=call.voucher,
            vendor_answer=call.vendor_answer if call.vendor_answer is not None else {},
            reason=reason[:255],
            request_id=call.record.get("request_id"),
            transaction_number=call.record.get("transaction_number") or "",
        )
        request_release(call.claim_id)


def vendor_calls_recover(*, now=None) -> dict:
    """Settle vendor calls left open past ``stale_after`` by a process that died.

    ANSWERED (the partner's voucher is recorded): take the points and record the issue, or flag
    it for staff (``VendorException``) when the points are gone. PENDING (no answer recorded, so
    no voucher was recorded): ABANDONED, and its requestId released for a retry, which is flagged
    for staff (the partner may have issued a voucher to the dead call).
    """
    now = now or timezone.now()
    stale = list(
        VendorCall.objects.filter(
            state__in=[VendorCall.State.PENDING, VendorCall.State.ANSWERED], stale_after__lt=now
        ).values_list("pk", "state", "claim_id")
    )
    outcome = {"completed": 0, "flagged": 0, "abandoned": 0}
    for pk, state, claim_pk in stale:
        if state == VendorCall.State.PENDING:
            with transaction.atomic():
                if VendorCall.objects.filter(pk=pk, state=VendorCall.State.PENDING).update(
                    state=VendorCall.State.ABANDONED,
                    settled_at=now,
                    note="no vendor answer recorded",
                    partner_may_hold_voucher=True,  # it died mid-call: the partner may have answered
                ):
                    request_release(claim_pk)
                    outcome["abandoned"] += 1
            continue
        try:
            vendor_call_settle(call_pk=pk)
            outcome["completed"] += 1
        except PointsGone:
            outcome["flagged"] += 1
        except RewardNotIssued:
            pass  # settled meanwhile by the call itself
    return outcome


def _dig(document: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(document, dict):
            document = document.get(part)
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return None
    return document


# Errors raised before the request could reach the vendor; any other means it may have.
_VENDOR_NOT_REACHED = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
)


def vendor_voucher_request(*, line: Line, call: IssueCallIn) -> tuple[dict, Any]:
    """POST to the reward's vendor; (context values by name, the answer) when it answered HTTP 200
    with a non-empty voucher at ``context_map["voucher"]``, else ``VendorFailed``."""
    reward = line.reward
    customer = line.payer.customer
    payload = {
        "rewardId": reward.pk,
        "rewardName": reward.name,
        "orgId": line.org_id,
        "quantity": line.item.quantity,
        "requestId": line.item.request_id,
        "transactionNumber": call.transaction_number,
        "customer": {"externalId": customer.external_id, "mobile": customer.mobile, "email": customer.email},
        "params": line.params,
    }
    try:
        response = http_client().post(reward.vendor_url, json=payload, timeout=reward.vendor_timeout_ms / 1000)
    except (*_VENDOR_NOT_REACHED, httpx.InvalidURL, ValueError) as exc:
        raise VendorFailed(f"vendor {reward.vendor_name or reward.vendor_url} failed: {type(exc).__name__}") from exc
    except httpx.HTTPError as exc:  # sent, or partly: the vendor may have acted on it
        raise VendorUnanswered(
            f"vendor {reward.vendor_name or reward.vendor_url} did not answer: {type(exc).__name__}"
        ) from exc
    if response.status_code != 200:
        raise VendorFailed(f"vendor {reward.vendor_name} answered HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError as exc:
        raise VendorFailed(f"vendor {reward.vendor_name} answered no JSON") from exc
    context_map = reward.vendor_context_map if isinstance(reward.vendor_context_map, dict) else {}
    context = {name: _dig(answer, str(path)) for name, path in context_map.items()}
    voucher = context.get("voucher")
    if isinstance(voucher, bool) or not isinstance(voucher, (str, int)) or not str(voucher).strip():
        raise VendorFailed(f"vendor {reward.vendor_name} answered no voucher")
    return context, answer
