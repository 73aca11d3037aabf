"""Coupons are a queue: disbursal turns AVAILABLE rows into ISSUED ones, and until vacuum removes
the dead versions, every "next available coupon" scan walks over them. Vacuum this table after
1 % of it changed (PostgreSQL's default waits for 20 %: 200,000 dead rows in a 1,000,000 pool)."""

from django.db import migrations

from core.migration_sql import run_sql_for

SETTINGS = "autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000"
RESET = "autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold"


class Migration(migrations.Migration):
    dependencies = [("coupons", "0001_initial")]

    operations = [
        migrations.RunPython(
            run_sql_for({"postgresql": f"ALTER TABLE coupons_coupon SET ({SETTINGS})"}),
            run_sql_for({"postgresql": f"ALTER TABLE coupons_coupon RESET ({RESET})"}),
        )
    ]
