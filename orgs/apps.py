from django.apps import AppConfig


class OrgsConfig(AppConfig):
    name = "orgs"

    def ready(self):
        from django.db.models.signals import post_delete, post_save, pre_save

        from .credentials import api_client_changed, api_client_saving
        from .models import ApiClient

        # Every process sees an API client's deactivation or deletion at once (orgs.credentials).
        pre_save.connect(api_client_saving, sender=ApiClient, dispatch_uid="api_client_saving")
        post_save.connect(api_client_changed, sender=ApiClient, dispatch_uid="api_client_saved")
        post_delete.connect(api_client_changed, sender=ApiClient, dispatch_uid="api_client_deleted")
