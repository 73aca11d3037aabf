"""The books of the till: every points movement a ledger entry with a reference staff can follow,
and the reconciliation checks of the new kinds (clean after the services; mismatches injected by
direct SQL are found)."""

from decimal import Decimal

import pytest

from catalogue.models import RewardIssue
from tests.capillary.conftest import issue_coupon, redeem_body
from tests.catalogue.conftest import ASHA
from tests.processes import sql
from wallets.models import LedgerEntry, PointsRedemption, Wallet
from wallets.reconciliation import reconciliation_run
from wallets.services import wallet_post

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _till_day(till, issue):
    """A redemption, a partial reversal, a coupon used, a revocation."""
    redeemed = till.post("/v1.1/points/redeem", redeem_body(points="30"), skip_validation="true").json()
    redemption_id = redeemed["response"]["responses"]["points"]["redemption_id"]
    identifier = {"type": "externalId", "value": ASHA}
    body = {"redemptionId": redemption_id, "pointsToBeReversed": "10", "identifier": identifier}
    assert till.post("/v2/points/reverse", body).status_code == 200
    transaction_id, _ = issue_coupon(issue)
    assert till.post("/v1/user/reward/revoke", {"txnId": transaction_id}).status_code == 200
    return redemption_id, transaction_id


def test_the_till_services_books_reconcile_clean(demo, till, issue):
    _till_day(till, issue)
    assert reconciliation_run(batch_size=2).open_findings == []


def test_a_reversal_beyond_its_redemption_is_found(demo, till, issue):
    redemption_id, _ = _till_day(till, issue)
    sql("UPDATE wallets_pointsredemption SET reversed_points = 5 WHERE reference = %s", [redemption_id])
    [finding] = reconciliation_run().open_findings
    assert finding.check_name == "till_reversed_within_redemption"
    assert (finding.expected, finding.found) == ("5.00", "10.00")


def test_a_redemption_whose_ledger_entry_differs_is_found(demo, till, issue):
    redemption_id, _ = _till_day(till, issue)
    sql("UPDATE wallets_pointsredemption SET points = 31 WHERE reference = %s", [redemption_id])
    [finding] = reconciliation_run().open_findings
    assert (finding.check_name, finding.expected, finding.found) == ("till_redemption_ledger", "-31.00", "-30.00")


def test_a_revoked_issue_refunded_twice_is_found(demo, till, issue):
    _, transaction_id = _till_day(till, issue)
    issue_row = RewardIssue.objects.get(pk=transaction_id)
    wallet = Wallet.objects.get(org_id=issue_row.org_id, kind="POINTS", customer_id=issue_row.customer_id)
    reference = f"revoke:{issue_row.points_reference_id}"
    wallet_post(wallet=wallet, delta=Decimal("40"), kind="REVERSAL", reference=reference)
    findings = {f.check_name for f in reconciliation_run().open_findings}
    assert "revocation_refunded_once" in findings


def test_a_till_ledger_entry_without_its_record_is_found(demo):
    wallet = Wallet.objects.filter(org_id=4000876, kind="POINTS").order_by("pk").first()
    wallet_post(wallet=wallet, delta=Decimal("-1"), kind="POINTS_REDEEM", reference="points-redeem:GHOST")
    [finding] = reconciliation_run().open_findings
    assert finding.check_name == "ledger_till_unrecorded"


def test_every_till_ledger_entry_names_its_redemption_till_and_transaction(demo, till, issue):
    redemption_id, _ = _till_day(till, issue)
    redemption = PointsRedemption.objects.get(reference=redemption_id)
    taken = LedgerEntry.objects.get(pk=redemption.ledger_entry_id)
    assert taken.reference == f"points-redeem:{redemption_id}" and "bill-1" in taken.memo and "o2.till" in taken.memo
    given = LedgerEntry.objects.get(kind="POINTS_REVERSE")
    assert given.reference == f"points-reverse:{redemption_id}" and "o2.till" in given.memo


def test_staff_find_a_till_redemption_and_a_coupon_by_their_references(demo, till, issue, admin_client):
    redemption_id, _ = _till_day(till, issue)
    _, code = issue_coupon(issue)
    body = {"root": {"coupon": {"code": code, "customer": {"external_id": ASHA}, "transaction": {"number": "bill-c9"}}}}
    assert till.post("/v1.1/coupon/redeem", body).status_code == 200
    for term in (f"points-redeem:{redemption_id}", f"points-reverse:{redemption_id}", "bill-1"):
        page = admin_client.get("/admin/wallets/pointsredemption/", {"q": term}).content.decode()
        assert redemption_id in page, term
    page = admin_client.get("/admin/wallets/pointsreversal/", {"q": redemption_id}).content.decode()
    assert "10.00" in page
    assert code in admin_client.get("/admin/coupons/coupon/", {"q": "bill-c9"}).content.decode()


def test_customer_360_shows_till_redemptions_reversals_coupon_use_and_revocations(demo, till, issue, admin_client):
    from orgs.models import Customer

    redemption_id, transaction_id = _till_day(till, issue)
    _, code = issue_coupon(issue)
    txn = {"number": "bill-c9", "amount": "99.00"}
    body = {"root": {"coupon": {"code": code, "customer": {"external_id": ASHA}, "transaction": txn}}}
    assert till.post("/v1.1/coupon/redeem", body).status_code == 200
    asha = Customer.objects.get(org_id=4000876, external_id=ASHA)
    page = admin_client.get(f"/admin/orgs/customer/{asha.pk}/360/").content.decode()
    assert redemption_id in page and "+10.00" in page  # the redemption and its reversal
    assert "transaction bill-c9 (99.00)" in page  # the coupon used at the till
    assert "by till:o2.till: 40.00 points back" in page  # the revocation
