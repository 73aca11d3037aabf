"""Celery tasks of events and webhooks: they take ids and call ``events.outbox``."""

from celery import shared_task

from . import outbox

# Deliveries a batch dispatch sends itself; more go out as tasks of their own, so that a slow
# endpoint (up to WEBHOOK_TIMEOUT_SECONDS a try) holds up neither the others nor the time limit.
INLINE_DELIVERIES = 5


@shared_task(name=outbox.DISPATCH_TASK)
def events_dispatch(event_pks: list[int]) -> int:
    """Fan events out to their endpoints (the publisher's batch of one or more calls, or the
    sweep's); send a few deliveries here, queue the rest (the sweep queues what cannot be)."""
    due = [delivery_pk for event_pk in event_pks for delivery_pk in outbox.event_dispatch(event_pk=event_pk)]
    for delivery_pk in due[:INLINE_DELIVERIES]:
        outbox.delivery_attempt(delivery_pk=delivery_pk)
    for delivery_pk in due[INLINE_DELIVERIES:]:
        outbox.delivery_enqueue(delivery_pk=delivery_pk)
    return len(due)


@shared_task(name=outbox.DELIVERY_TASK)
def delivery_send(delivery_pk: int) -> bool:
    attempt = outbox.delivery_attempt(delivery_pk=delivery_pk)
    return bool(attempt and attempt.delivered)


@shared_task(name="orgs.outbox_sweep")
def outbox_sweep() -> dict:
    return outbox.outbox_sweep()
