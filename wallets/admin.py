"""Admin of wallets, the ledger and earned rewards.

Balances change only through ``wallets.services.wallet_post``: here every money
field is read-only, ledger entries can only be viewed, and neither wallets nor
earned rewards can be changed or deleted once they exist.
"""

import json
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from core.admin_mixins import ReadOnlyMixin
from core.admin_operations import OperationsMixin, ReasonForm, object_or_404, operation_view
from core.admin_tools import (
    DateRangeFilter,
    EstimatedCountPaginator,
    InputFilter,
    ReferenceSearchMixin,
)
from core.errors import DomainError
from orgs.admin import customer_search_fields

from .earning import AUTOMATIC_COUPONS, ReviewChange, rewards_review
from .models import (
    CampaignRule,
    ConversionEvent,
    Discrepancy,
    EarnedReward,
    IdempotencyKey,
    LedgerEntry,
    ReconciliationRun,
    RedemptionReversal,
    RuleUsage,
    Wallet,
    WalletAdjustment,
)
from .reconciliation import discrepancies_resolve, reconciliation_request
from .services import wallet_adjust

LATEST_ENTRIES_SHOWN = 20
# The prefixes of the ledger references these records are found by (written by appvirality.wire
# and wallets.services; tests/backoffice/test_reference_search.py makes real ones of each kind).
REDEMPTION_REFERENCE_PREFIX, REVERSAL_REFERENCE_PREFIX = "appvirality-redeem:", "reversal:"
ADJUSTMENT_REFERENCE_PREFIX = "adjustment:"
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


class AdjustmentForm(ReasonForm):
    delta = forms.DecimalField(
        label="amount", max_digits=18, decimal_places=2, help_text="Positive credits the wallet, negative debits it."
    )
    field_order = ["delta", "reason"]

    def clean_delta(self):
        if self.cleaned_data["delta"] == Decimal(0):
            raise forms.ValidationError("The amount must not be zero.")
        return self.cleaned_data["delta"]


@admin.register(Wallet)
class WalletAdmin(OperationsMixin, admin.ModelAdmin):
    list_display = ("id", "kind", "customer", "group", "org", "balance", "created_at")
    list_filter = ("org", "kind")
    list_select_related = ("org", "customer", "group")
    search_fields = ("id__exact", *WALLET_OWNER_SEARCH_FIELDS)
    raw_id_fields = ("customer", "group")
    fields = ("org", "kind", "customer", "group", "balance", "created_at", "all_entries")
    readonly_fields = ("balance", "created_at", "all_entries")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    inlines = (LedgerEntryInline,)

    @admin.display(description="ledger")
    def all_entries(self, obj):
        if obj.pk is None:
            return "-"
        url = reverse("admin:wallets_ledgerentry_changelist")
        return format_html('<a href="{}?wallet={}">All ledger entries</a>', url, obj.pk)

    def operation_links(self, request, obj):
        if not request.user.has_perm("wallets.adjust_wallet"):
            return []
        return [("Adjust balance", reverse("admin:wallets_wallet_adjust", args=[obj.pk]), "adjust-wallet")]

    def get_urls(self):
        view = self.admin_site.admin_view(self.adjust_view)
        return [path("<path:object_id>/adjust/", view, name="wallets_wallet_adjust"), *super().get_urls()]

    def adjust_view(self, request, object_id):
        wallet = object_or_404(Wallet.objects.select_related("customer", "group"), object_id)

        def perform(data):
            adjustment = wallet_adjust(
                wallet_id=wallet.pk, delta=data["delta"], reason=data["reason"], staff_user=request.user
            )
            balance = adjustment.ledger_entry.balance_after
            return f"Wallet {wallet.pk} adjusted by {adjustment.delta:+}: the balance is now {balance}."

        return operation_view(
            self,
            request,
            obj=wallet,
            permission="wallets.adjust_wallet",
            title="Adjust balance",
            form_class=AdjustmentForm,
            perform=perform,
            intro="A credit (positive) or debit (negative) written to the ledger as an ADJUSTMENT entry.",
            details=[("wallet", wallet), ("balance", wallet.balance)],
        )

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
    paginator = EstimatedCountPaginator


class ReviewQueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [
            ("review", "to review (under review or suspicious)"),
            ("coupon", "waiting for a coupon (no stock)"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "review":
            return queryset.filter(review_status__in=[EarnedReward.Review.UNDER_REVIEW, EarnedReward.Review.SUSPICIOUS])
        if self.value() == "coupon":
            return queryset.filter(
                status=EarnedReward.Status.UNREDEEMED,
                review_status=EarnedReward.Review.APPROVED,
                coupon__isnull=True,
                rule__isnull=False,
                amount__isnull=True,
                campaign__coupon_distribution__in=AUTOMATIC_COUPONS,
            )
        return queryset


def _review_action(status: str, label: str):
    def action(modeladmin, request, queryset):
        changes = [ReviewChange(code=code, review_status=status) for code in queryset.values_list("code", flat=True)]
        by_org: dict[int, list[ReviewChange]] = {}
        for org_id, code in queryset.values_list("org_id", "code"):
            by_org.setdefault(org_id, []).append(ReviewChange(code=code, review_status=status))
        try:
            for org_id, org_changes in sorted(by_org.items()):
                rewards_review(
                    org_id=org_id,
                    changes=org_changes,
                    actor=f"staff {request.user.get_username()}",
                    staff_user=request.user,
                )
        except DomainError as exc:
            modeladmin.message_user(request, f"Nothing changed: {exc}", messages.ERROR)
            return
        modeladmin.message_user(request, f"{len(changes)} reward(s) {label}.", messages.SUCCESS)

    action.__name__ = f"review_{status.lower()}"
    action.short_description = f"Review: mark selected rewards {label}"
    action.allowed_permissions = ("review",)
    return action


@admin.register(EarnedReward)
class EarnedRewardAdmin(SimpleHistoryAdmin):
    """Earned rewards and the review queue: the actions go through ``wallets.earning.rewards_review``
    (who and when are kept in each reward's history); nothing else here changes a reward."""

    list_display = (
        "code",
        "customer",
        "campaign",
        "org",
        "beneficiary",
        "amount",
        "redeemed_amount",
        "status",
        "review_status",
        "review_until",
        "coupon",
        "earned_at",
    )
    list_filter = ("org", ReviewQueueFilter, "review_status", "status", "campaign__reward_type", "beneficiary")
    list_select_related = ("org", "customer", "campaign", "coupon")
    search_fields = ("=code", *customer_search_fields("customer"))
    raw_id_fields = ("customer",)
    autocomplete_fields = ("campaign",)
    readonly_fields = ("redeemed_amount", "status", "redeemed_at")
    ordering = ("-id",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = [
        _review_action(EarnedReward.Review.APPROVED, "approved"),
        _review_action(EarnedReward.Review.REJECTED, "rejected"),
        _review_action(EarnedReward.Review.SUSPICIOUS, "suspicious"),
        _review_action(EarnedReward.Review.UNDER_REVIEW, "under review"),
    ]

    def has_review_permission(self, request):
        return request.user.has_perm("wallets.review_earnedreward")

    def has_change_permission(self, request, obj=None):
        return False  # redemptions go through the wallet services, reviews through the actions

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CampaignRule)
class CampaignRuleAdmin(SimpleHistoryAdmin):
    """What conversion events earn; every change is kept in the rule's history."""

    list_display = ("campaign", "event", "org", "per_user", "review_days", "active", "pays")
    list_filter = ("org", "active", "campaign__growth_hack")
    list_select_related = ("org", "campaign")
    search_fields = ("event", "campaign__code")
    autocomplete_fields = ("campaign",)
    fieldsets = [
        (None, {"fields": ("org", "campaign", "event", "per_user", "review_days", "active")}),
        *(
            (
                f"{side} earns",
                {
                    "fields": (f"{side}_amount", f"{side}_percent", f"{side}_max", f"{side}_coupon"),
                    "description": "A fixed amount, or a percent of the transaction value (at most max), or a coupon.",
                },
            )
            for side in CampaignRule.SIDES
        ),
    ]

    @admin.display(description="pays")
    def pays(self, rule: CampaignRule) -> str:
        parts = []
        for name in CampaignRule.SIDES:
            side = rule.side(name)
            if side is None:
                continue
            if side.coupon:
                parts.append(f"{name}: a coupon")
            elif side.amount is not None:
                parts.append(f"{name}: {side.amount}")
            else:
                parts.append(f"{name}: {side.percent}%" + (f" up to {side.cap}" if side.cap is not None else ""))
        return "; ".join(parts) or "-"


class ConversionRewardInline(ReadOnlyMixin, admin.TabularInline):
    model = EarnedReward
    fields = ("code", "customer", "campaign", "beneficiary", "amount", "status", "review_status", "coupon")
    readonly_fields = fields
    extra = 0


@admin.register(ConversionEvent)
class ConversionEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "org", "customer", "event_name", "transaction_value", "tskey")
    list_filter = ("org",)
    list_select_related = ("org", "customer")
    search_fields = ("=tskey", "event_name", *customer_search_fields("customer"))
    raw_id_fields = ("customer",)
    inlines = [ConversionRewardInline]
    ordering = ("-id",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator


@admin.register(RuleUsage)
class RuleUsageAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("rule", "customer", "count", "org")
    list_filter = ("org",)
    list_select_related = ("org", "rule__campaign", "customer")
    search_fields = customer_search_fields("customer")
    raw_id_fields = ("customer", "rule")


class EarnedRewardCodeFilter(InputFilter):
    title = "earned reward (rewarddtlid)"
    parameter_name = "reward"
    lookup = "reward_codes__contains"

    def queryset(self, request, queryset):
        if connection.vendor != "postgresql" and self.value():  # no JSON containment: match the quoted code
            return queryset.filter(reward_codes__icontains=json.dumps(self.value().strip()))
        return super().queryset(request, queryset)

    def clean(self, value):
        return [value]


def ledger_table(entries) -> str:
    if not entries:
        return "-"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (e.pk, f"{e.created_at:%Y-%m-%d %H:%M:%S}", e.kind, f"{e.delta:+}", e.balance_after, e.reference)
            for e in entries
        ),
    )
    return format_html(
        '<table class="ledger"><tr><th>id</th><th>at</th><th>kind</th><th>delta</th>'
        "<th>balance after</th><th>reference</th></tr>{}</table>",
        rows,
    )


@admin.register(RedemptionReversal)
class RedemptionReversalAdmin(ReferenceSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "org", "redemption_call", "amount", "staff_username", "reason")
    list_filter = ("org", ("created_at", DateRangeFilter))
    list_select_related = ("org", "redemption_call")
    search_fields = (
        "=staff_username",
        "redemption_call__id__exact",
        "ledger_entry__id__exact",
    )
    reference_prefixes = (REVERSAL_REFERENCE_PREFIX, REDEMPTION_REFERENCE_PREFIX)
    reference_uuid_fields = ("redemption_call__reference",)
    ordering = ("-id",)


@admin.register(WalletAdjustment)
class WalletAdjustmentAdmin(ReferenceSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "org", "wallet", "delta", "staff_username", "reason")
    list_filter = ("org", ("created_at", DateRangeFilter))
    list_select_related = ("org", "wallet")
    search_fields = (
        "=staff_username",
        "wallet__id__exact",
        "ledger_entry__id__exact",
        *customer_search_fields("wallet__customer"),
    )
    reference_prefixes = (ADJUSTMENT_REFERENCE_PREFIX,)  # "adjustment:<staff member>"
    ordering = ("-id",)


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


from . import till_admin  # noqa: E402,F401 - points at the till
