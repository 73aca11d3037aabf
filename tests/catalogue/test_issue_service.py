"""The Issue Reward application service (``catalogue.services.rewards_issue``) without HTTP: typed
input in, a domain outcome out (each reward issued or failed, and why), no Capillary code or
body; and the one planner, whose rows are the same on both issue paths."""

from decimal import Decimal

import pytest

from catalogue.calls import IssueCallIn, RewardFailed, RewardIssued, RewardLineIn
from catalogue.errors import CustomerNotFound, InsufficientPoints, RewardUnavailable
from catalogue.models import CatalogueReward, RewardIssue
from catalogue.services import rewards_issue
from catalogue.validation_codes import validation_code_issue
from orgs.models import Customer
from tests.catalogue.conftest import ASHA, O2, points

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("issue_path")]

FIELDS = ["org_id", "customer_id", "group_id", "reward_id", "payment_config_id", "quantity", "points", "till_username"]
FIELDS += ["request_id", "transaction_number", "notes", "brand", "custom_fields", "fulfillment_status", "status"]


def line(reward_id: int, **fields) -> RewardLineIn:
    return RewardLineIn(reward_id=reward_id, quantity=1, requested_quantity=1, **fields)


def issue(*lines, skip_validation=True, external_id=ASHA, **call_fields):
    call = IssueCallIn(rewards=list(lines), external_id=external_id, transaction_number="T-1", **call_fields)
    return rewards_issue(
        org_id=O2, till_username="o2.till", scope=frozenset({O2}), call=call, skip_validation=skip_validation
    )


def test_it_reports_each_reward_issued_or_failed_and_why(demo):
    CatalogueReward.objects.filter(pk=353).update(enabled=False)
    outcome = issue(line(352), line(353), line(351), event_log_id="ev-1")
    issued, disabled, coupon = outcome.rewards
    assert isinstance(issued, RewardIssued) and issued.issue.reward_id == 352
    assert isinstance(disabled, RewardFailed) and isinstance(disabled.error, RewardUnavailable)
    assert (disabled.reward_id, disabled.org_id, disabled.requested_quantity) == (353, O2, 1)
    assert isinstance(coupon, RewardIssued) and len(coupon.issue.coupon_codes) == 1
    assert (outcome.issued, outcome.event_log_id) == (2, "ev-1")
    assert points(ASHA) == Decimal("435.00")  # 500 - 25 - 40: points move only for what was issued


def test_a_call_that_fails_as_a_whole_raises_and_issues_nothing(demo):
    with pytest.raises(CustomerNotFound):
        issue(line(352), external_id="nobody")
    with pytest.raises(InsufficientPoints):
        issue(*[line(351)] * 13)  # 13 x 40 points, 500 there
    assert not RewardIssue.objects.exists() and points(ASHA) == Decimal("500.00")


def test_both_paths_plan_the_same_row(demo):
    # the one-transaction path (skip_validation) and the reward-by-reward path (a validation code)
    coupon = line(351, custom_fields={"giftMessage": "for you"}, fulfillment_status="BOOKED")
    together = issue(coupon, notes="n").rewards[0].issue
    code, _ = validation_code_issue(customer=Customer.objects.get(org_id=O2, external_id=ASHA))
    each = issue(coupon, notes="n", skip_validation=False, validation_code=code)
    one_by_one = each.rewards[0].issue
    assert together.pk != one_by_one.pk
    stored = {issue.pk: issue for issue in RewardIssue.objects.all()}
    assert [getattr(stored[one_by_one.pk], f) for f in FIELDS] == [getattr(stored[together.pk], f) for f in FIELDS]
    assert [getattr(one_by_one, f) for f in FIELDS] == [getattr(stored[one_by_one.pk], f) for f in FIELDS]


def test_both_paths_write_the_same_event_and_coupon_record(demo):
    from orgs.models import OutboxEvent

    coupon = line(351)
    together = issue(coupon).rewards[0].issue
    code, _ = validation_code_issue(customer=Customer.objects.get(org_id=O2, external_id=ASHA))
    one_by_one = issue(coupon, skip_validation=False, validation_code=code).rewards[0].issue
    stored = {issue.pk: issue for issue in RewardIssue.objects.all()}
    for issue_ in (together, one_by_one):
        [entry] = stored[issue_.pk].coupon_codes
        assert entry.keys() == {"code", "expiry"} and issue_.coupon_codes == stored[issue_.pk].coupon_codes
    first, second = (e.payload for e in OutboxEvent.objects.filter(kind="issue").order_by("id"))
    assert (first["transactionId"], second["transactionId"]) == (together.pk, one_by_one.pk)
    assert first["couponCodes"] == [together.coupon_codes[0]["code"]]
    assert second["couponCodes"] == [one_by_one.coupon_codes[0]["code"]]
    own = ("transactionId", "pointsReferenceId", "couponCodes")
    assert {k: v for k, v in first.items() if k not in own} == {k: v for k, v in second.items() if k not in own}


@pytest.mark.parametrize("request_id", [None, "spent-meanwhile"])
def test_points_spent_between_the_checks_and_the_debit_fail_the_call_writing_nothing(demo, monkeypatch, request_id):
    """The quick check passes on the balance read first; the points go before the transaction
    (another call): the debit's check under the lock refuses and nothing stays written, not even
    the requestId's claim (on PostgreSQL's one statement: undone, then the Python path decides)."""
    from catalogue import services
    from catalogue.models import IssueRequest
    from wallets.models import LedgerEntry, Wallet
    from wallets.services import wallet_post

    resolve = services.call_resolve

    def resolve_then_spend(**kwargs):
        lines = resolve(**kwargs)
        wallet = Wallet.objects.get(org_id=O2, kind="POINTS", customer__external_id=ASHA)
        wallet_post(wallet=wallet, delta=Decimal("-480.00"), kind=LedgerEntry.Kind.ADJUSTMENT, reference="other")
        return lines

    monkeypatch.setattr(services, "call_resolve", resolve_then_spend)
    with pytest.raises(InsufficientPoints):
        issue(line(351, request_id=request_id))  # 40 points, 20 left
    assert not RewardIssue.objects.exists() and not IssueRequest.objects.exists()
    assert points(ASHA) == Decimal("20.00")
