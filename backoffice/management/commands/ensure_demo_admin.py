from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

USERNAME, PASSWORD = "admin", "admin"


class Command(BaseCommand):
    help = "Create the demo superuser admin/admin if it does not exist (DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("refusing to create a demo superuser with DEBUG off: use createsuperuser")
        user_model = get_user_model()
        if user_model.objects.filter(username=USERNAME).exists():
            return
        user_model.objects.create_superuser(USERNAME, "admin@example.com", PASSWORD)
        self.stdout.write(f"Created the demo superuser {USERNAME} / {PASSWORD}.")
