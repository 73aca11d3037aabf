"""Admin of the rewards catalogue: rewards, payment configs, promotions, org definitions."""

from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

from .models import (
    CatalogueReward,
    CustomFieldDefinition,
    FulfillmentStatusDefinition,
    PaymentConfig,
    Promotion,
    RewardSegment,
)


@admin.register(Promotion)
class PromotionAdmin(SimpleHistoryAdmin):
    list_display = ("code", "org", "active", "max_per_customer")
    list_filter = ("org", "active")
    list_select_related = ("org",)
    search_fields = ("code",)


class PaymentConfigInline(admin.TabularInline):
    model = PaymentConfig
    fields = ("id", "org", "mode", "points", "conversion_ratio")
    extra = 0


class RewardSegmentInline(admin.TabularInline):
    model = RewardSegment
    fields = ("org", "segment")
    autocomplete_fields = ("segment",)
    extra = 0


@admin.register(CatalogueReward)
class CatalogueRewardAdmin(SimpleHistoryAdmin):
    list_display = ("id", "name", "org", "type", "enabled", "starts_at", "ends_at", "coupon_pool", "promotion")
    list_filter = ("org", "type", "enabled")
    list_select_related = ("org", "coupon_pool", "promotion")
    search_fields = ("id__exact", "name")
    raw_id_fields = ("coupon_pool",)
    autocomplete_fields = ("promotion",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = (PaymentConfigInline, RewardSegmentInline)


@admin.register(PaymentConfig)
class PaymentConfigAdmin(SimpleHistoryAdmin):
    list_display = ("id", "reward", "org", "mode", "points", "conversion_ratio")
    list_filter = ("org", "mode")
    list_select_related = ("org", "reward")
    search_fields = ("id__exact", "reward__id__exact", "reward__name")
    autocomplete_fields = ("reward",)


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(admin.ModelAdmin):
    list_display = ("name", "org")
    list_filter = ("org",)
    list_select_related = ("org",)
    search_fields = ("name",)


@admin.register(FulfillmentStatusDefinition)
class FulfillmentStatusDefinitionAdmin(admin.ModelAdmin):
    list_display = ("name", "org")
    list_filter = ("org",)
    list_select_related = ("org",)
    search_fields = ("name",)
