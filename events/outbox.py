"""Events and their webhooks: a transactional outbox, delivered at least once.

``event_emit`` writes one ``OutboxEvent`` row in the caller's transaction (one INSERT) and,
once that transaction commits, hands it to a publisher thread that queues
``events.tasks.events_dispatch``: the call never waits for Redis. If Redis cannot take the
task, the call that made the change has succeeded anyway: ``outbox_sweep`` (every minute)
queues the events nobody dispatched. A dispatch fans the event out into one
``WebhookDelivery`` per active endpoint of the org; each delivery is POSTed, retried after
5, 30, 120 and 360 minutes, then dead-lettered (admin: "retry now").

The wire format (README "Events and webhooks")::

    POST <endpoint url>
    Content-Type: application/json
    X-Rewards-Event-Id: <uuid>          the id to de-duplicate on (also "id" in the body)
    X-Rewards-Event: <kind>
    X-Rewards-Delivery-Attempt: <n>
    X-Rewards-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the endpoint secret>

    {"created_at": "...", "data": {...}, "id": "<uuid>", "kind": "redemption", "org": 4000876,
     "securekey": "<the endpoint's AppVirality Secure Key, or empty>"}
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from core.http import http_client
from core.tasks import task_send, tasks_eager
from orgs.models import EventKind, OutboxEvent, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Rewards-Signature"
EVENT_ID_HEADER = "X-Rewards-Event-Id"
EVENT_KIND_HEADER = "X-Rewards-Event"
ATTEMPT_HEADER = "X-Rewards-Delivery-Attempt"
# The tasks of events/tasks.py, queued by name (that module imports this one).
DISPATCH_TASK = "orgs.events_dispatch"
DELIVERY_TASK = "orgs.delivery_send"


# --- emitting ------------------------------------------------------------------------------------


def event_emit(*, org_id: int, kind: str, payload: dict) -> OutboxEvent:
    """Record an event in the current transaction (one INSERT); queue its delivery on commit.

    Call it inside the transaction of the change it reports: the event exists exactly when
    the change does. Money values in ``payload`` may be Decimals (written as strings).
    """
    [event] = events_emit(events=[(org_id, kind, payload)])
    return event


def events_emit(*, events: list[tuple[int, str, dict]]) -> list[OutboxEvent]:
    """``event_emit`` for several events of one change, (org id, kind, payload) each: one INSERT,
    and one task queued on commit for all of them."""
    for _, kind, _ in events:
        if kind not in EventKind.values:
            raise ValueError(f"unknown event kind {kind!r}")
    rows = OutboxEvent.objects.bulk_create(
        [OutboxEvent(org_id=org_id, kind=kind, payload=payload) for org_id, kind, payload in events]
    )
    if rows:
        transaction.on_commit(partial(_dispatch_soon, [row.pk for row in rows]))
    return rows


def event_row(*, org_id: int, kind: str, payload: dict) -> dict:
    """The columns of an ``OutboxEvent`` for a caller that INSERTs it in its own statement (a hot
    path that writes its change in one statement); then call ``events_written`` with its pk."""
    if kind not in EventKind.values:
        raise ValueError(f"unknown event kind {kind!r}")
    return {
        "org_id": org_id,
        "event_id": uuid.uuid4(),
        "kind": kind,
        "payload": json.dumps(payload, cls=DjangoJSONEncoder),
    }


def events_written(*, event_pks: list[int]) -> None:
    """Queue the delivery, on commit, of events the caller INSERTed itself (``event_row``)."""
    if event_pks:
        transaction.on_commit(partial(_dispatch_soon, list(event_pks)))


def _dispatch_soon(event_pks: list[int]) -> None:
    """After commit: queue the events' dispatch from this process's publisher thread, so the
    call that made the change never waits for the broker (a slow or dead Redis costs it
    nothing; the sweep queues what the publisher could not). Eager Celery (tests, the embedded
    default) runs the dispatch here and now."""
    if tasks_eager():
        events_enqueue(event_pks=event_pks)
    else:
        _publisher.submit(event_pks)


class _Publisher:
    """A daemon thread per process that queues dispatch tasks: the events submitted within
    ``EVENTS_PUBLISH_BATCH_SECONDS`` of each other go in one task (publishing costs about as
    much CPU as the rest of an issue call). Events it has not queued when the process dies
    are still in the outbox: the sweep queues them."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._pending = 0
        self._idle = threading.Event()
        self._idle.set()

    def submit(self, event_pks: list[int]) -> None:
        self._started()
        with self._lock:
            self._pending += len(event_pks)
            self._idle.clear()
        self._queue.put(event_pks)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted has been handed to the broker (or failed to be)."""
        return self._idle.wait(timeout)

    def _started(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                if self._pid != os.getpid():  # forked: the parent's queue and thread are not ours
                    self._queue, self._pending = queue.SimpleQueue(), 0
                    self._idle.set()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="events-publisher", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = list(self._queue.get())
            # Let the events of the next few calls join this task: one publish per batch, not per call.
            time.sleep(settings.EVENTS_PUBLISH_BATCH_SECONDS)
            while len(batch) < 500:
                try:
                    batch += self._queue.get_nowait()
                except queue.Empty:
                    break
            events_enqueue(event_pks=batch)
            with self._lock:
                self._pending -= len(batch)
                if self._pending <= 0:
                    self._pending = 0
                    self._idle.set()


_publisher = _Publisher()
atexit.register(_publisher.flush, 2.0)


def events_enqueue(*, event_pks: list[int]) -> bool:
    """Queue the dispatch of several events as one task (``events/tasks.py``, by name); False
    (logged) when the broker cannot take it: the outbox sweep queues them later."""
    return task_send(DISPATCH_TASK, event_pks)


def delivery_enqueue(*, delivery_pk: int) -> bool:
    """Queue one delivery attempt as its own task (by name); False (logged) when the broker cannot take it."""
    return task_send(DELIVERY_TASK, delivery_pk)


# --- payloads of the kinds emitted by the services -----------------------------------------------


def customer_ref(customer, *, user_key: bool = False) -> dict:
    """The customer as events show it; ``user_key`` (AppVirality's userkey) for fully loaded customers."""
    ref = {"id": customer.pk, "externalId": customer.external_id, "email": customer.email, "mobile": customer.mobile}
    if user_key:
        ref["userKey"] = str(customer.user_key)
    return ref


# --- dispatching and delivering ----------------------------------------------------------------------


def event_dispatch(*, event_pk: int) -> list[int]:
    """Fan an event out into deliveries (once: unique per endpoint) and return the due ones' ids."""
    event = OutboxEvent.objects.filter(pk=event_pk).first()
    if event is None:
        return []
    now = timezone.now()
    with transaction.atomic():
        if event.dispatched_at is None:
            endpoints = WebhookEndpoint.objects.filter(org_id=event.org_id, active=True)
            WebhookDelivery.objects.bulk_create(
                [
                    WebhookDelivery(org_id=event.org_id, event=event, endpoint=endpoint, next_attempt_at=now)
                    for endpoint in endpoints
                    if endpoint.wants(event.kind)
                ],
                ignore_conflicts=True,
            )
            OutboxEvent.objects.filter(pk=event.pk, dispatched_at__isnull=True).update(dispatched_at=now)
    return list(
        WebhookDelivery.objects.filter(
            event_id=event.pk, state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now
        ).values_list("pk", flat=True)
    )


def event_body(*, event: OutboxEvent, endpoint: WebhookEndpoint) -> bytes:
    """The raw body sent to ``endpoint``: the same bytes on every attempt."""
    renderer = settings.WEBHOOK_BODY_FORMATS.get(endpoint.format)
    if renderer is not None:
        document = import_string(renderer)(event=event, endpoint=endpoint)
        return json.dumps(document, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":")).encode()
    document = {
        "id": str(event.event_id),
        "kind": event.kind,
        "org": event.org_id,
        "created_at": event.created_at.isoformat(),
        "securekey": endpoint.securekey,
        "data": event.payload,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":")).encode()


def signature(*, secret: str, body: bytes) -> str:
    """The X-Rewards-Signature value: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(*, secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return header is not None and hmac.compare_digest(signature(secret=secret, body=body), header)


def _retry_delays() -> list[timedelta]:
    return [timedelta(minutes=float(m)) for m in settings.WEBHOOK_RETRY_MINUTES]


@dataclass(frozen=True)
class Attempt:
    delivery_pk: int
    delivered: bool
    state: str
    error: str = ""


def delivery_attempt(*, delivery_pk: int) -> Attempt | None:
    """POST one delivery if it is due and no other worker holds it; record the outcome.

    The row is leased (``leased_until``) in a short transaction, the POST runs with no
    transaction open and no lock held, the outcome is written in another. A worker that dies
    mid-POST leaves the lease to expire; the sweep then sends it again (at least once).
    """
    now = timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 2 + 30)
    taken = WebhookDelivery.objects.filter(
        Q(leased_until__isnull=True) | Q(leased_until__lt=now),
        pk=delivery_pk,
        state=WebhookDelivery.State.PENDING,
        next_attempt_at__lte=now,
    ).update(leased_until=lease, attempts=F("attempts") + 1)
    if not taken:
        return None
    delivery = WebhookDelivery.objects.select_related("event", "endpoint").get(pk=delivery_pk)
    body = event_body(event=delivery.event, endpoint=delivery.endpoint)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "rewards-engine-webhooks/1",
        EVENT_ID_HEADER: str(delivery.event.event_id),
        EVENT_KIND_HEADER: delivery.event.kind,
        ATTEMPT_HEADER: str(delivery.attempts),
        SIGNATURE_HEADER: signature(secret=delivery.endpoint.secret, body=body),
    }
    status, error = None, ""
    try:
        response = http_client().post(
            delivery.endpoint.url, content=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
        )
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    return _attempt_record(delivery=delivery, status=status, error=error)


def _attempt_record(*, delivery: WebhookDelivery, status: int | None, error: str) -> Attempt:
    now = timezone.now()
    fields = {"leased_until": None, "last_status": status, "last_error": error}
    if not error:
        fields |= {"state": WebhookDelivery.State.DELIVERED, "delivered_at": now}
    else:
        delays = _retry_delays()
        if delivery.attempts > len(delays):
            fields["state"] = WebhookDelivery.State.DEAD
            logger.warning("webhook delivery %s dead-lettered after %s attempts", delivery.pk, delivery.attempts)
        else:
            fields["next_attempt_at"] = now + delays[delivery.attempts - 1]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    return Attempt(delivery.pk, not error, fields.get("state", WebhookDelivery.State.PENDING), error)


def delivery_retry_now(*, delivery_pks: list[int]) -> int:
    """Staff: send dead-lettered (or waiting) deliveries again now, with a fresh back-off."""
    count = (
        WebhookDelivery.objects.filter(pk__in=delivery_pks)
        .exclude(state=WebhookDelivery.State.DELIVERED)
        .update(state=WebhookDelivery.State.PENDING, next_attempt_at=timezone.now(), attempts=0, leased_until=None)
    )
    for pk in delivery_pks:
        delivery_enqueue(delivery_pk=pk)
    return count


SWEEP_EVENTS_PER_TASK = 100


def outbox_sweep(*, batch: int = 1000) -> dict:
    """Queue what should be on its way and is not: events not dispatched within
    ``OUTBOX_SWEEP_AFTER_SECONDS`` (never reached Redis, or a worker died), and deliveries
    due for an attempt (retries, expired leases). Events go out as the publisher sends them,
    ``SWEEP_EVENTS_PER_TASK`` to a task. ``queued``: events and deliveries the broker took."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.OUTBOX_SWEEP_AFTER_SECONDS)
    events = list(
        OutboxEvent.objects.filter(dispatched_at__isnull=True, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:batch]
    )
    deliveries = list(
        WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch]
    )
    queued = sum(
        len(chunk)
        for chunk in (events[i : i + SWEEP_EVENTS_PER_TASK] for i in range(0, len(events), SWEEP_EVENTS_PER_TASK))
        if events_enqueue(event_pks=chunk)
    )
    queued += sum(delivery_enqueue(delivery_pk=pk) for pk in deliveries)
    return {"events": len(events), "deliveries": len(deliveries), "queued": queued}


def outbox_prune(*, older_than: timedelta) -> int:
    """Delete events (and their deliveries) older than ``older_than`` whose every delivery
    succeeded; undispatched, pending and dead-lettered ones stay."""
    cutoff = timezone.now() - older_than
    unsettled = WebhookDelivery.objects.exclude(state=WebhookDelivery.State.DELIVERED)
    old = OutboxEvent.objects.filter(created_at__lt=cutoff, dispatched_at__isnull=False).exclude(
        pk__in=unsettled.values("event_id")
    )
    deleted, _ = old.delete()
    return deleted
