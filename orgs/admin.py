"""Admin of tenants, credentials, customers, segments, cards, groups and campaigns.

Secrets are never shown or edited in plain text: only their digests (or the
Django password hash of a till) are displayed, read-only.
"""

from django.contrib import admin
from django.db import models
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

from rewards_site.admin_mixins import ReadOnlyMixin

from .events import delivery_retry_now
from .models import (
    ApiClient,
    AppCredential,
    Campaign,
    Card,
    Customer,
    CustomerGroup,
    CustomerNote,
    CustomerSegment,
    GroupMember,
    Org,
    OrgConnection,
    OutboxEvent,
    Segment,
    Till,
    WebhookDelivery,
    WebhookEndpoint,
)

# Search by a customer's identifiers, exact (case-insensitive) matches only.
CUSTOMER_SEARCH_FIELDS = ("=external_id", "=user_key", "=email", "=mobile")


def customer_search_fields(path: str) -> tuple[str, ...]:
    """``CUSTOMER_SEARCH_FIELDS`` reached through the relation ``path`` (e.g. ``"wallet__customer"``)."""
    return tuple(f"={path}__{field.removeprefix('=')}" for field in CUSTOMER_SEARCH_FIELDS)


class OrgConnectionInline(ReadOnlyMixin, admin.TabularInline):
    """Connected orgs, read-only: a link is stored in both directions, so one-sided edits would break it."""

    model = OrgConnection
    fk_name = "from_org"
    fields = ("to_org",)
    readonly_fields = ("to_org",)
    verbose_name = "connected org"
    extra = 0


@admin.register(Org)
class OrgAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "created_at")
    search_fields = ("id__exact", "name")
    readonly_fields = ("created_at",)
    inlines = (OrgConnectionInline,)


@admin.register(AppCredential)
class AppCredentialAdmin(admin.ModelAdmin):
    list_display = ("org", "apikey", "created_at")
    list_select_related = ("org",)
    search_fields = ("=apikey", "org__id__exact", "org__name")
    fields = ("org", "apikey", "privatekey_digest", "created_at")
    readonly_fields = ("privatekey_digest", "created_at")


@admin.register(Till)
class TillAdmin(admin.ModelAdmin):
    list_display = ("username", "org", "is_active")
    list_filter = ("org", "is_active")
    list_select_related = ("org",)
    search_fields = ("username",)
    fields = ("org", "username", "is_active", "password")
    readonly_fields = ("password",)


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ("key", "org", "is_active")
    list_filter = ("org", "is_active")
    list_select_related = ("org",)
    search_fields = ("=key",)
    fields = ("org", "key", "is_active", "secret_digest")
    readonly_fields = ("secret_digest",)


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ("name", "org")
    list_filter = ("org",)
    list_select_related = ("org",)
    search_fields = ("name",)


class CustomerSegmentInline(admin.TabularInline):
    model = CustomerSegment
    fields = ("org", "segment")
    autocomplete_fields = ("segment",)
    extra = 0


class CardInline(admin.TabularInline):
    model = Card
    fields = ("org", "number", "status")
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("external_id", "org", "user_key", "email", "mobile", "blocked", "created_at")
    list_filter = ("org", "blocked")
    list_select_related = ("org",)
    search_fields = CUSTOMER_SEARCH_FIELDS
    readonly_fields = ("created_at",)
    show_full_result_count = False
    inlines = (CustomerSegmentInline, CardInline)
    change_form_template = "admin/backoffice/change_form_with_operations.html"
    change_list_template = "admin/backoffice/customer_change_list.html"

    def get_urls(self):
        from orgs.admin_views import customer_360_view, customer_search_view

        wrap = self.admin_site.admin_view
        return [
            path("360/", wrap(lambda request: customer_search_view(self, request)), name="orgs_customer_360_search"),
            path(
                "<path:customer_id>/360/",
                wrap(lambda request, customer_id: customer_360_view(self, request, customer_id)),
                name="orgs_customer_360",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        links = [("Customer 360", reverse("admin:orgs_customer_360", args=[object_id]), "customer-360")]
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "operation_links": links})


@admin.register(CustomerNote)
class CustomerNoteAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "org", "customer", "author_username", "text")
    list_filter = ("org",)
    list_select_related = ("org", "customer")
    search_fields = customer_search_fields("customer")
    raw_id_fields = ("customer",)
    fields = ("org", "customer", "text", "author_username", "created_at")
    readonly_fields = ("author_username", "created_at")
    ordering = ("-id",)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.author, obj.author_username = request.user, request.user.get_username()
        super().save_model(request, obj, form, change)


@admin.register(Card)
class CardAdmin(admin.ModelAdmin):
    list_display = ("number", "status", "customer", "org")
    list_filter = ("org", "status")
    list_select_related = ("org", "customer")
    search_fields = ("=number", *customer_search_fields("customer"))
    raw_id_fields = ("customer",)
    show_full_result_count = False


class GroupMemberInline(admin.TabularInline):
    model = GroupMember
    fields = ("org", "customer")
    raw_id_fields = ("customer",)
    extra = 0


@admin.register(CustomerGroup)
class CustomerGroupAdmin(admin.ModelAdmin):
    list_display = ("id", "external_id", "org", "primary")
    list_filter = ("org",)
    list_select_related = ("org", "primary")
    search_fields = ("id__exact", "=external_id", *customer_search_fields("primary"))
    raw_id_fields = ("primary",)
    inlines = (GroupMemberInline,)


@admin.register(Campaign)
class CampaignAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "org", "growth_hack", "reward_type", "coupon_distribution", "active", "ends_at")
    list_filter = ("org", "growth_hack", "reward_type", "active")
    list_select_related = ("org",)
    search_fields = ("code", "name")
    autocomplete_fields = ("eligible_segment",)


# --- Events and webhooks -----------------------------------------------------------------------


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(SimpleHistoryAdmin):
    list_display = ("url", "org", "kinds", "active", "created_at")
    list_filter = ("org", "active")
    list_select_related = ("org",)
    search_fields = ("url",)
    readonly_fields = ("created_at",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


class WebhookDeliveryInline(ReadOnlyMixin, admin.TabularInline):
    model = WebhookDelivery
    fields = ("endpoint", "state", "attempts", "next_attempt_at", "last_status", "last_error", "delivered_at")
    readonly_fields = fields
    extra = 0


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "org", "kind", "event_id", "dispatched_at")
    list_filter = ("org", "kind", ("dispatched_at", admin.EmptyFieldListFilter))
    list_select_related = ("org",)
    search_fields = ("=event_id",)
    ordering = ("-id",)
    show_full_result_count = False
    inlines = (WebhookDeliveryInline,)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "event", "endpoint", "org", "state", "attempts", "next_attempt_at", "last_status")
    list_filter = ("state", "org")
    list_select_related = ("org", "event", "endpoint")
    search_fields = ("=event__event_id", "endpoint__url")
    ordering = ("-id",)
    show_full_result_count = False
    actions = ("retry_now",)

    @admin.action(description="Retry now (dead-lettered or waiting deliveries)")
    def retry_now(self, request, queryset):
        count = delivery_retry_now(delivery_pks=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} deliver{'y' if count == 1 else 'ies'} queued again.")

    def has_change_permission(self, request, obj=None):
        return False


# The admin index is the back-office dashboard (templates/admin/backoffice/index.html).
admin.site.index_template = "admin/backoffice/index.html"
admin.site.site_header = admin.site.site_title = "Rewards back office"
admin.site.index_title = "Dashboard"
# No navigation sidebar: the lists need the width (every column on a 1366 px screen); the index and
# the breadcrumbs lead everywhere.
admin.site.enable_nav_sidebar = False
