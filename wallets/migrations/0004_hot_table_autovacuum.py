"""Earned rewards and wallets are updated in place on every redemption: vacuum them after 1 % of
their rows changed rather than PostgreSQL's default 20 % (see coupons 0002)."""

from django.db import migrations

from core.migration_sql import run_sql_for

TABLES = ("wallets_earnedreward", "wallets_wallet")
SETTINGS = "autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000"
RESET = "autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold"


class Migration(migrations.Migration):
    dependencies = [("wallets", "0003_redemption_calls")]

    operations = [
        migrations.RunPython(
            run_sql_for({"postgresql": [f"ALTER TABLE {table} SET ({SETTINGS})" for table in TABLES]}),
            run_sql_for({"postgresql": [f"ALTER TABLE {table} RESET ({RESET})" for table in TABLES]}),
        )
    ]
