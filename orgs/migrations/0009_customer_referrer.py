"""The referrer link of a customer (a migration of its own: PostgreSQL refuses to index a table in the
transaction that added a self-referencing foreign key to its rows)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orgs", "0008_referrals_and_appvirality_webhooks"),
    ]

    operations = [
        migrations.AddField(
            model_name='customer',
            name='referrer',
            field=models.ForeignKey(blank=True, help_text='The user whose referral code this one came with (set once).', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='referees', to='orgs.customer'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(condition=models.Q(('referrer__isnull', False)), fields=['org', 'referrer', 'registered_at', 'id'], name='customer_referees'),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.CheckConstraint(condition=models.Q(('referrer', models.F('id')), _negated=True), name='customer_not_own_referrer'),
        ),
    ]
