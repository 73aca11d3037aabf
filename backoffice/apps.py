from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """The back office: admin pages that read across apps (Customer 360, dashboard), the scenario
    loader, purge and housekeeping. No models; after the domain apps, so its admin extends theirs."""

    name = "backoffice"
