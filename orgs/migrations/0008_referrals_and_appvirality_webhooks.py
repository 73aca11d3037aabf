"""Referrals (referral code, referrer, name, registration date), campaign reward units, webhook formats."""

import django.db.models.deletion
import django.utils.timezone
import orgs.models
import django.db.models.functions.datetime
from django.db import migrations, models


def existing_customers(apps, schema_editor):
    """Customers from before referrals: a referral code each, registered when they were created."""
    Customer = apps.get_model("orgs", "Customer")
    Customer.objects.update(registered_at=models.F("created_at"))
    batch = []
    for pk, org_id in Customer.objects.values_list("pk", "org_id").iterator(chunk_size=5000):
        batch.append(Customer(pk=pk, org_id=org_id, referral_code=orgs.models.referral_code_new()))
        if len(batch) == 5000:
            Customer.objects.bulk_update(batch, ["referral_code"])
            batch = []
    Customer.objects.bulk_update(batch, ["referral_code"])


class Migration(migrations.Migration):

    dependencies = [
        ('orgs', '0007_customer_email_normalized'),
    ]

    operations = [
        migrations.AddField(
            model_name='campaign',
            name='reward_unit',
            field=models.CharField(default='credits', help_text='What the amounts are in (free text: INR, Points, credits).', max_length=32),
        ),
        migrations.AddField(
            model_name='customer',
            name='name',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name='customer',
            name='referral_code',
            field=models.CharField(max_length=8, null=True),
        ),
        migrations.AddField(
            model_name='customer',
            name='registered_at',
            field=models.DateTimeField(default=django.utils.timezone.now, help_text='AppVirality regDate.'),
        ),
        migrations.AddField(
            model_name='historicalcampaign',
            name='reward_unit',
            field=models.CharField(default='credits', help_text='What the amounts are in (free text: INR, Points, credits).', max_length=32),
        ),
        migrations.AddField(
            model_name='historicalwebhookendpoint',
            name='format',
            field=models.CharField(choices=[('native', "This service's event envelope"), ('appvirality', "AppVirality's webhook JSON (conversion, friend, referrer)")], default='native', help_text="appvirality: the body is AppVirality's webhook JSON (for conversions and reward statuses).", max_length=12),
        ),
        migrations.AddField(
            model_name='webhookendpoint',
            name='format',
            field=models.CharField(choices=[('native', "This service's event envelope"), ('appvirality', "AppVirality's webhook JSON (conversion, friend, referrer)")], default='native', help_text="appvirality: the body is AppVirality's webhook JSON (for conversions and reward statuses).", max_length=12),
        ),
        migrations.AlterField(
            model_name='outboxevent',
            name='kind',
            field=models.CharField(choices=[('redemption', 'Redemption (AppVirality Redeem Rewards)'), ('issue', 'Reward issued (Capillary Issue Reward)'), ('reversal', 'Reversal of a redemption or issue'), ('adjustment', 'Manual wallet adjustment'), ('low_stock', 'Coupon pool below its stock level'), ('conversion', 'Rewards earned by a conversion event (AppVirality)'), ('reward_status', 'Earned reward status changed (review)')], max_length=16),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.UniqueConstraint(fields=('org', 'referral_code'), name='customer_org_referral_code'),
        ),

        migrations.AlterField(
            model_name='campaign',
            name='reward_unit',
            field=models.CharField(blank=True, db_default='credits', default='credits', help_text='What the amounts are in (free text: INR, Points, credits).', max_length=32),
        ),
        migrations.AlterField(
            model_name='customer',
            name='name',
            field=models.CharField(blank=True, db_default='', default='', max_length=200),
        ),
        migrations.AlterField(
            model_name='customer',
            name='referral_code',
            field=models.CharField(blank=True, default=orgs.models.referral_code_new, help_text='The code this user shares (A-Z0-9, matched case-insensitively; stored upper-case).', max_length=8, null=True),
        ),
        migrations.AlterField(
            model_name='customer',
            name='registered_at',
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), default=django.utils.timezone.now, help_text='AppVirality regDate.'),
        ),
        migrations.AlterField(
            model_name='historicalcampaign',
            name='reward_unit',
            field=models.CharField(blank=True, db_default='credits', default='credits', help_text='What the amounts are in (free text: INR, Points, credits).', max_length=32),
        ),
        migrations.AlterField(
            model_name='historicalwebhookendpoint',
            name='format',
            field=models.CharField(blank=True, choices=[('native', "This service's event envelope"), ('appvirality', "AppVirality's webhook JSON (conversion, friend, referrer)")], db_default='native', default='native', help_text="appvirality: the body is AppVirality's webhook JSON (for conversions and reward statuses).", max_length=12),
        ),
        migrations.AlterField(
            model_name='webhookendpoint',
            name='format',
            field=models.CharField(blank=True, choices=[('native', "This service's event envelope"), ('appvirality', "AppVirality's webhook JSON (conversion, friend, referrer)")], db_default='native', default='native', help_text="appvirality: the body is AppVirality's webhook JSON (for conversions and reward statuses).", max_length=12),
        ),
        # Last: PostgreSQL refuses to alter a table with pending trigger events from this update.
        migrations.RunPython(existing_customers, migrations.RunPython.noop),
    ]
