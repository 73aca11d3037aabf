from django.core.management.base import BaseCommand

EXAMPLES = """
Rewards engine demo at {base}
  Admin (demo superuser admin / admin):  {base}/admin/
  OpenAPI schema:                        {base}/api/schema/
  Swagger UI:                            {base}/api/docs/

  curl -s {base}/healthz
  curl -s {base}/api/schema/ | head
"""


class Command(BaseCommand):
    help = "Print example calls against a running server."

    def add_arguments(self, parser):
        parser.add_argument("--base", default="http://127.0.0.1:8000")

    def handle(self, *args, base: str, **options):
        self.stdout.write(EXAMPLES.format(base=base.rstrip("/")))
