"""The books: every balance change is a ledger entry, balances never go negative,
and the cached balance always equals the sum of the entries, whoever tries."""

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.purge import org_purge
from tests.factories import WalletFactory
from wallets.errors import InsufficientBalance
from wallets.models import LedgerEntry, Wallet
from wallets.services import Posting, wallet_post, wallet_post_many


def ledger_sum(wallet: Wallet) -> Decimal:
    total = wallet.entries.aggregate(total=Sum("delta"))["total"] or Decimal("0.00")
    return total.quantize(Decimal("0.01"))  # SQLite sums in binary floating point


@pytest.mark.django_db
class TestWalletPost:
    def test_credit_and_debit_write_one_entry_each(self):
        # given
        wallet = WalletFactory()
        # when
        wallet_post(wallet=wallet, delta=Decimal("12.50"), kind=LedgerEntry.Kind.REDEMPTION, reference="r-1")
        entry = wallet_post(wallet=wallet, delta=Decimal("-2.25"), kind=LedgerEntry.Kind.ISSUE, reference="i-1")
        # then
        wallet.refresh_from_db()
        assert wallet.balance == Decimal("10.25")
        assert entry.balance_after == Decimal("10.25")
        assert list(wallet.entries.values_list("delta", "balance_after", "reference")) == [
            (Decimal("12.50"), Decimal("12.50"), "r-1"),
            (Decimal("-2.25"), Decimal("10.25"), "i-1"),
        ]

    def test_overdraft_is_refused_and_writes_nothing(self):
        wallet = WalletFactory(opening="5.00")
        with pytest.raises(InsufficientBalance):
            wallet_post(wallet=wallet, delta=Decimal("-5.01"), kind=LedgerEntry.Kind.ISSUE)
        wallet.refresh_from_db()
        assert wallet.balance == Decimal("5.00")
        assert wallet.entries.count() == 1

    @pytest.mark.parametrize("delta", ["0", "0.001", "1e20", "NaN"])
    def test_amounts_that_are_not_two_place_money_are_refused(self, delta):
        wallet = WalletFactory()
        with pytest.raises(ValueError):
            wallet_post(wallet=wallet, delta=Decimal(delta), kind=LedgerEntry.Kind.ADJUSTMENT)
        assert wallet.entries.count() == 0

    def test_check_constraint_refuses_a_negative_balance_written_directly(self):
        wallet = WalletFactory()
        with pytest.raises(IntegrityError, match="wallet_balance_non_negative"), transaction.atomic():
            Wallet.objects.filter(pk=wallet.pk).update(balance=Decimal("-0.01"))

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(deltas=st.lists(st.decimals(min_value=-300, max_value=300, places=2).filter(bool), max_size=25))
    def test_any_sequence_of_posts_keeps_the_books(self, deltas):
        # given a fresh wallet per example (the database is not reset between examples)
        wallet = WalletFactory()
        expected = Decimal("0.00")
        for delta in deltas:
            # when
            try:
                wallet_post(wallet=wallet, delta=delta, kind=LedgerEntry.Kind.ADJUSTMENT)
                expected += delta
            except InsufficientBalance:
                assert expected + delta < 0
        # then
        wallet.refresh_from_db()
        assert wallet.balance == expected >= 0
        assert ledger_sum(wallet) == expected
        assert all(b >= 0 for b in wallet.entries.values_list("balance_after", flat=True))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
class TestDatabaseGuards:
    """Direct SQL, bypassing every service: PostgreSQL itself refuses to break the books."""

    def _execute(self, *statements, params=()):
        with transaction.atomic(), connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql, params)

    def test_changing_a_balance_without_a_ledger_entry_fails_at_commit(self):
        wallet = WalletFactory(opening="10.00")
        with pytest.raises(IntegrityError, match="differs from its ledger"):
            self._execute("UPDATE wallets_wallet SET balance = balance + 1 WHERE id = %s", params=[wallet.pk])
        wallet.refresh_from_db()
        assert wallet.balance == Decimal("10.00")

    def test_a_ledger_entry_without_its_balance_change_fails_at_commit(self):
        wallet = WalletFactory(opening="10.00")
        with pytest.raises(IntegrityError, match="differs from its ledger"):
            self._execute(
                "INSERT INTO wallets_ledgerentry (org_id, wallet_id, delta, balance_after, kind, reference, memo,"
                " created_at) VALUES (%s, %s, 5, 15, 'ADJUSTMENT', '', '', now())",
                params=[wallet.org_id, wallet.pk],
            )
        assert wallet.entries.count() == 1

    def test_an_entry_that_breaks_the_running_balance_fails_at_commit(self):
        # given 10.00; a forger sets the balance to 20 and writes a +5 entry claiming 20
        wallet = WalletFactory(opening="10.00")
        with pytest.raises(IntegrityError, match="balance_after 20.00 is not 10.00 \\+ 5.00"):
            self._execute(
                "UPDATE wallets_wallet SET balance = 20 WHERE id = %(w)s",
                "INSERT INTO wallets_ledgerentry (org_id, wallet_id, delta, balance_after, kind, reference, memo,"
                " created_at) VALUES (%(o)s, %(w)s, 5, 20, 'ADJUSTMENT', '', '', now())",
                params={"w": wallet.pk, "o": wallet.org_id},
            )
        wallet.refresh_from_db()
        assert wallet.balance == Decimal("10.00") == ledger_sum(wallet)

    def test_ledger_entries_cannot_be_updated_or_deleted(self):
        wallet = WalletFactory(opening="10.00")
        with pytest.raises(IntegrityError, match="append-only: UPDATE"):
            self._execute("UPDATE wallets_ledgerentry SET delta = 1 WHERE wallet_id = %s", params=[wallet.pk])
        with pytest.raises(IntegrityError, match="append-only: DELETE"):
            self._execute("DELETE FROM wallets_ledgerentry WHERE wallet_id = %s", params=[wallet.pk])
        assert wallet.entries.count() == 1

    def test_org_purge_is_the_one_path_that_deletes_ledger_entries(self):
        wallet = WalletFactory(opening="10.00")
        org_purge(org_id=wallet.org_id)
        assert not LedgerEntry.objects.filter(org_id=wallet.org_id).exists()
        # and the permission does not outlive the purge
        other = WalletFactory(opening="1.00")
        with pytest.raises(IntegrityError, match="append-only: DELETE"):
            self._execute("DELETE FROM wallets_ledgerentry WHERE wallet_id = %s", params=[other.pk])

    def test_concurrent_debits_never_overdraw(self):
        # given 100 points and 20 threads each spending 10
        wallet = WalletFactory(opening="100.00")
        barrier = threading.Barrier(20)
        outcomes = []

        def spend():
            try:
                barrier.wait()
                wallet_post(wallet=Wallet(pk=wallet.pk, org_id=wallet.org_id), delta=Decimal("-10.00"), kind="ISSUE")
                outcomes.append("ok")
            except InsufficientBalance:
                outcomes.append("refused")
            finally:
                connection.close()

        # when
        threads = [threading.Thread(target=spend) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # then exactly ten succeed and the books balance
        wallet.refresh_from_db()
        assert sorted(outcomes) == ["ok"] * 10 + ["refused"] * 10
        assert wallet.balance == Decimal("0.00") == ledger_sum(wallet)


@pytest.mark.django_db
def test_a_refused_debit_leaves_the_callers_transaction_usable():
    # given a caller's transaction that goes on after a refusal (e.g. partial issual)
    wallet = WalletFactory(opening="5.00")
    with transaction.atomic():
        with pytest.raises(InsufficientBalance):
            wallet_post(wallet=wallet, delta=Decimal("-6.00"), kind=LedgerEntry.Kind.ISSUE)
        # when it posts again in the same transaction
        wallet_post(wallet=wallet, delta=Decimal("-5.00"), kind=LedgerEntry.Kind.ISSUE)
    # then both the refusal and the later post are as they should be
    wallet.refresh_from_db()
    assert wallet.balance == 0 and wallet.entries.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db
def test_hot_tables_are_vacuumed_after_one_percent_of_changes():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN "
            "('coupons_coupon', 'wallets_earnedreward', 'wallets_wallet') ORDER BY relname"
        )
        options = dict(cursor.fetchall())
    assert set(options) == {"coupons_coupon", "wallets_earnedreward", "wallets_wallet"}
    for table, settings_ in options.items():
        assert "autovacuum_vacuum_scale_factor=0.01" in (settings_ or []), table


@pytest.mark.django_db
class TestWalletPostMany:
    def test_one_entry_per_posting_in_order_running_down_to_the_new_balance(self):
        wallet = WalletFactory(opening="10.00")
        entries = wallet_post_many(
            wallet=wallet,
            postings=[
                Posting(delta=Decimal("-1.50"), kind=LedgerEntry.Kind.ISSUE, reference="a", memo="first"),
                Posting(delta=Decimal("-2.00"), kind=LedgerEntry.Kind.ISSUE, reference="b"),
                Posting(delta=Decimal("-0.25"), kind=LedgerEntry.Kind.ISSUE, reference="c"),
            ],
        )
        wallet.refresh_from_db()
        assert wallet.balance == Decimal("6.25") == ledger_sum(wallet)
        written = list(wallet.entries.order_by("id").values_list("id", "delta", "balance_after", "reference", "memo"))
        assert written[1:] == [
            (entries[0].pk, Decimal("-1.50"), Decimal("8.50"), "a", "first"),
            (entries[1].pk, Decimal("-2.00"), Decimal("6.50"), "b", ""),
            (entries[2].pk, Decimal("-0.25"), Decimal("6.25"), "c", ""),
        ]
        assert [e.balance_after for e in entries] == [Decimal("8.50"), Decimal("6.50"), Decimal("6.25")]

    def test_debits_the_wallet_cannot_cover_together_are_refused_and_write_nothing(self):
        wallet = WalletFactory(opening="3.00")
        with transaction.atomic():
            with pytest.raises(InsufficientBalance):
                wallet_post_many(
                    wallet=wallet,
                    postings=[
                        Posting(delta=Decimal("-2.00"), kind="ISSUE"),
                        Posting(delta=Decimal("-1.01"), kind="ISSUE"),
                    ],
                )
            # the caller's transaction goes on
            wallet_post(wallet=wallet, delta=Decimal("-3.00"), kind=LedgerEntry.Kind.ISSUE)
        wallet.refresh_from_db()
        assert wallet.balance == 0 and wallet.entries.count() == 2

    def test_credits_and_debits_are_not_mixed(self):
        wallet = WalletFactory(opening="3.00")
        with pytest.raises(ValueError):
            wallet_post_many(
                wallet=wallet,
                postings=[
                    Posting(delta=Decimal("2.00"), kind="ADJUSTMENT"),
                    Posting(delta=Decimal("-4.00"), kind="ISSUE"),
                ],
            )
        assert wallet.entries.count() == 1
