"""Admin of the rewards catalogue: rewards, payment configs, promotions, org definitions."""

from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

from orgs.admin import customer_search_fields
from rewards_site.admin_mixins import ReadOnlyMixin

from .models import (
    CatalogueReward,
    CustomFieldDefinition,
    FulfillmentStatusDefinition,
    IssueRequest,
    PaymentConfig,
    Promotion,
    RewardIssue,
    RewardSegment,
    ValidationCode,
    VendorCall,
    VendorException,
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


# --- Issue Reward records: read-only -------------------------------------------------------------


@admin.register(RewardIssue)
class RewardIssueAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "org",
        "reward",
        "customer",
        "group",
        "quantity",
        "points",
        "points_reference_id",
        "request_id",
        "transaction_number",
    )
    list_filter = ("org", "group_loyalty_redemption", "reward__type")
    list_select_related = ("org", "reward", "customer", "group")
    search_fields = (
        "id__exact",
        "=points_reference_id",
        "=request_id",
        "=transaction_number",
        "=event_log_id",
        "=voucher",
        *customer_search_fields("customer"),
    )
    show_full_result_count = False


@admin.register(IssueRequest)
class IssueRequestAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "org", "request_id", "state", "issue")
    list_filter = ("org", "state")
    list_select_related = ("org", "issue")
    search_fields = ("=request_id", "=issue__transaction_number")


@admin.register(ValidationCode)
class ValidationCodeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "org", "customer", "expires_at", "used_at")
    list_filter = ("org",)
    list_select_related = ("org", "customer")
    search_fields = customer_search_fields("customer")
    exclude = ("code_digest",)


@admin.register(VendorException)
class VendorExceptionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "org", "reward", "customer", "voucher", "points", "reason", "resolved")
    list_filter = ("org", "resolved")
    list_select_related = ("org", "reward", "customer")
    search_fields = ("=voucher", "=request_id", "=transaction_number", *customer_search_fields("customer"))

    def has_change_permission(self, request, obj=None):
        return request.user.is_staff  # staff mark an exception resolved once settled

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "resolved"]


@admin.register(VendorCall)
class VendorCallAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Vendor rewards in flight or settled; open ones past ``stale_after`` are settled by recovery."""

    list_display = ("id", "created_at", "org", "reward", "customer", "state", "points", "voucher", "issue")
    list_filter = ("state", "org")
    list_select_related = ("org", "reward", "customer", "issue")
    search_fields = ("=voucher", *customer_search_fields("customer"))
    raw_id_fields = ("customer", "group", "claim", "issue")
    ordering = ("-id",)
    show_full_result_count = False
