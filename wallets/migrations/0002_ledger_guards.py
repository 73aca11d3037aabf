"""Database guards of the books (see wallets/models.py).

PostgreSQL gets the full set: append-only ledger, and deferred constraint
triggers that check at commit that each entry continues its wallet's chain and
that the cached balance equals the latest ``balance_after`` (so the sum of the
entries). SQLite (the embedded development default) gets the append-only rule
and the chain check at insert time.
"""

from django.db import migrations

from core.migration_sql import run_sql_for

POSTGRES_UP = r"""
CREATE FUNCTION wallets_ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('rewards.allow_ledger_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'ledger entries are append-only: % of entry % refused', TG_OP, OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER wallets_ledger_immutable
    BEFORE UPDATE OR DELETE ON wallets_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION wallets_ledger_immutable();

CREATE FUNCTION wallets_books_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wid bigint;
    cached numeric;
    previous numeric;
    latest numeric;
BEGIN
    IF TG_TABLE_NAME = 'wallets_wallet' THEN
        wid := NEW.id;
    ELSE
        wid := NEW.wallet_id;
    END IF;
    SELECT balance INTO cached FROM wallets_wallet WHERE id = wid;
    IF NOT FOUND THEN
        RETURN NULL;  -- deleted later in the same transaction (org purge)
    END IF;
    IF TG_TABLE_NAME = 'wallets_ledgerentry' THEN
        SELECT balance_after INTO previous FROM wallets_ledgerentry
         WHERE wallet_id = wid AND id < NEW.id ORDER BY id DESC LIMIT 1;
        IF NEW.balance_after <> COALESCE(previous, 0) + NEW.delta THEN
            RAISE EXCEPTION 'ledger entry % of wallet %: balance_after % is not % + %',
                NEW.id, wid, NEW.balance_after, COALESCE(previous, 0), NEW.delta
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    SELECT balance_after INTO latest FROM wallets_ledgerentry
     WHERE wallet_id = wid ORDER BY id DESC LIMIT 1;
    IF cached <> COALESCE(latest, 0) THEN
        RAISE EXCEPTION 'wallet %: balance % differs from its ledger (%); balances change only through ledger entries',
            wid, cached, COALESCE(latest, 0)
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER wallets_wallet_books
    AFTER INSERT OR UPDATE OF balance ON wallets_wallet
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION wallets_books_balance();

CREATE CONSTRAINT TRIGGER wallets_ledger_books
    AFTER INSERT ON wallets_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION wallets_books_balance();
"""

POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS wallets_ledger_books ON wallets_ledgerentry;
DROP TRIGGER IF EXISTS wallets_wallet_books ON wallets_wallet;
DROP TRIGGER IF EXISTS wallets_ledger_immutable ON wallets_ledgerentry;
DROP FUNCTION IF EXISTS wallets_books_balance();
DROP FUNCTION IF EXISTS wallets_ledger_immutable();
"""

SQLITE_UP = [
    """
    CREATE TRIGGER wallets_ledger_no_update BEFORE UPDATE ON wallets_ledgerentry
    BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END
    """,
    """
    CREATE TRIGGER wallets_ledger_chain BEFORE INSERT ON wallets_ledgerentry
    WHEN ROUND(NEW.balance_after, 2) <> ROUND(COALESCE((SELECT balance_after FROM wallets_ledgerentry
          WHERE wallet_id = NEW.wallet_id ORDER BY id DESC LIMIT 1), 0) + NEW.delta, 2)
    BEGIN SELECT RAISE(ABORT, 'ledger entry does not continue its wallet''s balance'); END
    """,
    """
    CREATE TRIGGER wallets_ledger_matches_wallet AFTER INSERT ON wallets_ledgerentry
    WHEN ROUND(NEW.balance_after, 2) <> ROUND((SELECT balance FROM wallets_wallet WHERE id = NEW.wallet_id), 2)
    BEGIN SELECT RAISE(ABORT, 'wallet balance differs from its ledger'); END
    """,
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS wallets_ledger_no_update",
    "DROP TRIGGER IF EXISTS wallets_ledger_chain",
    "DROP TRIGGER IF EXISTS wallets_ledger_matches_wallet",
]


class Migration(migrations.Migration):
    dependencies = [("wallets", "0001_initial")]

    operations = [
        migrations.RunPython(
            run_sql_for({"postgresql": POSTGRES_UP, "sqlite": SQLITE_UP}),
            run_sql_for({"postgresql": POSTGRES_DOWN, "sqlite": SQLITE_DOWN}),
        )
    ]
