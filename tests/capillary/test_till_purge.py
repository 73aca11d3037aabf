"""`load_scenario --replace` after a day at the till: the purge takes every row the till calls wrote
(points redemptions and reversals, a coupon used, a revocation, a fulfilment change), so a second
`make run` on a database the README's samples have been run against reloads the demo."""

from pathlib import Path

import pytest
from django.core.management import call_command

from backoffice.purge import _org_owned_models, org_purge
from catalogue.models import RewardIssueChange
from tests.capillary.conftest import ASHA_MOBILE, issue_coupon, redeem_body
from tests.catalogue.conftest import ASHA
from wallets.models import PointsRedemption, PointsReversal

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

O2 = 4000876
DEMO = Path(__file__).resolve().parents[2] / "scenarios" / "demo.json"


def _till_day(till, issue):
    redeemed = till.post("/v1.1/points/redeem", redeem_body(points="30"), skip_validation="true").json()
    redemption_id = redeemed["response"]["responses"]["points"]["redemption_id"]
    reverse = {"redemptionId": redemption_id, "pointsToBeReversed": "10",
               "identifier": {"type": "externalId", "value": ASHA}}  # fmt: skip
    assert till.post("/v2/points/reverse", reverse).status_code == 200
    _, code = issue_coupon(issue)
    used = {"root": {"coupon": [{"code": code, "customer": {"mobile": ASHA_MOBILE},
                                 "transaction": {"number": "bill-9", "amount": "450.00"}}]}}  # fmt: skip
    assert till.post("/v1.1/coupon/redeem", used).status_code == 200
    shipped, _ = issue_coupon(issue)
    fulfilment = {"transactions": [{"transactionId": shipped, "fulfillmentStatus": {"name": "SHIPPED"}}]}
    assert till.put("/v1/management/transactions", fulfilment).status_code == 200
    revoked, _ = issue_coupon(issue)
    assert till.post("/v1/user/reward/revoke", {"txnId": revoked}).status_code == 200


def test_the_purge_knows_every_tenant_table_the_till_writes():
    owned = _org_owned_models()
    assert {PointsRedemption, PointsReversal, RewardIssueChange} <= set(owned)
    # dependents first: a reversal before its redemption, a change before its issue
    assert owned.index(PointsReversal) < owned.index(PointsRedemption)


def test_an_org_purged_after_a_till_day_leaves_nothing_behind(demo, till, issue):
    _till_day(till, issue)
    assert PointsReversal.objects.filter(org_id=O2).exists() and RewardIssueChange.objects.filter(org_id=O2).exists()
    org_purge(org_id=O2)
    for model in _org_owned_models():
        assert not model.objects.filter(org_id=O2).exists(), model


def test_the_demo_reloads_with_replace_after_a_till_day(demo, till, issue):
    _till_day(till, issue)
    call_command("load_scenario", str(DEMO), "--replace", verbosity=0)
    assert not PointsRedemption.objects.filter(org_id=O2).exists()
