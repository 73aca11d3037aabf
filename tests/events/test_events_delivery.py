"""Events end to end: real Celery worker processes, a private Redis the tests stop and start,
webhook receivers that verify the signature. Nothing is eager here."""

import base64
import contextlib
import json
import socket
import threading
import time
from decimal import Decimal

import pytest

from catalogue.models import RewardIssue
from events.outbox import outbox_sweep
from orgs.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from tests.catalogue.conftest import ASHA, ISSUE_URL, TILL, basic
from tests.processes import RedisServer, celery_broker, celery_worker, wait_for, webhook_receiver

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

O2 = 4000876
KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}
SECRET = "whsec-test-0123456789"


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def redeem(client, body) -> tuple[int, dict]:
    response = client.post("/v2_0/redeemrewards", json.dumps({**KEYS, **body}), content_type="application/json")
    return response.status_code, response.json()


def issue(client, body) -> tuple[int, dict]:
    url = f"{ISSUE_URL}?username={TILL}&skip_validation=true"
    response = client.post(url, json.dumps(body), content_type="application/json", headers={"Authorization": basic()})
    return response.status_code, response.json()


def test_a_worker_delivers_a_redemption_event_signed_to_the_org_webhook(demo, client, redis_server, tmp_path):
    with webhook_receiver(SECRET) as receiver, celery_broker(redis_server.url):
        WebhookEndpoint.objects.create(org_id=O2, url=receiver.url, secret=SECRET, securekey="av-secure-key")
        with celery_worker(redis_server.url, log=tmp_path / "worker.log"):
            # when
            http, body = redeem(client, {"UserIdInstore": ASHA, "rewarddtlids": ["rd-1001", "rd-1002"]})
            assert (http, body["statuscode"]) == (200, 1)
            # then
            wait_for(lambda: receiver.received, timeout=30, what="the webhook")
    [(event_id, document, valid)] = receiver.received
    assert valid, "the receiver could not verify X-Rewards-Signature"
    event = OutboxEvent.objects.get()
    assert event_id == document["id"] == str(event.event_id)
    assert document["kind"] == "redemption" and document["org"] == O2 and document["securekey"] == "av-secure-key"
    assert document["data"]["amount"] == "25.00" and document["data"]["rewardCodes"] == ["rd-1001", "rd-1002"]
    assert document["data"]["customer"]["externalId"] == ASHA
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("DELIVERED", 1, 200)


def test_with_redis_down_both_apis_answer_and_every_event_is_delivered_once_it_is_back(
    demo, client, redis_server, tmp_path, settings
):
    settings.OUTBOX_SWEEP_AFTER_SECONDS = 0
    # the cache (rate limits) on the same Redis as the broker, as in production
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": redis_server.url}}
    with webhook_receiver(SECRET) as receiver, celery_broker(redis_server.url):
        WebhookEndpoint.objects.create(org_id=O2, url=receiver.url, secret=SECRET)
        # given Redis is gone
        redis_server.stop()
        # when both APIs are called: they answer as always, promptly
        started = time.monotonic()
        assert redeem(client, {"UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"]})[1]["statuscode"] == 1
        assert redeem(client, {"UserIdInstore": ASHA, "amount": "5.00"})[1]["statuscode"] == 1
        http, body = issue(client, {"externalId": ASHA, "rewards": [{"rewardId": 352}]})
        assert (http, body["status"]["code"]) == (200, 200)
        assert time.monotonic() - started < 5, "a dead broker must not hold up the calls"
        # the publisher thread has tried and given up (before Redis comes back, so it is the sweep that queues)
        from events.outbox import _publisher

        assert _publisher.flush(timeout=30)
        assert RewardIssue.objects.count() == 1
        expected = {str(e) for e in OutboxEvent.objects.values_list("event_id", flat=True)}
        assert len(expected) == 3
        assert not OutboxEvent.objects.filter(dispatched_at__isnull=False).exists()
        # the sweep cannot queue them either, and says so without failing
        assert outbox_sweep()["queued"] == 0
        # then Redis comes back (same port), a worker starts, the sweep queues what never got there
        redis_server.start()
        with celery_worker(redis_server.url, log=tmp_path / "worker.log"):
            assert outbox_sweep()["queued"] == 3
            wait_for(lambda: set(receiver.ids()) >= expected, timeout=60, what="every event")
            time.sleep(1)  # anything sent twice would show up now
    assert set(receiver.ids()) == expected, "no event lost, none invented"
    assert len(receiver.ids()) == len(expected), "each delivered once here (at-least-once allows a repeat id)"
    assert all(valid for _, _, valid in receiver.received)
    kinds = sorted(document["kind"] for _, document, _ in receiver.received)
    assert kinds == ["issue", "redemption", "redemption"]
    [issued] = [document for _, document, _ in receiver.received if document["kind"] == "issue"]
    assert issued["data"]["points"] == "25.00" and Decimal(issued["data"]["points"]) == Decimal(25)
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"DELIVERED"}


@contextlib.contextmanager
def silent_broker():
    """A TCP server on 127.0.0.1 that accepts connections and never answers: a hung Redis."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def test_a_hung_broker_does_not_slow_the_calls_down_and_the_sweep_queues_their_events_later(
    demo, client, redis_server, tmp_path, settings
):
    """Events are handed to the broker by a publisher thread after the commit: a broker that
    accepts connections and never answers costs the calls nothing."""
    from events.outbox import _publisher

    settings.OUTBOX_SWEEP_AFTER_SECONDS = 0
    with silent_broker() as url, celery_broker(url):
        started = time.monotonic()
        for n in range(3):
            http, body = issue(client, {"externalId": ASHA, "rewards": [{"rewardId": 352 if n == 0 else 351}]})
            assert (http, body["status"]["code"]) == (200, 200)
        elapsed = time.monotonic() - started
        assert elapsed < 1.5, f"three calls took {elapsed:.1f} s: they waited for the broker"
        assert _publisher.flush(timeout=30), "the publisher never gave up on the hung broker"
    assert OutboxEvent.objects.filter(dispatched_at__isnull=True).count() == 3
    with webhook_receiver(SECRET) as receiver, celery_broker(redis_server.url):
        WebhookEndpoint.objects.create(org_id=O2, url=receiver.url, secret=SECRET)
        with celery_worker(redis_server.url, log=tmp_path / "worker.log"):
            assert outbox_sweep()["queued"] == 3
            wait_for(lambda: len(receiver.ids()) == 3, timeout=60, what="the three events")


def test_a_batch_dispatch_sends_a_few_deliveries_itself_and_queues_the_rest(demo, redis_server):
    """A slow endpoint must not hold a whole batch up: past INLINE_DELIVERIES, each delivery
    is a task of its own (here they wait in Redis: no worker runs)."""
    import redis

    from events.outbox import events_emit
    from events.tasks import INLINE_DELIVERIES, events_dispatch

    with webhook_receiver(SECRET) as receiver, celery_broker(redis_server.url):
        WebhookEndpoint.objects.create(org_id=O2, url=receiver.url, secret=SECRET)
        rows = events_emit(events=[(O2, "adjustment", {"n": n}) for n in range(INLINE_DELIVERIES + 2)])
        assert events_dispatch([row.pk for row in rows]) == INLINE_DELIVERIES + 2
        assert len(receiver.ids()) == INLINE_DELIVERIES
    states = sorted(WebhookDelivery.objects.values_list("state", flat=True))
    assert states == ["DELIVERED"] * INLINE_DELIVERIES + ["PENDING"] * 2
    messages = redis.Redis.from_url(redis_server.url).lrange("celery", 0, -1)
    tasks = [json.loads(message)["headers"]["task"] for message in messages]
    assert tasks.count("orgs.delivery_send") == 2, tasks  # (beside the publisher's own dispatch task)


def test_the_sweep_queues_undispatched_events_a_hundred_to_a_task(demo, redis_server, settings):
    import redis

    from events.outbox import SWEEP_EVENTS_PER_TASK, events_emit

    settings.OUTBOX_SWEEP_AFTER_SECONDS = 0
    rows = events_emit(events=[(O2, "adjustment", {"n": n}) for n in range(SWEEP_EVENTS_PER_TASK + 50)])
    OutboxEvent.objects.filter(pk__in=[row.pk for row in rows]).update(dispatched_at=None)
    with celery_broker(redis_server.url):
        client = redis.Redis.from_url(redis_server.url)
        assert outbox_sweep() == {"events": SWEEP_EVENTS_PER_TASK + 50, "deliveries": 0, "queued": 150}
        messages = [json.loads(message) for message in client.lrange("celery", 0, -1)]
    assert [m["headers"]["task"] for m in messages] == ["orgs.events_dispatch"] * 2
    batches = [json.loads(base64.b64decode(m["body"]))[0][0] for m in messages]
    assert sorted(len(batch) for batch in batches) == [50, SWEEP_EVENTS_PER_TASK]
    assert sorted(pk for batch in batches for pk in batch) == sorted(row.pk for row in rows)
