"""Earning: campaign rules, conversion events, the per-user limit counter, and the review life cycle
of earned rewards (existing rewards are approved: they were redeemable, and stay so)."""

import core.money
import django.db.models.deletion
import django.db.models.functions.text
import simple_history.models
from django.conf import settings
from django.db import migrations, models


def approve_existing(apps, schema_editor):
    """Every reward from before the review life cycle was redeemable: UNREDEEMED ones are approved."""
    EarnedReward = apps.get_model("wallets", "EarnedReward")
    EarnedReward.objects.exclude(review_status="APPROVED").update(review_status="APPROVED")


def setup_roles(apps, schema_editor):
    from orgs.roles import roles_setup

    roles_setup(apps=apps)


def install_schedules(apps, schema_editor):
    from core.schedules import schedules_install

    schedules_install(apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ('orgs', '0009_customer_referrer'),
        ('catalogue', '0004_issue_revocation'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
        ('coupons', '0006_pool_attributes_and_till_redemption'),
        ('orgs', '0008_referrals_and_appvirality_webhooks'),
        ('wallets', '0006_reversals_adjustments'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='HistoricalCampaignRule',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('event', models.CharField(help_text='Install, Signup, Transaction or a custom name.', max_length=100)),
                ('referrer_amount', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('referrer_percent', models.DecimalField(blank=True, decimal_places=2, max_digits=5, null=True)),
                ('referrer_max', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('referrer_coupon', models.BooleanField(default=False)),
                ('friend_amount', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('friend_percent', models.DecimalField(blank=True, decimal_places=2, max_digits=5, null=True)),
                ('friend_max', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('friend_coupon', models.BooleanField(default=False)),
                ('user_amount', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('user_percent', models.DecimalField(blank=True, decimal_places=2, max_digits=5, null=True)),
                ('user_max', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('user_coupon', models.BooleanField(default=False)),
                ('per_user', models.PositiveIntegerField(default=1, help_text='Events of one user paid under this rule, at most.')),
                ('review_days', models.PositiveIntegerField(default=0, help_text='New rewards stay under review this many days.')),
                ('active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(blank=True, editable=False)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
            ],
            options={
                'verbose_name': 'historical campaign rule',
                'verbose_name_plural': 'historical campaign rules',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalEarnedReward',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('code', models.CharField(help_text='AppVirality reward detail id (rewarddtlid).', max_length=100)),
                ('amount', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('status', models.CharField(choices=[('UNREDEEMED', 'Unredeemed'), ('REDEEMED', 'Redeemed')], default='UNREDEEMED', max_length=12)),
                ('earned_at', models.DateTimeField()),
                ('review_status', models.CharField(choices=[('UNDER_REVIEW', 'Under review'), ('APPROVED', 'Approved'), ('REJECTED', 'Rejected'), ('SUSPICIOUS', 'Suspicious')], default='APPROVED', max_length=12)),
                ('review_until', models.DateTimeField(blank=True, help_text='Under review until then; the review job approves it afterwards.', null=True)),
                ('review_comment', models.CharField(blank=True, max_length=500)),
                ('reviewed_by', models.CharField(blank=True, help_text='Who set the review status last.', max_length=150)),
                ('reviewed_at', models.DateTimeField(blank=True, null=True)),
                ('beneficiary', models.CharField(blank=True, choices=[('referrer', 'Referrer'), ('friend', 'Friend'), ('user', 'User')], max_length=8)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
            ],
            options={
                'verbose_name': 'historical earned reward',
                'verbose_name_plural': 'historical earned rewards',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='RuleUsage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('count', models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.AddField(
            model_name='earnedreward',
            name='beneficiary',
            field=models.CharField(blank=True, choices=[('referrer', 'Referrer'), ('friend', 'Friend'), ('user', 'User')], max_length=8),
        ),
        migrations.AddField(
            model_name='earnedreward',
            name='coupon',
            field=models.OneToOneField(blank=True, help_text='The coupon handed out for it (coupons by the event or by the order).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='earned_reward', to='coupons.coupon'),
        ),
        migrations.AddField(
            model_name='earnedreward',
            name='review_comment',
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name='earnedreward',
            name='review_status',
            field=models.CharField(choices=[('UNDER_REVIEW', 'Under review'), ('APPROVED', 'Approved'), ('REJECTED', 'Rejected'), ('SUSPICIOUS', 'Suspicious')], default='APPROVED', max_length=12),
        ),
        migrations.AddField(
            model_name='earnedreward',
            name='review_until',
            field=models.DateTimeField(blank=True, help_text='Under review until then; the review job approves it afterwards.', null=True),
        ),
        migrations.AddField(
            model_name='earnedreward',
            name='reviewed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='earnedreward',
            name='reviewed_by',
            field=models.CharField(blank=True, help_text='Who set the review status last.', max_length=150),
        ),
        migrations.CreateModel(
            name='CampaignRule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('event', models.CharField(help_text='Install, Signup, Transaction or a custom name.', max_length=100)),
                ('referrer_amount', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('referrer_percent', models.DecimalField(blank=True, decimal_places=2, max_digits=5, null=True)),
                ('referrer_max', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('referrer_coupon', models.BooleanField(default=False)),
                ('friend_amount', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('friend_percent', models.DecimalField(blank=True, decimal_places=2, max_digits=5, null=True)),
                ('friend_max', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('friend_coupon', models.BooleanField(default=False)),
                ('user_amount', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('user_percent', models.DecimalField(blank=True, decimal_places=2, max_digits=5, null=True)),
                ('user_max', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('user_coupon', models.BooleanField(default=False)),
                ('per_user', models.PositiveIntegerField(default=1, help_text='Events of one user paid under this rule, at most.')),
                ('review_days', models.PositiveIntegerField(default=0, help_text='New rewards stay under review this many days.')),
                ('active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('campaign', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='rules', to='orgs.campaign')),
                ('org', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='orgs.org')),
            ],
            options={
                'ordering': ['org_id', 'campaign_id', 'id'],
            },
        ),
        migrations.AddField(
            model_name='earnedreward',
            name='rule',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='wallets.campaignrule'),
        ),
        migrations.CreateModel(
            name='ConversionEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('event_name', models.CharField(max_length=100)),
                ('transaction_value', core.money.MoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('transaction_unit', models.CharField(blank=True, max_length=32)),
                ('extra_info', models.TextField(blank=True, max_length=1000)),
                ('tskey', models.CharField(blank=True, max_length=100, null=True)),
                ('answer', models.JSONField(blank=True, help_text='The rewards the first call answered (for repeats).', null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='conversion_events', to='orgs.customer')),
                ('org', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='orgs.org')),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
        migrations.AddField(
            model_name='earnedreward',
            name='conversion',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='rewards', to='wallets.conversionevent'),
        ),
        migrations.AddIndex(
            model_name='earnedreward',
            index=models.Index(condition=models.Q(('review_status', 'UNDER_REVIEW')), fields=['review_until', 'id'], name='earnedreward_in_review'),
        ),
        migrations.AddIndex(
            model_name='earnedreward',
            index=models.Index(condition=models.Q(('coupon__isnull', True), ('review_status', 'APPROVED'), ('rule__isnull', False), ('status', 'UNREDEEMED'), ('amount__isnull', True)), fields=['earned_at', 'id'], name='earnedreward_coupon_waiting'),
        ),
        migrations.AddConstraint(
            model_name='earnedreward',
            constraint=models.CheckConstraint(condition=models.Q(('review_status', 'APPROVED'), models.Q(('redeemed_amount', 0), ('status', 'UNREDEEMED')), _connector='OR'), name='earnedreward_consumed_is_approved'),
        ),
        migrations.AddField(
            model_name='historicalcampaignrule',
            name='campaign',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='orgs.campaign'),
        ),
        migrations.AddField(
            model_name='historicalcampaignrule',
            name='history_user',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='historicalcampaignrule',
            name='org',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='orgs.org'),
        ),
        migrations.AddField(
            model_name='historicalearnedreward',
            name='campaign',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='orgs.campaign'),
        ),
        migrations.AddField(
            model_name='historicalearnedreward',
            name='conversion',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='wallets.conversionevent'),
        ),
        migrations.AddField(
            model_name='historicalearnedreward',
            name='coupon',
            field=models.ForeignKey(blank=True, db_constraint=False, help_text='The coupon handed out for it (coupons by the event or by the order).', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='coupons.coupon'),
        ),
        migrations.AddField(
            model_name='historicalearnedreward',
            name='customer',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='orgs.customer'),
        ),
        migrations.AddField(
            model_name='historicalearnedreward',
            name='history_user',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='historicalearnedreward',
            name='org',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='orgs.org'),
        ),
        migrations.AddField(
            model_name='historicalearnedreward',
            name='rule',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='wallets.campaignrule'),
        ),
        migrations.AddField(
            model_name='ruleusage',
            name='customer',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='orgs.customer'),
        ),
        migrations.AddField(
            model_name='ruleusage',
            name='org',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='orgs.org'),
        ),
        migrations.AddField(
            model_name='ruleusage',
            name='rule',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='usages', to='wallets.campaignrule'),
        ),
        migrations.AddConstraint(
            model_name='campaignrule',
            constraint=models.UniqueConstraint(models.F('campaign'), django.db.models.functions.text.Lower('event'), name='campaignrule_campaign_event'),
        ),
        migrations.AddConstraint(
            model_name='campaignrule',
            constraint=models.CheckConstraint(condition=models.Q(('per_user__gte', 1)), name='campaignrule_per_user_positive'),
        ),
        migrations.AddConstraint(
            model_name='campaignrule',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('referrer_amount__isnull', True), ('referrer_percent__isnull', True), _connector='OR'), models.Q(('referrer_amount__isnull', True), ('referrer_amount__gt', 0), _connector='OR'), models.Q(('referrer_percent__isnull', True), ('referrer_percent__gt', 0), _connector='OR'), models.Q(('referrer_max__isnull', True), ('referrer_percent__isnull', False), _connector='OR'), models.Q(('referrer_coupon', False), models.Q(('referrer_amount__isnull', True), ('referrer_percent__isnull', True)), _connector='OR')), name='campaignrule_referrer_one_kind'),
        ),
        migrations.AddConstraint(
            model_name='campaignrule',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('friend_amount__isnull', True), ('friend_percent__isnull', True), _connector='OR'), models.Q(('friend_amount__isnull', True), ('friend_amount__gt', 0), _connector='OR'), models.Q(('friend_percent__isnull', True), ('friend_percent__gt', 0), _connector='OR'), models.Q(('friend_max__isnull', True), ('friend_percent__isnull', False), _connector='OR'), models.Q(('friend_coupon', False), models.Q(('friend_amount__isnull', True), ('friend_percent__isnull', True)), _connector='OR')), name='campaignrule_friend_one_kind'),
        ),
        migrations.AddConstraint(
            model_name='campaignrule',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('user_amount__isnull', True), ('user_percent__isnull', True), _connector='OR'), models.Q(('user_amount__isnull', True), ('user_amount__gt', 0), _connector='OR'), models.Q(('user_percent__isnull', True), ('user_percent__gt', 0), _connector='OR'), models.Q(('user_max__isnull', True), ('user_percent__isnull', False), _connector='OR'), models.Q(('user_coupon', False), models.Q(('user_amount__isnull', True), ('user_percent__isnull', True)), _connector='OR')), name='campaignrule_user_one_kind'),
        ),
        migrations.AddIndex(
            model_name='conversionevent',
            index=models.Index(fields=['org', 'customer', '-id'], name='conversionevent_customer'),
        ),
        migrations.AddConstraint(
            model_name='conversionevent',
            constraint=models.UniqueConstraint(fields=('org', 'customer', 'tskey'), name='conversionevent_tskey'),
        ),
        migrations.AddConstraint(
            model_name='ruleusage',
            constraint=models.UniqueConstraint(fields=('rule', 'customer'), name='ruleusage_rule_customer'),
        ),
        migrations.AlterModelOptions(
            name="earnedreward",
            options={
                "ordering": ["org_id", "earned_at", "id"],
                "permissions": [("review_earnedreward", "Can approve, reject or flag earned rewards")],
            },
        ),

        migrations.AlterField(
            model_name='earnedreward',
            name='beneficiary',
            field=models.CharField(blank=True, choices=[('referrer', 'Referrer'), ('friend', 'Friend'), ('user', 'User')], db_default='', default='', max_length=8),
        ),
        migrations.AlterField(
            model_name='earnedreward',
            name='review_comment',
            field=models.CharField(blank=True, db_default='', default='', max_length=500),
        ),
        migrations.AlterField(
            model_name='earnedreward',
            name='review_status',
            field=models.CharField(choices=[('UNDER_REVIEW', 'Under review'), ('APPROVED', 'Approved'), ('REJECTED', 'Rejected'), ('SUSPICIOUS', 'Suspicious')], db_default='APPROVED', default='APPROVED', max_length=12),
        ),
        migrations.AlterField(
            model_name='earnedreward',
            name='reviewed_by',
            field=models.CharField(blank=True, db_default='', default='', help_text='Who set the review status last.', max_length=150),
        ),
        migrations.AlterField(
            model_name='historicalearnedreward',
            name='beneficiary',
            field=models.CharField(blank=True, choices=[('referrer', 'Referrer'), ('friend', 'Friend'), ('user', 'User')], db_default='', default='', max_length=8),
        ),
        migrations.AlterField(
            model_name='historicalearnedreward',
            name='review_comment',
            field=models.CharField(blank=True, db_default='', default='', max_length=500),
        ),
        migrations.AlterField(
            model_name='historicalearnedreward',
            name='review_status',
            field=models.CharField(choices=[('UNDER_REVIEW', 'Under review'), ('APPROVED', 'Approved'), ('REJECTED', 'Rejected'), ('SUSPICIOUS', 'Suspicious')], db_default='APPROVED', default='APPROVED', max_length=12),
        ),
        migrations.AlterField(
            model_name='historicalearnedreward',
            name='reviewed_by',
            field=models.CharField(blank=True, db_default='', default='', help_text='Who set the review status last.', max_length=150),
        ),
        migrations.RunPython(approve_existing, migrations.RunPython.noop),
        migrations.RunPython(install_schedules, migrations.RunPython.noop),
        migrations.RunPython(setup_roles, migrations.RunPython.noop),
    ]
