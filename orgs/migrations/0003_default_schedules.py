"""The default schedules of the periodic jobs (rewards_site/schedules.py)."""

from django.db import migrations


def install(apps, schema_editor):
    from core.schedules import schedules_install

    schedules_install(apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("orgs", "0002_jobs_and_events"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
