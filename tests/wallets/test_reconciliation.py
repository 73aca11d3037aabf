"""Reconciliation: mismatches injected by direct SQL (past the services and the triggers) are
found, recorded once, shown in the admin, and never "fixed"; a clean book has no finding."""

import io
import json
import os
import signal
import time
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from catalogue.models import VendorException
from coupons.models import Coupon
from orgs.models import Customer
from tests.processes import sql
from wallets.models import Discrepancy, ReconciliationRun, RedemptionCall, Wallet
from wallets.reconciliation import reconciliation_run

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

URL = "/v2_0/redeemrewards"
KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}
ASHA = "ext_id98543198"


def reconcile() -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("reconcile", stdout=out)
    except SystemExit as exit_:
        return exit_.code, out.getvalue()
    return 0, out.getvalue()


def redeem(client, body) -> dict:
    response = client.post(URL, data=json.dumps({**KEYS, **body}), content_type="application/json")
    assert response.status_code == 200
    return response.json()


def without_triggers():
    """Writes in this transaction skip the books' triggers, as a bad manual fix would (the checks
    the fixtures' writes deferred to commit run first, on the books as they were)."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")
    sql("SET CONSTRAINTS ALL DEFERRED")
    sql("SET LOCAL session_replication_role = replica")


def test_books_written_by_the_services_reconcile_clean(demo, client):
    # given redemptions of every mode
    assert redeem(client, {"UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"]})["statuscode"] == 1
    assert redeem(client, {"UserIdInstore": ASHA, "amount": "5.00"})["statuscode"] == 1
    # when
    code, out = reconcile()
    # then
    assert code == 0, out
    assert "0 open finding(s)" in out
    assert not Discrepancy.objects.exists()


@pytest.mark.books_unbalanced
def test_an_injected_balance_mismatch_is_found_once_and_shown_in_the_admin(demo, admin_client):
    # given a wallet whose cached balance no longer matches its ledger
    wallet = Wallet.objects.filter(org_id=4000876, kind="POINTS").order_by("pk").first()
    without_triggers()
    sql("UPDATE wallets_wallet SET balance = balance + 7 WHERE id = %s", [wallet.pk])
    # when the reconciliation runs twice
    first, out = reconcile()
    second, _ = reconcile()
    # then one finding, reported, exit status 1, and the balance left as it was (nothing fixed)
    assert (first, second) == (1, 1)
    finding = Discrepancy.objects.get()
    assert (finding.check_name, finding.subject) == ("wallet_balance", f"wallets_wallet:{wallet.pk}")
    assert finding.expected == str(wallet.balance + 7) and finding.found == str(wallet.balance)
    assert f"wallets_wallet:{wallet.pk}" in out and "1 open finding(s)" in out
    assert Wallet.objects.get(pk=wallet.pk).balance == wallet.balance + 7
    assert ReconciliationRun.objects.count() == 2
    page = admin_client.get(reverse("admin:wallets_discrepancy_changelist")).content.decode()
    assert f"wallets_wallet:{wallet.pk}" in page


@pytest.mark.books_unbalanced
def test_a_finding_no_longer_found_is_resolved_and_a_new_one_recorded_if_it_comes_back(demo):
    wallet = Wallet.objects.filter(org_id=4000876, kind="POINTS").order_by("pk").first()
    without_triggers()
    sql("UPDATE wallets_wallet SET balance = balance + 1 WHERE id = %s", [wallet.pk])
    reconciliation_run()
    sql("UPDATE wallets_wallet SET balance = balance - 1 WHERE id = %s", [wallet.pk])
    result = reconciliation_run()
    assert result.open_findings == [] and result.run.resolved == 1
    sql("UPDATE wallets_wallet SET balance = balance + 1 WHERE id = %s", [wallet.pk])
    reconciliation_run()
    assert Discrepancy.objects.filter(resolved_at__isnull=True).count() == 1
    assert Discrepancy.objects.count() == 2


def test_a_credited_redemption_without_its_ledger_amount_is_found(demo, client):
    redeem(client, {"UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"]})
    call = RedemptionCall.objects.get(amount__isnull=False)
    RedemptionCall.objects.filter(pk=call.pk).update(amount=Decimal("99.00"))
    [finding] = reconciliation_run(batch_size=1).open_findings
    assert (finding.check_name, finding.expected, finding.found) == ("redemption_ledger", "99.00", "10.00")


def test_a_redemption_whose_rewards_are_not_consumed_is_found(demo, client):
    redeem(client, {"UserIdInstore": ASHA, "rewarddtlids": ["rd-1001", "rd-1002"]})
    sql("UPDATE wallets_earnedreward SET status = 'UNREDEEMED', redeemed_amount = 0 WHERE code = 'rd-1002'")
    [finding] = reconciliation_run().open_findings
    assert (finding.check_name, finding.expected, finding.found) == ("redemption_rewards", "2", "1")


def test_an_issued_coupon_without_a_record_is_found(demo):
    coupon = Coupon.objects.filter(status="AVAILABLE").first()
    holder = Customer.objects.filter(org_id=coupon.org_id).first()
    Coupon.objects.filter(pk=coupon.pk).update(status="ISSUED", holder=holder, issued_at=timezone.now())
    [finding] = reconciliation_run().open_findings
    assert (finding.check_name, finding.subject) == ("coupon_record", f"coupons_coupon:{coupon.pk}")
    assert finding.found == "no redemption call or issue"


def test_a_pool_redemption_reconciles_clean(demo, client):
    assert redeem(client, {"UserIdInstore": ASHA, "poolId": 531})["statuscode"] == 1
    assert reconciliation_run().open_findings == []


def test_points_taken_without_an_issue_record_and_an_unpaid_voucher_are_found(demo):
    wallet = Wallet.objects.filter(org_id=4000876, kind="POINTS").order_by("pk").first()
    from wallets.services import wallet_post

    wallet_post(wallet=wallet, delta=Decimal("-3.00"), kind="ISSUE", reference="NO-RECORD")
    VendorException.objects.create(
        org_id=4000876, customer=wallet.customer, reward_id=350, quantity=1, points="10.00", voucher="V", reason="x"
    )
    findings = {f.check_name for f in reconciliation_run().open_findings}
    assert findings == {"ledger_issue_unrecorded", "vendor_voucher_unpaid"}


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_reconciliation_leaves_nothing_and_the_task_runs_again_to_completion(demo, tmp_path):
    """SIGKILL of the worker process running the task (acks_late + reject_on_worker_lost: the
    message goes back to Redis and runs again); the killed run's single transaction left nothing."""
    from tests.processes import RedisServer, celery_broker, celery_worker, children, wait_for
    from wallets.reconciliation import _RUN_LOCK
    from wallets.tasks import reconcile as reconcile_task

    # given a mismatch to find, and a worker whose run pauses after each batch (so it can be killed mid-way)
    wallet = Wallet.objects.filter(org_id=4000876, kind="POINTS").order_by("pk").first()
    with transaction.atomic():
        sql("SET LOCAL session_replication_role = replica")
        sql("UPDATE wallets_wallet SET balance = balance + 7 WHERE id = %s", [wallet.pk])

    def run_in_progress() -> bool:
        held = sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted", [_RUN_LOCK])
        return held[0][0] > 0

    redis = RedisServer()
    redis.start()
    log = tmp_path / "worker.log"
    env = {"TEST_RECONCILE_BATCH_PAUSE": "0.2", "RECONCILE_BATCH_SIZE": "200"}
    try:
        with celery_broker(redis.url), celery_worker(redis.url, log=log, app="tests.worker_hooks", **env) as worker:
            reconcile_task.apply_async()
            wait_for(run_in_progress, timeout=30, what="the reconciliation to start")
            time.sleep(0.5)
            # when the process running it is killed
            [child] = children(worker.pid)
            os.kill(child, signal.SIGKILL)
            # then nothing of the killed run is there
            assert not Discrepancy.objects.exists() and not ReconciliationRun.objects.exists()
            # and the task runs again, to completion
            wait_for(lambda: ReconciliationRun.objects.exists(), timeout=120, what="the re-run to complete")
    finally:
        redis.stop()
    assert "WorkerLostError" in log.read_text() or "SIGKILL" in log.read_text()
    assert ReconciliationRun.objects.count() == 1
    finding = Discrepancy.objects.get()
    assert finding.subject == f"wallets_wallet:{wallet.pk}" and finding.resolved_at is None
    # and a second run records it once, not twice
    reconciliation_run()
    assert Discrepancy.objects.count() == 1
    # (the test leaves the books as it found them: the flush at teardown checks them)
    with transaction.atomic():
        sql("SET LOCAL session_replication_role = replica")
        sql("UPDATE wallets_wallet SET balance = balance - 7 WHERE id = %s", [wallet.pk])


def test_a_vendor_call_left_open_long_after_it_went_stale_is_found(demo):
    from datetime import timedelta

    from catalogue.models import VendorCall

    customer = Customer.objects.get(org_id=4000876, external_id=ASHA)
    call = VendorCall.objects.create(
        org_id=4000876, customer=customer, reward_id=350, requested_quantity=1, quantity=1, points="10.00",
        state="ANSWERED", voucher="V-1", stale_after=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    [finding] = reconciliation_run().open_findings
    assert (finding.check_name, finding.subject, finding.found) == (
        "vendor_call_stuck",
        f"catalogue_vendorcall:{call.pk}",
        "ANSWERED",
    )


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_take_turns_and_record_each_finding_once(demo):
    import threading

    from django.db import connection as this_thread_connection

    wallet = Wallet.objects.filter(org_id=4000876, kind="POINTS").order_by("pk").first()
    with transaction.atomic():
        sql("SET LOCAL session_replication_role = replica")
        sql("UPDATE wallets_wallet SET balance = balance + 7 WHERE id = %s", [wallet.pk])
    errors, start = [], threading.Barrier(3)

    def run():
        try:
            start.wait()
            reconciliation_run(batch_size=50)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            this_thread_connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert ReconciliationRun.objects.count() == 3 and Discrepancy.objects.count() == 1
    with transaction.atomic():
        sql("SET LOCAL session_replication_role = replica")
        sql("UPDATE wallets_wallet SET balance = balance - 7 WHERE id = %s", [wallet.pk])


def test_reversals_revocations_and_adjustments_by_staff_reconcile_clean_and_send_events(demo, client, admin_user):
    """What staff do through the back-office services keeps the books whole, and each change
    writes its event in its own transaction."""
    from catalogue.models import RewardIssue
    from catalogue.revocation import reward_issue_revoke
    from orgs.models import OutboxEvent
    from tests.catalogue.conftest import ISSUE_URL, TILL, basic
    from wallets.reversal import redemption_reverse
    from wallets.services import wallet_adjust

    assert redeem(client, {"UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"]})["statuscode"] == 1
    assert redeem(client, {"UserIdInstore": ASHA, "amount": "5.00"})["statuscode"] == 1
    body = {"externalId": ASHA, "rewards": [{"rewardId": 351}, {"rewardId": 352}]}
    issued = client.post(
        f"{ISSUE_URL}?username={TILL}&skip_validation=true",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": basic()},
    )
    assert issued.status_code == 200, issued.content
    # when staff reverse both redemptions, revoke the coupon reward and adjust a wallet
    for call in RedemptionCall.objects.filter(status_code=1).order_by("-id"):
        redemption_reverse(redemption_call_id=call.pk, reason="customer asked", staff_user=admin_user)
    reward_issue_revoke(
        reward_issue_id=RewardIssue.objects.get(reward_id=351).pk, reason="wrong reward", staff_user=admin_user
    )
    wallet = Wallet.objects.get(org_id=4000876, kind="POINTS", customer__external_id=ASHA)
    wallet_adjust(wallet_id=wallet.pk, delta=Decimal("7.50"), reason="goodwill", staff_user=admin_user)
    # then the books reconcile clean
    code, out = reconcile()
    assert code == 0, out
    kinds = list(OutboxEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds[-4:] == ["reversal", "reversal", "reversal", "adjustment"]
    revoked = OutboxEvent.objects.filter(kind="reversal", payload__of="issue").get()
    assert revoked.payload["points"] == "40.00" and revoked.payload["reason"] == "wrong reward"
    adjusted = OutboxEvent.objects.get(kind="adjustment")
    assert adjusted.payload["delta"] == "7.50" and adjusted.payload["staff"] == admin_user.get_username()


def test_a_reversal_that_did_not_take_back_its_credits_is_found(demo, client, admin_user):
    from wallets.models import RedemptionReversal
    from wallets.reversal import redemption_reverse

    assert redeem(client, {"UserIdInstore": ASHA, "amount": "5.00"})["statuscode"] == 1
    call = RedemptionCall.objects.get(status_code=1)
    reversal = redemption_reverse(redemption_call_id=call.pk, reason="test", staff_user=admin_user)
    with transaction.atomic():
        without_triggers()
        sql("UPDATE wallets_redemptionreversal SET amount = 6.00 WHERE id = %s", [reversal.pk])
    code, out = reconcile()
    assert code == 1 and "reversal_ledger" in out, out
    assert Discrepancy.objects.get().subject == f"wallets_redemptionreversal:{reversal.pk}"
    assert RedemptionReversal.objects.get().amount == Decimal("6.00")  # reported, not fixed


@pytest.mark.books_unbalanced
def test_the_books_check_after_every_test_finds_a_balance_its_ledger_does_not_explain(demo):
    from tests.conftest import _unbalanced_wallets

    # given the books as the services wrote them
    assert _unbalanced_wallets() == []
    # when a balance is changed past the services and the triggers
    wallet = Wallet.objects.get(kind="POINTS", customer__external_id=ASHA, org_id=4000876)
    without_triggers()
    sql("UPDATE wallets_wallet SET balance = balance + 7 WHERE id = %s", [wallet.pk])
    # then the check that runs after every database test names it
    assert _unbalanced_wallets() == [(wallet.pk, wallet.balance + 7, wallet.balance)]
