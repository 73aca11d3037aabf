"""Admin of the outbox and the webhooks (their models live in ``orgs``)."""

from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

from core.admin_mixins import ReadOnlyMixin
from orgs.models import OutboxEvent, WebhookDelivery, WebhookEndpoint

from .outbox import delivery_retry_now


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
