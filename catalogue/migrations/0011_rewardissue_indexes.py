"""Issue records keep only the indexes a query uses: every issue writes each of them (11 before,
8 now; 6 for an issue with no group or promotion, the common case).

* gone: ``org_id`` (``rewardissue_org_points_ref`` (org, points_reference_id) leads with it: the
  purge and the reconciliation use that one), ``customer_id`` and (org, customer, promotion)
  (merged into (customer, promotion): a customer's issues for Customer 360, the reward-transactions
  list and a deleted customer's references; a promotion's units held by a customer), and
  (org, transaction_number), which no query reads (the admin's search ORs it with unindexed
  fields, so it scans anyway);
* ``group_id`` and ``promotion_id``, NULL on most rows, are indexed only where set (a deleted
  group's or promotion's references are found as before).

``reward_id`` (the admin's reward filter, a deleted reward's references), ``payment_config_id``
(a deleted config's references: the org purge deletes configs), the unique ``idempotency_id`` and
the primary key stay.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalogue', '0010_issue_local_set_based'),
        ('orgs', '0010_merge_0008_org_till_settings_0009_customer_referrer'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='rewardissue',
            name='rewardissue_customer_promo',
        ),
        migrations.RemoveIndex(
            model_name='rewardissue',
            name='rewardissue_txn_number',
        ),
        migrations.AlterField(
            model_name='rewardissue',
            name='customer',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='reward_issues', to='orgs.customer'),
        ),
        migrations.AlterField(
            model_name='rewardissue',
            name='group',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='reward_issues', to='orgs.customergroup'),
        ),
        migrations.AlterField(
            model_name='rewardissue',
            name='org',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='orgs.org'),
        ),
        migrations.AlterField(
            model_name='rewardissue',
            name='promotion',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='issues', to='catalogue.promotion'),
        ),
        migrations.AddIndex(
            model_name='rewardissue',
            index=models.Index(fields=['customer', 'promotion'], name='rewardissue_customer_promo'),
        ),
        migrations.AddIndex(
            model_name='rewardissue',
            index=models.Index(condition=models.Q(('group__isnull', False)), fields=['group'], name='rewardissue_group'),
        ),
        migrations.AddIndex(
            model_name='rewardissue',
            index=models.Index(condition=models.Q(('promotion__isnull', False)), fields=['promotion'], name='rewardissue_promotion'),
        ),
    ]
