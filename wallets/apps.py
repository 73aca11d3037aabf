from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class WalletsConfig(AppConfig):
    name = "wallets"

    def ready(self):
        from orgs.models import Campaign

        from .models import CampaignRule
        from .selectors import rules_cache_clear

        # A rule or campaign change made in this process is seen by its next conversion at once.
        for model in (CampaignRule, Campaign):
            post_save.connect(rules_cache_clear, sender=model, dispatch_uid=f"rules-cache-save-{model.__name__}")
            post_delete.connect(rules_cache_clear, sender=model, dispatch_uid=f"rules-cache-del-{model.__name__}")
