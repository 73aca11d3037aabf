from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """The admin as the support and rewards-operations desk: roles, dashboard, Customer 360."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "backoffice"
    verbose_name = "Back office"
