from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class CatalogueConfig(AppConfig):
    name = "catalogue"

    def ready(self):
        from .models import CatalogueReward, PaymentConfig, Promotion, RewardSegment
        from .selectors import rewards_cache_clear

        # A catalogue change made in this process is seen by its next issue call at once.
        for model in (CatalogueReward, PaymentConfig, Promotion, RewardSegment):
            post_save.connect(rewards_cache_clear, sender=model, dispatch_uid=f"rewards-cache-save-{model.__name__}")
            post_delete.connect(rewards_cache_clear, sender=model, dispatch_uid=f"rewards-cache-del-{model.__name__}")
