"""The staff groups "Support agent" and "Rewards manager" (see orgs/roles.py)."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from orgs.roles import roles_setup

    roles_setup(apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("orgs", "0004_customernote"),
        ("wallets", "0006_reversals_adjustments"),
        ("coupons", "0005_pool_permissions"),
        ("catalogue", "0004_issue_revocation"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
