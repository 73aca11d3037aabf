"""``python manage.py setup_schedules``: install the default periodic jobs (django-celery-beat)."""

from django.core.management.base import BaseCommand

from core.schedules import schedules_install


class Command(BaseCommand):
    help = "Create the default schedules of the periodic jobs that do not exist yet."

    def handle(self, *args, **options):
        created = schedules_install()
        for name in created:
            self.stdout.write(f"created: {name}")
        self.stdout.write(f"{len(created)} schedule(s) created")
