"""Reversals, revocations and manual adjustments: the services the admin calls."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from catalogue.models import RewardIssue, RewardIssueRevocation
from catalogue.revocation import reward_issue_revoke
from core.errors import AlreadyReversed, OperationRefused
from coupons.models import Coupon
from wallets.models import EarnedReward, LedgerEntry, RedemptionCall, RedemptionReversal, Wallet, WalletAdjustment
from wallets.reversal import redemption_reverse
from wallets.services import wallet_adjust, wallet_post

from .conftest import ASHA, O2

pytestmark = pytest.mark.django_db


def wallet_of(external_id: str = ASHA, kind: str = "CREDITS") -> Wallet:
    return Wallet.objects.get(org_id=O2, kind=kind, customer__external_id=external_id)


def reward(code: str) -> EarnedReward:
    return EarnedReward.objects.get(org_id=O2, code=code)


def assert_books_add_up() -> None:
    for wallet in Wallet.objects.all():
        assert wallet.balance == sum(wallet.entries.values_list("delta", flat=True), Decimal("0.00")), wallet


# --- wallet_adjust ----------------------------------------------------------------------------


class TestWalletAdjust:
    def test_a_credit_writes_an_adjustment_entry_and_its_record(self, demo, manager):
        # given
        wallet = wallet_of("ext-ravi")
        # when
        adjustment = wallet_adjust(wallet_id=wallet.pk, delta=Decimal("2.50"), reason="goodwill", staff_user=manager)
        # then
        wallet.refresh_from_db()
        assert wallet.balance == Decimal("7.50")
        entry = adjustment.ledger_entry
        assert (entry.kind, entry.delta, entry.balance_after, entry.memo) == (
            "ADJUSTMENT",
            Decimal("2.50"),
            Decimal("7.50"),
            "goodwill",
        )
        assert (adjustment.staff_user, adjustment.staff_username, adjustment.reason) == (manager, "manager", "goodwill")
        assert_books_add_up()

    def test_a_debit_within_the_balance_goes_through(self, demo, manager):
        wallet = wallet_of("ext-ravi")
        wallet_adjust(wallet_id=wallet.pk, delta=Decimal("-5.00"), reason="duplicate credit", staff_user=manager)
        wallet.refresh_from_db()
        assert wallet.balance == Decimal("0.00")

    def test_a_debit_below_zero_is_refused_and_changes_nothing(self, demo, manager):
        # given
        wallet = wallet_of("ext-ravi")
        entries = LedgerEntry.objects.count()
        # when
        with pytest.raises(OperationRefused, match="holds 5.00"):
            wallet_adjust(wallet_id=wallet.pk, delta=Decimal("-5.01"), reason="oops", staff_user=manager)
        # then
        wallet.refresh_from_db()
        assert wallet.balance == Decimal("5.00")
        assert LedgerEntry.objects.count() == entries
        assert not WalletAdjustment.objects.exists()

    @pytest.mark.parametrize(("delta", "reason"), [("0", "why"), ("1.00", "  "), ("abc", "why"), ("1.001", "why")])
    def test_zero_a_missing_reason_or_a_bad_amount_is_refused(self, demo, manager, delta, reason):
        with pytest.raises(OperationRefused):
            wallet_adjust(wallet_id=wallet_of("ext-ravi").pk, delta=delta, reason=reason, staff_user=manager)
        assert not WalletAdjustment.objects.exists()


# --- redemption_reverse -----------------------------------------------------------------------


class TestRedemptionReverse:
    def test_by_ids_rewards_are_unredeemed_again_and_the_credits_taken_back(self, redeem, manager):
        # given
        assert redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001", "rd-1002"])["statuscode"] == 1
        call = RedemptionCall.objects.get()
        # when
        reversal = redemption_reverse(redemption_call_id=call.pk, reason="customer complaint", staff_user=manager)
        # then
        assert wallet_of().balance == Decimal("0.00")
        for code in ("rd-1001", "rd-1002"):
            assert (reward(code).status, reward(code).redeemed_amount, reward(code).redeemed_at) == (
                "UNREDEEMED",
                0,
                None,
            )
        entry = reversal.ledger_entry
        assert (entry.kind, entry.delta, entry.reference) == (
            "REVERSAL",
            Decimal("-25.00"),
            f"reversal:{call.reference.hex}",
        )
        assert (reversal.amount, reversal.staff_user, reversal.reason) == (
            Decimal("25.00"),
            manager,
            "customer complaint",
        )
        assert_books_add_up()
        # and the rewards can be redeemed again
        assert redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001"])["statuscode"] == 1

    def test_by_amount_each_reward_gets_back_what_this_call_took(self, redeem, manager):
        # given: 12.50 takes rd-1001 (10) and 2.50 of rd-1002; then 5 more of rd-1002
        redeem(UserIdInstore=ASHA, amount="12.50")
        first = RedemptionCall.objects.get()
        redeem(UserIdInstore=ASHA, amount="5.00")
        assert first.reward_amounts == {"rd-1001": "10.00", "rd-1002": "2.50"}
        # when
        redemption_reverse(redemption_call_id=first.pk, reason="wrong customer", staff_user=manager)
        # then: rd-1002 keeps the 5.00 of the second call
        assert (reward("rd-1001").status, reward("rd-1001").redeemed_amount) == ("UNREDEEMED", Decimal("0.00"))
        assert (reward("rd-1002").status, reward("rd-1002").redeemed_amount) == ("UNREDEEMED", Decimal("5.00"))
        assert wallet_of().balance == Decimal("5.00")
        assert_books_add_up()

    def test_refused_with_a_clear_message_when_the_credits_were_spent(self, redeem, manager):
        # given
        redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001"])
        call = RedemptionCall.objects.get()
        wallet_post(wallet=wallet_of(), delta=Decimal("-4.00"), kind="ADJUSTMENT", reference="spent in store")
        # when
        with pytest.raises(
            OperationRefused, match="already spent: the wallet holds 6.00, the redemption credited 10.00"
        ):
            redemption_reverse(redemption_call_id=call.pk, reason="complaint", staff_user=manager)
        # then: nothing changed
        assert reward("rd-1001").status == "REDEEMED"
        assert wallet_of().balance == Decimal("6.00")
        assert not RedemptionReversal.objects.exists()

    def test_reversing_twice_is_refused(self, redeem, manager):
        redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001"])
        call = RedemptionCall.objects.get()
        redemption_reverse(redemption_call_id=call.pk, reason="once", staff_user=manager)
        redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1002"])  # credits to take back are there again
        with pytest.raises(AlreadyReversed):
            redemption_reverse(redemption_call_id=call.pk, reason="twice", staff_user=manager)
        assert wallet_of().balance == Decimal("15.00")

    def test_the_database_refuses_a_second_reversal_record(self, redeem, manager):
        redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001"])
        reversal = redemption_reverse(
            redemption_call_id=RedemptionCall.objects.get().pk, reason="x", staff_user=manager
        )
        with pytest.raises(IntegrityError), transaction.atomic():
            RedemptionReversal.objects.create(
                org_id=O2, redemption_call_id=reversal.redemption_call_id, reason="again", staff_username="x"
            )

    def test_a_pool_redemption_voids_the_coupon_and_unredeems_the_reward(self, redeem, manager):
        # given
        answer = redeem(UserIdInstore=ASHA, poolId=531)
        assert answer["statuscode"] == 1
        call = RedemptionCall.objects.get()
        # when
        redemption_reverse(redemption_call_id=call.pk, reason="coupon did not scan", staff_user=manager)
        # then
        assert Coupon.objects.get(code=answer["coupon"]["code"]).status == "VOID"
        assert reward("rd-2001").status == "UNREDEEMED"
        second = redeem(UserIdInstore=ASHA, poolId=531)
        assert second["statuscode"] == 1 and second["coupon"]["code"] != answer["coupon"]["code"]

    def test_a_failed_or_replayed_call_cannot_be_reversed(self, redeem, manager):
        redeem(UserIdInstore=ASHA, rewarddtlids=["nope"])
        with pytest.raises(OperationRefused, match="only a successful"):
            redemption_reverse(redemption_call_id=RedemptionCall.objects.get().pk, reason="x", staff_user=manager)

    def test_a_reason_is_required(self, redeem, manager):
        redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001"])
        with pytest.raises(OperationRefused, match="reason"):
            redemption_reverse(redemption_call_id=RedemptionCall.objects.get().pk, reason=" ", staff_user=manager)
        assert reward("rd-1001").status == "REDEEMED"


# --- reward_issue_revoke ----------------------------------------------------------------------


class TestRewardIssueRevoke:
    def test_points_are_refunded_and_the_coupon_voided(self, issue_reward, manager):
        # given: a coupon reward for 40 points
        answer = issue_reward(351)
        assert answer["status"]["code"] == 200, answer
        issue = RewardIssue.objects.get()
        [code] = [item["code"] for item in issue.coupon_codes]
        assert wallet_of(kind="POINTS").balance == Decimal("460.00")
        # when
        revocation = reward_issue_revoke(reward_issue_id=issue.pk, reason="customer cancelled", staff_user=manager)
        # then
        issue.refresh_from_db()
        assert issue.status == "CANCELLED"
        assert wallet_of(kind="POINTS").balance == Decimal("500.00")
        assert Coupon.objects.get(pool_id=234, code=code).status == "VOID"
        entry = revocation.ledger_entry
        assert (entry.kind, entry.delta, entry.reference) == (
            "REVERSAL",
            Decimal("40.00"),
            f"revoke:{issue.points_reference_id}",
        )
        assert (revocation.coupons_voided, revocation.staff_user) == (1, manager)
        assert_books_add_up()

    def test_revoking_twice_is_refused(self, issue_reward, manager):
        issue_reward(353)
        issue = RewardIssue.objects.get()
        reward_issue_revoke(reward_issue_id=issue.pk, reason="once", staff_user=manager)
        with pytest.raises(AlreadyReversed):
            reward_issue_revoke(reward_issue_id=issue.pk, reason="twice", staff_user=manager)
        assert wallet_of(kind="POINTS").balance == Decimal("500.00")
        assert RewardIssueRevocation.objects.count() == 1

    def test_a_reason_is_required(self, issue_reward, manager):
        issue_reward(353)
        with pytest.raises(OperationRefused):
            reward_issue_revoke(reward_issue_id=RewardIssue.objects.get().pk, reason="", staff_user=manager)
        assert RewardIssue.objects.get().status == "ISSUED"
