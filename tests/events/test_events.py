"""The outbox and its deliveries, task by task (the tasks are called directly): one event per
change in the change's transaction, the back-off 5/30/120/360 minutes, the dead letter and
"retry now", the sweep, and the signature a receiver checks."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from backoffice.housekeeping import records_prune
from events.outbox import event_body, event_dispatch, event_emit, outbox_prune, outbox_sweep, signature
from events.tasks import delivery_send
from orgs.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from tests.processes import webhook_receiver
from wallets.models import IdempotencyKey

pytestmark = pytest.mark.django_db

O2 = 4000876
SECRET = "whsec-unit"


def dispatch_and_send(event: OutboxEvent) -> list:
    return [delivery_send(pk) for pk in event_dispatch(event_pk=event.pk)]


def make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_an_event_exists_only_if_its_transaction_commits(demo):
    with pytest.raises(RuntimeError), transaction.atomic():
        event_emit(org_id=O2, kind="adjustment", payload={"x": 1})
        raise RuntimeError
    assert not OutboxEvent.objects.exists()
    with pytest.raises(ValueError):
        event_emit(org_id=O2, kind="nonsense", payload={})


def test_the_signature_is_hmac_sha256_of_the_raw_body_with_the_endpoint_secret(demo):
    import hashlib
    import hmac

    endpoint = WebhookEndpoint.objects.create(org_id=O2, url="http://127.0.0.1:9/", secret=SECRET, securekey="k")
    event = event_emit(org_id=O2, kind="adjustment", payload={"amount": "1.00"})
    body = event_body(event=OutboxEvent.objects.get(pk=event.pk), endpoint=endpoint)
    assert (
        signature(secret=SECRET, body=body) == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    )
    document = json.loads(body)
    assert document == {
        "id": str(event.event_id),
        "kind": "adjustment",
        "org": O2,
        "created_at": document["created_at"],
        "securekey": "k",
        "data": {"amount": "1.00"},
    }


def test_failures_back_off_5_30_120_360_minutes_then_dead_letter_and_retry_now_sends_again(demo, admin_client):
    with webhook_receiver(SECRET) as receiver:
        receiver.status = 503
        WebhookEndpoint.objects.create(org_id=O2, url=receiver.url, secret=SECRET)
        event = event_emit(org_id=O2, kind="adjustment", payload={})
        # when every attempt fails
        assert dispatch_and_send(event) == [False]
        delivery = WebhookDelivery.objects.get()
        waits = []
        for _ in range(4):
            delivery.refresh_from_db()
            waits.append(round((delivery.next_attempt_at - timezone.now()).total_seconds() / 60))
            assert delivery_send(delivery.pk) is False, "not due yet: nothing is sent"
            make_due(delivery)
            assert delivery_send(delivery.pk) is False
        # then
        delivery.refresh_from_db()
        assert waits == [5, 30, 120, 360]
        assert (delivery.state, delivery.attempts, delivery.last_status) == ("DEAD", 5, 503)
        assert len(receiver.received) == 5 and {event_id for event_id in receiver.ids()} == {str(event.event_id)}
        assert "DEAD" in admin_client.get(reverse("admin:orgs_webhookdelivery_changelist")).content.decode()
        # when staff retry it from the admin and the receiver is back
        receiver.status = 200
        url = reverse("admin:orgs_webhookdelivery_changelist")
        admin_client.post(url, {"action": "retry_now", "_selected_action": [delivery.pk]})
        delivery.refresh_from_db()
        assert (delivery.state, delivery.last_status) == ("DELIVERED", 200)  # eager: sent at once


def test_the_sweep_queues_undispatched_events_and_due_deliveries(demo, settings):
    settings.OUTBOX_SWEEP_AFTER_SECONDS = 0
    with webhook_receiver(SECRET) as receiver:
        WebhookEndpoint.objects.create(org_id=O2, url=receiver.url, secret=SECRET)
        WebhookEndpoint.objects.create(org_id=O2, url=receiver.url, secret=SECRET, kinds=["low_stock"])
        WebhookEndpoint.objects.create(org_id=O2, url=receiver.url, secret=SECRET, active=False)
        event = event_emit(org_id=O2, kind="adjustment", payload={})  # on_commit never runs here
        assert outbox_sweep() == {"events": 1, "deliveries": 0, "queued": 1}
        assert receiver.ids() == [str(event.event_id)], "one endpoint wants it"
        assert outbox_sweep() == {"events": 0, "deliveries": 0, "queued": 0}


def test_low_stock_is_sent_once_per_crossing(demo):
    from coupons.models import Coupon, CouponPool
    from coupons.services import pools_check_stock

    pool = CouponPool.objects.get(pk=531)
    available = Coupon.objects.filter(pool=pool, status="AVAILABLE").count()
    CouponPool.objects.filter(pk=pool.pk).update(low_stock_threshold=available + 1)
    assert 531 in pools_check_stock()
    assert 531 not in pools_check_stock(), "still low: no second event"
    [event] = OutboxEvent.objects.filter(kind="low_stock", payload__poolId=531)
    assert event.payload["available"] == available and event.payload["threshold"] == available + 1
    CouponPool.objects.filter(pk=pool.pk).update(low_stock_threshold=available)  # refilled above its level
    assert 531 not in pools_check_stock()
    assert CouponPool.objects.get(pk=531).low_stock_since is None
    CouponPool.objects.filter(pk=pool.pk).update(low_stock_threshold=available + 1)
    assert 531 in pools_check_stock(), "a new crossing, a new event"


def test_coupons_past_their_expiry_become_expired(demo):
    from coupons.models import Coupon
    from coupons.services import coupons_expire

    past, future = timezone.now() - timedelta(minutes=1), timezone.now() + timedelta(days=1)
    ids = list(Coupon.objects.filter(status="AVAILABLE").values_list("pk", flat=True)[:3])
    Coupon.objects.filter(pk=ids[0]).update(expires_at=past)
    Coupon.objects.filter(pk=ids[1]).update(expires_at=future)
    holder = Coupon.objects.get(pk=ids[2]).pool.org.customers.first()
    Coupon.objects.filter(pk=ids[2]).update(expires_at=past, status="ISSUED", holder=holder, issued_at=past)
    assert coupons_expire(batch=1) == 2
    statuses = dict(Coupon.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert statuses == {ids[0]: "EXPIRED", ids[1]: "AVAILABLE", ids[2]: "EXPIRED"}
    assert Coupon.objects.get(pk=ids[2]).holder == holder


def test_housekeeping_prunes_expired_keys_old_calls_and_delivered_events_only(demo, settings):
    old = timezone.now() - timedelta(days=400)
    IdempotencyKey.objects.create(org_id=O2, key="old", body_digest="0", created_at=old)
    IdempotencyKey.objects.create(org_id=O2, key="new", body_digest="0", created_at=timezone.now())
    endpoint = WebhookEndpoint.objects.create(org_id=O2, url="http://127.0.0.1:9/", secret=SECRET)
    delivered, dead, undispatched = (event_emit(org_id=O2, kind="adjustment", payload={}) for _ in range(3))
    OutboxEvent.objects.update(created_at=old)
    OutboxEvent.objects.exclude(pk=undispatched.pk).update(dispatched_at=old)
    WebhookDelivery.objects.create(
        org_id=O2, event=delivered, endpoint=endpoint, next_attempt_at=old, state="DELIVERED"
    )
    WebhookDelivery.objects.create(org_id=O2, event=dead, endpoint=endpoint, next_attempt_at=old, state="DEAD")
    # when
    pruned = records_prune()
    # then
    assert pruned["idempotency_keys"] == 1 and list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {dead.pk, undispatched.pk}
    assert outbox_prune(older_than=timedelta(days=1)) == 0


def test_the_default_schedules_are_installed_once_and_staff_changes_are_kept(db):
    from django_celery_beat.models import PeriodicTask

    from core.schedules import DEFAULT_SCHEDULES, schedules_install
    from rewards_site.celery import app

    # given the migration's schedules (a flushed test database may have lost them)
    schedules_install()
    PeriodicTask.objects.filter(task="wallets.reconcile").update(enabled=False)
    # when installed again
    assert schedules_install() == []
    # then every job has its schedule, staff's change stays, and each names a registered task
    tasks = dict(PeriodicTask.objects.values_list("task", "enabled"))
    assert {spec["task"] for spec in DEFAULT_SCHEDULES} <= set(tasks)
    assert tasks["wallets.reconcile"] is False
    app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    assert set(tasks) <= set(app.tasks)


def test_the_admin_runs_the_reconciliation_on_demand(demo, admin_client):
    from wallets.models import ReconciliationRun

    url = reverse("admin:wallets_discrepancy_reconcile")
    assert admin_client.get(url).status_code == 405
    page = admin_client.get(reverse("admin:wallets_discrepancy_changelist")).content.decode()
    assert url in page and "Run reconciliation now" in page
    response = admin_client.post(url, follow=True)
    assert response.status_code == 200
    assert ReconciliationRun.objects.count() == 1  # eager here; queued for a worker in production
    assert "Reconciliation queued" in response.content.decode()


def test_an_org_purge_takes_its_events_deliveries_findings_and_vendor_calls(demo):
    from backoffice.purge import _org_owned_models, org_purge

    endpoint = WebhookEndpoint.objects.create(org_id=O2, url="http://127.0.0.1:9/", secret=SECRET)
    event = event_emit(org_id=O2, kind="adjustment", payload={})
    WebhookDelivery.objects.create(org_id=O2, event=event, endpoint=endpoint, next_attempt_at=timezone.now())
    org_purge(org_id=O2)
    for model in _org_owned_models():
        assert not model.objects.filter(org_id=O2).exists(), model


def test_each_redemption_and_issued_reward_writes_one_event_and_a_refusal_none(demo, client):
    from tests.catalogue.conftest import ISSUE_URL, TILL, basic

    keys = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey", "UserIdInstore": "ext_id98543198"}

    def redeem(**body):
        response = client.post("/v2_0/redeemrewards", json.dumps({**keys, **body}), content_type="application/json")
        return response.json()["statuscode"]

    assert redeem(rewarddtlids=["rd-1001"]) == 1
    assert redeem(rewarddtlids=["rd-1001"]) == 57  # refused: no event
    assert redeem(amount="5.00") == 1
    assert redeem(poolId=531) == 1
    body = {"externalId": "ext_id98543198", "rewards": [{"rewardId": 352}, {"rewardId": 999_999}]}
    url = f"{ISSUE_URL}?username={TILL}&skip_validation=true"
    client.post(url, json.dumps(body), content_type="application/json", headers={"Authorization": basic()})
    body = {"externalId": "ext_id98543198", "rewards": [{"rewardId": 352}]}
    response = client.post(url, json.dumps(body), content_type="application/json", headers={"Authorization": basic()})
    assert response.status_code == 200
    events = list(OutboxEvent.objects.order_by("pk"))
    assert [e.kind for e in events] == ["redemption", "redemption", "redemption", "issue"]
    assert [e.payload.get("amount") for e in events[:2]] == ["10.00", "5.00"]
    assert events[2].payload["coupon"]["poolId"] == 531
    issued = events[3].payload
    assert issued["transactionId"] == response.json()["rewards"][0]["transactionId"] and issued["points"] == "25.00"


def test_an_endpoint_names_only_known_event_kinds(demo, admin_client):
    url = reverse("admin:orgs_webhookendpoint_add")
    form = {"org": O2, "url": "https://hooks.example.com/rewards", "secret": "s", "securekey": "", "active": "on"}
    response = admin_client.post(url, {**form, "kinds": '["redemption", "refund"]'})
    assert response.status_code == 200 and not WebhookEndpoint.objects.exists()
    response = admin_client.post(url, {**form, "kinds": '["redemption", "low_stock"]'})
    assert response.status_code == 302
    assert WebhookEndpoint.objects.get().kinds == ["redemption", "low_stock"]
