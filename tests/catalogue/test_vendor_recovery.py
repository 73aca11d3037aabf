"""Vendor recovery: the issuing process is killed between the partner's success and the points
deduction (a real subprocess, a real partner HTTP server); the recovery job then takes the
points and records the issue, or flags the voucher for staff. Never a voucher for nothing."""

import json
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalogue.models import IssueRequest, RewardIssue, VendorCall, VendorException
from catalogue.vendor import vendor_call_settle, vendor_calls_recover
from tests.catalogue.conftest import ASHA, ISSUE_URL, TILL, VOUCHER, assert_ledgers_add_up, basic, points
from tests.processes import ROOT, worker_env
from wallets.models import Wallet
from wallets.reconciliation import reconciliation_run
from wallets.services import wallet_post

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BODY = {"externalId": ASHA, "rewards": [{"rewardId": 350, "paymentConfig": {"redemptionValue": 5}, "requestId": "r-1"}]}
CLIENT = """
import os
import sys
import django
django.setup()
from django.conf import settings
from django.test import Client
from catalogue import vendor
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # as the tests hash till passwords
if len(sys.argv) > 4 and sys.argv[4]:  # die at this seam of the vendor path, as a killed process would
    setattr(vendor, sys.argv[4], lambda: os._exit(137))
response = Client().post(sys.argv[1], sys.argv[2], content_type="application/json", HTTP_AUTHORIZATION=sys.argv[3])
print(response.status_code)
"""


# Where the process dies: the seams of catalogue/vendor.py the subprocess replaces.
CRASH_SEAMS = {"vendor_answer_unrecorded": "partner_answered", "after_vendor": "answer_recorded"}


def issue_in_a_process(*, crash_at: str | None) -> subprocess.CompletedProcess:
    """POST the issue call from another Python process on the test database."""
    seam = CRASH_SEAMS[crash_at] if crash_at else ""
    url = f"{ISSUE_URL}?username={TILL}&skip_validation=true"
    return subprocess.run(
        [sys.executable, "-c", CLIENT, url, json.dumps(BODY), basic(), seam],
        cwd=ROOT,
        env=worker_env("", DJANGO_SETTINGS_MODULE="rewards_site.settings"),
        capture_output=True,
        timeout=60,
    )


def later():
    return timezone.now() + timedelta(hours=1)


def test_killed_after_the_partner_answered_the_recovery_takes_the_points_and_records_the_issue(demo, vendor):
    # given a process killed right after the partner issued the voucher
    vendor.route()
    crashed = issue_in_a_process(crash_at="after_vendor")
    assert crashed.returncode == 137, crashed.stderr.decode()[-2000:]
    assert len(vendor.requests) == 1
    call = VendorCall.objects.get()
    assert (call.state, call.voucher) == ("ANSWERED", VOUCHER)
    assert points(ASHA) == Decimal("500.00") and not RewardIssue.objects.exists()
    # when the recovery job runs before the call is stale: nothing; after: it settles it
    assert vendor_calls_recover() == {"completed": 0, "flagged": 0, "abandoned": 0}
    assert vendor_calls_recover(now=later()) == {"completed": 1, "flagged": 0, "abandoned": 0}
    # then the points are taken once, the issue recorded with the voucher, the requestId done
    assert points(ASHA) == Decimal("490.00")
    issue = RewardIssue.objects.get()
    assert (issue.voucher, issue.points, issue.request_id) == (VOUCHER, Decimal("10.00"), "r-1")
    assert IssueRequest.objects.get().state == "DONE"
    assert VendorCall.objects.get().state == "DONE"
    assert_ledgers_add_up()
    # a live call that comes back after the recovery (too slow) answers with that issue, pays nothing more
    assert vendor_call_settle(call_pk=call.pk).pk == issue.pk
    assert points(ASHA) == Decimal("490.00")
    assert reconciliation_run().open_findings == []
    # and a retry of the call answers with that issue, without calling the partner again
    again = issue_in_a_process(crash_at=None)
    assert again.stdout.strip() == b"200"
    assert len(vendor.requests) == 1 and points(ASHA) == Decimal("490.00")
    assert vendor_calls_recover(now=later()) == {"completed": 0, "flagged": 0, "abandoned": 0}


def test_killed_after_the_partner_answered_with_the_points_gone_the_voucher_is_flagged(demo, vendor):
    vendor.route()
    assert issue_in_a_process(crash_at="after_vendor").returncode == 137
    wallet = Wallet.objects.get(org_id=4000876, kind="POINTS", customer__external_id=ASHA)
    wallet_post(wallet=wallet, delta=-wallet.balance, kind="ADJUSTMENT", reference="spent")
    # when
    assert vendor_calls_recover(now=later()) == {"completed": 0, "flagged": 1, "abandoned": 0}
    # then a voucher without points is on record for staff, and reported by the reconciliation
    exception = VendorException.objects.get()
    assert exception.voucher == VOUCHER and not exception.resolved
    assert VendorCall.objects.get().state == "FLAGGED" and not RewardIssue.objects.exists()
    assert not IssueRequest.objects.exists()  # the requestId may be retried
    assert {f.check_name for f in reconciliation_run().open_findings} == {"vendor_voucher_unpaid"}


def test_a_call_that_died_before_the_answer_was_recorded_is_abandoned_and_its_request_id_released(demo, vendor):
    # given a vendor call left PENDING (the process died while the partner was being called)
    vendor.route()
    vendor.mode = "slow"
    vendor.slow_seconds = 3
    process = subprocess.Popen(
        [sys.executable, "-c", CLIENT, f"{ISSUE_URL}?username={TILL}&skip_validation=true", json.dumps(BODY), basic()],
        cwd=ROOT,
        env=worker_env("", DJANGO_SETTINGS_MODULE="rewards_site.settings"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    from tests.processes import wait_for

    wait_for(lambda: vendor.requests, timeout=30, what="the partner call")
    process.kill()
    process.wait(10)
    assert VendorCall.objects.get().state == "PENDING"
    # when
    assert vendor_calls_recover(now=later()) == {"completed": 0, "flagged": 0, "abandoned": 1}
    # then nothing was paid, nothing handed out, and the requestId is free again
    assert VendorCall.objects.get().state == "ABANDONED"
    assert not IssueRequest.objects.exists() and not RewardIssue.objects.exists()
    assert points(ASHA) == Decimal("500.00")


def test_a_retry_after_a_call_killed_mid_call_is_flagged_for_staff_as_maybe_a_second_voucher(demo, vendor, client):
    # given a process killed after the partner handed out its voucher, before the answer was recorded
    vendor.route()
    crashed = issue_in_a_process(crash_at="vendor_answer_unrecorded")
    assert crashed.returncode == 137, crashed.stderr.decode()[-2000:]
    assert VendorCall.objects.get().state == "PENDING"
    assert vendor_calls_recover(now=later()) == {"completed": 0, "flagged": 0, "abandoned": 1}
    abandoned = VendorCall.objects.get()
    assert abandoned.state == "ABANDONED"
    # when the client retries with the same requestId (the partner does not de-duplicate it)
    again = issue_in_a_process(crash_at=None)
    # then the reward is issued and paid once, but the new call is flagged for staff
    assert again.stdout.strip() == b"200", again.stderr.decode()[-2000:]
    assert [request["requestId"] for request in vendor.requests] == ["r-1", "r-1"]
    assert points(ASHA) == Decimal("490.00") and RewardIssue.objects.count() == 1
    retry = VendorCall.objects.exclude(pk=abandoned.pk).get()
    assert (retry.state, retry.retry_of_id) == ("DONE", abandoned.pk)
    assert "a voucher may exist at the partner" in retry.staff_flag
    exception = VendorException.objects.get()
    assert (exception.kind, exception.vendor_call_id, exception.request_id) == ("MAYBE_TWICE", retry.pk, "r-1")
    assert exception.voucher == VOUCHER and not exception.resolved
    assert "a voucher may exist at the partner" in exception.reason
    # and staff see it: in the admin (list and filter) and in the reconciliation's findings
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("staff", "staff@example.com", "pw"))
    flagged = client.get("/admin/catalogue/vendorcall/", {"staff_flag__isempty": "0"}).content.decode()
    assert f"/admin/catalogue/vendorcall/{retry.pk}/change/" in flagged
    assert f"/admin/catalogue/vendorcall/{abandoned.pk}/change/" not in flagged
    assert "a voucher may exist at the partner" in flagged
    exceptions = client.get("/admin/catalogue/vendorexception/", {"kind__exact": "MAYBE_TWICE"}).content.decode()
    assert f"/admin/catalogue/vendorexception/{exception.pk}/change/" in exceptions
    assert {f.check_name for f in reconciliation_run().open_findings} == {"vendor_voucher_maybe_twice"}
    assert_ledgers_add_up()


@pytest.mark.parametrize(("first", "flagged"), [("slow", True), ("error", False), ("empty", False)])
def test_a_retry_after_a_vendor_timeout_is_flagged_and_after_a_refusal_is_not(demo, vendor, issue, first, flagged):
    """A timeout may have reached the partner (it may have issued a voucher nobody recorded); an
    HTTP error or an answer without a voucher is the partner's refusal."""
    vendor.route(timeout_ms=300)
    vendor.mode = first
    assert issue(BODY).json()["rewards"][0]["status"]["code"] == 8003
    vendor.mode = "ok"
    assert issue(BODY).json()["status"]["code"] == 200
    assert len(vendor.requests) == 2 and points(ASHA) == Decimal("490.00")
    failed, retry = VendorCall.objects.order_by("pk")
    assert (failed.state, failed.partner_may_hold_voucher) == ("FAILED", flagged)
    assert (retry.state, retry.retry_of_id is not None, bool(retry.staff_flag)) == ("DONE", flagged, flagged)
    assert VendorException.objects.filter(kind="MAYBE_TWICE", vendor_call=retry).exists() == flagged
