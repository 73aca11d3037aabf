"""A reversal racing other writers of the same credits, with real threads on PostgreSQL.

The wallet's conditional UPDATE (and behind it the CHECK constraint) is what keeps the
balance from going negative; these tests show that only the consistent outcomes happen.
"""

import threading
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection

from backoffice.scenario import scenario_load
from core.errors import AlreadyReversed, DomainError, OperationRefused
from orgs.models import Customer
from wallets.errors import InsufficientBalance
from wallets.models import EarnedReward, LedgerEntry, RedemptionCall, RedemptionReversal, Wallet
from wallets.redeem import redemption_call_record
from wallets.redemption import rewards_redeem_by_ids
from wallets.reversal import redemption_reverse
from wallets.services import wallet_post

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

O2, ASHA = 4000876, "ext_id98543198"
ROUNDS = 5


def run_together(*jobs) -> list:
    """Run each job in its own thread (own connection), released at once; their results or errors."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait()
            results[index] = job()
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.fixture
def world(demo_document):
    scenario_load(document=demo_document)
    return User.objects.create_user("manager", is_staff=True)


def redeem_rd_1001() -> RedemptionCall | DomainError:
    """What the Redeem Rewards API does for ``rewarddtlids: ["rd-1001"]``: redeem, then record the call."""
    customer = Customer.objects.get(org_id=O2, external_id=ASHA)
    try:
        redemption = rewards_redeem_by_ids(customer=customer, codes=["rd-1001"])
    except DomainError as exc:
        return exc
    return redemption_call_record(
        org_id=O2, customer=customer, mode="IDS", status_code=1, amount=redemption.amount,
        reward_codes=redemption.reward_codes, ledger_entry=redemption.ledger_entry,
        reward_amounts={code: str(take) for code, take in redemption.taken.items()},
    )  # fmt: skip


def credits() -> Wallet:
    return Wallet.objects.get(org_id=O2, kind="CREDITS", customer__external_id=ASHA)


def assert_books_add_up(wallet: Wallet) -> None:
    wallet.refresh_from_db()
    assert wallet.balance >= 0
    assert wallet.balance == sum(wallet.entries.values_list("delta", flat=True), Decimal("0.00"))


def test_a_reversal_racing_a_spend_of_the_same_credits_never_goes_negative(world):
    for _ in range(ROUNDS):
        # given: 10.00 credited by a redemption
        EarnedReward.objects.filter(code="rd-1001").update(status="UNREDEEMED", redeemed_amount=0, redeemed_at=None)
        call = redeem_rd_1001()
        wallet = credits()
        before = wallet.balance

        def spend(wallet=wallet, before=before):
            return wallet_post(
                wallet=Wallet.objects.get(pk=wallet.pk), delta=-before, kind="ADJUSTMENT", reference="shop"
            )

        # when
        reversal, spent = run_together(
            lambda call=call: redemption_reverse(redemption_call_id=call.pk, reason="race", staff_user=world), spend
        )
        # then: exactly one of them got the credits
        outcomes = (isinstance(reversal, RedemptionReversal), isinstance(spent, LedgerEntry))
        assert outcomes in {(True, False), (False, True)}, (reversal, spent)
        if outcomes == (True, False):
            assert isinstance(spent, InsufficientBalance)
            assert EarnedReward.objects.get(code="rd-1001").status == "UNREDEEMED"
        else:
            assert isinstance(reversal, OperationRefused) and "already spent" in str(reversal)
            assert EarnedReward.objects.get(code="rd-1001").status == "REDEEMED"
            assert not RedemptionReversal.objects.filter(redemption_call=call).exists()
        assert credits().balance == before - Decimal("10.00") == Decimal("0.00")
        assert_books_add_up(wallet)


def test_a_reversal_racing_a_new_redemption_of_the_same_reward(world):
    seen = set()
    for _ in range(ROUNDS):
        # given
        EarnedReward.objects.filter(code="rd-1001").update(status="UNREDEEMED", redeemed_amount=0, redeemed_at=None)
        wallet = Wallet.objects.filter(org_id=O2, kind="CREDITS", customer__external_id=ASHA).first()
        if wallet is not None and wallet.balance:
            wallet_post(wallet=wallet, delta=-wallet.balance, kind="ADJUSTMENT", reference="reset")
        call = redeem_rd_1001()
        # when: staff reverse it while the API redeems rd-1001 again
        reversal, again = run_together(
            lambda call=call: redemption_reverse(redemption_call_id=call.pk, reason="race", staff_user=world),
            redeem_rd_1001,
        )
        # then: the reversal always succeeds; the new redemption either came after it (credited
        # again) or before it (refused: already redeemed)
        assert isinstance(reversal, RedemptionReversal), reversal
        reward = EarnedReward.objects.get(code="rd-1001")
        if isinstance(again, RedemptionCall):
            seen.add("redeemed again")
            assert (reward.status, credits().balance) == ("REDEEMED", Decimal("10.00"))
        else:
            seen.add("refused")
            assert type(again).__name__ == "AlreadyRedeemed"
            assert (reward.status, credits().balance) == ("UNREDEEMED", Decimal("0.00"))
        assert_books_add_up(credits())
    assert seen  # which order won varies from run to run; each is consistent


def test_two_reversals_of_one_call_at_once_reverse_it_once(world):
    call = redeem_rd_1001()
    results = run_together(
        *[lambda: redemption_reverse(redemption_call_id=call.pk, reason="race", staff_user=world)] * 4
    )
    assert sum(isinstance(result, RedemptionReversal) for result in results) == 1, results
    assert all(isinstance(result, (RedemptionReversal, AlreadyReversed)) for result in results), results
    assert credits().balance == Decimal("0.00")
    assert LedgerEntry.objects.filter(kind="REVERSAL").count() == 1
    assert_books_add_up(credits())


def test_concurrent_revocations_of_one_issue_refund_its_points_once(world):
    # given: an issued reward of 100 points paid from Asha's points wallet (500.00)
    from catalogue.models import RewardIssue, RewardIssueRevocation
    from catalogue.revocation import reward_issue_revoke

    customer = Customer.objects.get(org_id=O2, external_id=ASHA)
    points = Wallet.objects.get(org_id=O2, kind="POINTS", customer=customer)
    wallet_post(wallet=points, delta=Decimal("-100.00"), kind="ISSUE", reference="RACE-REF")
    issue = RewardIssue.objects.create(
        org_id=O2, points_reference_id="RACE-REF", customer=customer, reward_id=353, requested_quantity=1,
        quantity=1, points=Decimal("100.00"),
    )  # fmt: skip
    # when
    results = run_together(
        *[lambda: reward_issue_revoke(reward_issue_id=issue.pk, reason="race", staff_user=world)] * 4
    )
    # then
    assert sum(isinstance(result, RewardIssueRevocation) for result in results) == 1, results
    assert all(isinstance(result, (RewardIssueRevocation, AlreadyReversed)) for result in results), results
    points.refresh_from_db()
    assert points.balance == Decimal("500.00")
    assert_books_add_up(points)
