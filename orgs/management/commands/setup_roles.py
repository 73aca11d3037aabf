from django.core.management.base import BaseCommand

from orgs.roles import roles_setup


class Command(BaseCommand):
    help = 'Create or update the staff groups "Support agent" and "Rewards manager" and their permissions.'

    def handle(self, *args, **options):
        for role, count in roles_setup().items():
            self.stdout.write(f"{role}: {count} permissions")
