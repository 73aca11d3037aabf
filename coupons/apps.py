from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class CouponsConfig(AppConfig):
    name = "coupons"

    def ready(self):
        from orgs.models import Campaign

        from .models import CouponPool
        from .selectors import pools_cache_clear

        # A pool or campaign change made in this process is seen by its next redemption at once.
        for model in (CouponPool, Campaign):
            post_save.connect(pools_cache_clear, sender=model, dispatch_uid=f"pools-cache-save-{model.__name__}")
            post_delete.connect(pools_cache_clear, sender=model, dispatch_uid=f"pools-cache-del-{model.__name__}")
