"""Earned rewards and wallets are updated in place on every redemption: vacuum them after 1 % of
their rows changed rather than PostgreSQL's default 20 % (see coupons 0002)."""

from django.db import migrations

TABLES = ("wallets_earnedreward", "wallets_wallet")
SETTINGS = "autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000"


def run(template):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for table in TABLES:
                schema_editor.execute(template.format(table=table), params=None)

    return apply


class Migration(migrations.Migration):
    dependencies = [("wallets", "0003_redemption_calls")]

    operations = [
        migrations.RunPython(
            run(f"ALTER TABLE {{table}} SET ({SETTINGS})"),
            run("ALTER TABLE {table} RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold)"),
        )
    ]
