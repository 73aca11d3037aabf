"""Admin of wallets, the ledger and earned rewards.

Balances change only through ``wallets.services.wallet_post``: here every money
field is read-only, ledger entries can only be viewed, and neither wallets nor
earned rewards can be changed or deleted once they exist.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from orgs.admin import customer_search_fields
from rewards_site.admin_mixins import ReadOnlyMixin

from .models import (
    Discrepancy,
    EarnedReward,
    IdempotencyKey,
    LedgerEntry,
    ReconciliationRun,
    RedemptionCall,
    Wallet,
)
from .reconciliation import discrepancies_resolve, reconciliation_request

LATEST_ENTRIES_SHOWN = 20
WALLET_OWNER_SEARCH_FIELDS = (*customer_search_fields("customer"), "group__id__exact", "=group__external_id")


class LatestEntriesFormSet(BaseInlineFormSet):
    """Only the newest ``LATEST_ENTRIES_SHOWN`` entries: a wallet's ledger grows without bound."""

    def get_queryset(self):
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset()[:LATEST_ENTRIES_SHOWN]
        return self._latest


class LedgerEntryInline(ReadOnlyMixin, admin.TabularInline):
    model = LedgerEntry
    formset = LatestEntriesFormSet
    fields = ("created_at", "kind", "delta", "balance_after", "reference", "memo")
    readonly_fields = fields
    ordering = ("-id",)
    verbose_name_plural = f"latest {LATEST_ENTRIES_SHOWN} ledger entries"
    extra = 0


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "customer", "group", "org", "balance", "created_at")
    list_filter = ("org", "kind")
    list_select_related = ("org", "customer", "group")
    search_fields = ("id__exact", *WALLET_OWNER_SEARCH_FIELDS)
    raw_id_fields = ("customer", "group")
    fields = ("org", "kind", "customer", "group", "balance", "created_at", "all_entries")
    readonly_fields = ("balance", "created_at", "all_entries")
    show_full_result_count = False
    inlines = (LedgerEntryInline,)

    @admin.display(description="ledger")
    def all_entries(self, obj):
        if obj.pk is None:
            return "-"
        url = reverse("admin:wallets_ledgerentry_changelist")
        return format_html('<a href="{}?wallet={}">All ledger entries</a>', url, obj.pk)

    def has_change_permission(self, request, obj=None):
        return False  # a wallet's owner and kind are fixed; its balance moves only through the ledger

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "wallet", "wallet__customer", "kind", "delta", "balance_after", "reference")
    list_filter = ("org", "kind")
    list_select_related = ("wallet__customer",)
    search_fields = ("=reference", *customer_search_fields("wallet__customer"))
    raw_id_fields = ("wallet",)
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(EarnedReward)
class EarnedRewardAdmin(admin.ModelAdmin):
    list_display = ("code", "customer", "campaign", "org", "amount", "redeemed_amount", "status", "earned_at")
    list_filter = ("org", "status", "campaign__reward_type")
    list_select_related = ("org", "customer", "campaign")
    search_fields = ("=code", *customer_search_fields("customer"))
    raw_id_fields = ("customer",)
    autocomplete_fields = ("campaign",)
    readonly_fields = ("redeemed_amount", "status", "redeemed_at")
    ordering = ("-id",)
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False  # redemptions go through the wallet services

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RedemptionCall)
class RedemptionCallAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "org",
        "customer",
        "user_identifier",
        "mode",
        "status_code",
        "amount",
        "replayed",
    )
    list_filter = ("org", "mode", "status_code", "replayed", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("org", "customer")
    search_fields = ("=user_identifier", "=idempotency_key", "=reference", *customer_search_fields("customer"))
    raw_id_fields = ("customer", "coupon", "ledger_entry")
    ordering = ("-id",)
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("key", "org", "http_status", "created_at")
    list_filter = ("org",)
    list_select_related = ("org",)
    search_fields = ("=key",)
    ordering = ("-id",)
    show_full_result_count = False


# --- Reconciliation ----------------------------------------------------------------------------


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Findings of the reconciliation; "Run reconciliation now" queues every check."""

    list_display = ("id", "check_name", "subject", "org", "expected", "found", "first_seen", "last_seen", "resolved_at")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter), "check_name", "org")
    list_select_related = ("org",)
    search_fields = ("=subject", "check_name")
    ordering = ("resolved_at", "-last_seen")
    actions = ("mark_resolved",)

    def get_urls(self):
        run = self.admin_site.admin_view(self.run_reconciliation)
        return [path("reconcile/", run, name="wallets_discrepancy_reconcile"), *super().get_urls()]

    def run_reconciliation(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        if reconciliation_request():
            self.message_user(request, "Reconciliation queued: findings appear here when it completes.")
        else:
            self.message_user(
                request, "The task queue is unreachable: run `python manage.py reconcile`.", messages.ERROR
            )
        return HttpResponseRedirect(reverse("admin:wallets_discrepancy_changelist"))

    @admin.action(description="Mark resolved (settled by staff)")
    def mark_resolved(self, request, queryset):
        count = discrepancies_resolve(pks=list(queryset.values_list("pk", flat=True)), note=f"by {request.user}")
        self.message_user(request, f"{count} finding(s) marked resolved.")


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "started_at", "finished_at", "wallets_checked", "findings", "new_findings", "resolved")
    ordering = ("-id",)
