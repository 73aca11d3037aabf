"""The index of unredeemed earned rewards holds their campaign (``INCLUDE``), so that
``wallets_redeem_call`` (migration 0013) picks a user's wallet rewards by an index-only scan instead
of reading the row of every unredeemed reward of the user, coupon rewards included, only to leave
most of them out."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("wallets", "0013_redeem_call_set_based")]

    operations = [
        migrations.RemoveIndex(model_name="earnedreward", name="earnedreward_unredeemed"),
        migrations.AddIndex(
            model_name="earnedreward",
            index=models.Index(
                condition=models.Q(("status", "UNREDEEMED")),
                fields=["org", "customer", "earned_at", "id"],
                include=("campaign",),
                name="earnedreward_unredeemed",
            ),
        ),
    ]
