"""Admin of the rewards catalogue: rewards, payment configs, promotions, org definitions."""

from django.contrib import admin
from django.db import models
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from simple_history.admin import SimpleHistoryAdmin

from core.admin_mixins import ReadOnlyMixin
from core.admin_operations import OperationsMixin, ReasonForm, object_or_404, operation_view
from core.admin_tools import DateRangeFilter, EstimatedCountPaginator, InputFilter, ReferenceSearchMixin, short_time
from core.numbers import BIGINT_MAX
from orgs.admin import customer_search_fields
from wallets.admin import ledger_table
from wallets.models import LedgerEntry, Wallet

from .models import (
    CatalogueReward,
    CustomFieldDefinition,
    FulfillmentStatusDefinition,
    IssueRefusal,
    IssueRequest,
    PaymentConfig,
    Promotion,
    RewardIssue,
    RewardIssueChange,
    RewardIssueRevocation,
    RewardSegment,
    ValidationCode,
    VendorCall,
    VendorException,
)
from .revocation import reward_issue_revoke


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


class RewardIdFilter(InputFilter):
    title = "reward id"
    parameter_name = "reward_id"
    lookup = "reward_id"

    def clean(self, value):
        number = int(value)
        if not 0 < number <= BIGINT_MAX:
            raise ValueError("not a reward id")
        return number


# The ledger entry of a revocation carries "revoke:<the issue's pointsReferenceId>" (written by
# catalogue.revocation.reward_issue_revoke; tests/backoffice/test_reference_search.py makes one).
REVOCATION_REFERENCE_PREFIX = "revoke:"


@admin.register(RewardIssue)
class RewardIssueAdmin(ReferenceSearchMixin, OperationsMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "at", "reward", "payer", "quantity_shown", "points", "status", "references")
    list_filter = (
        "org",
        "status",
        "group_loyalty_redemption",
        "reward__type",
        RewardIdFilter,
        ("created_at", DateRangeFilter),
    )
    list_select_related = ("org", "reward", "customer", "group")
    search_fields = (
        "id__exact",
        "=points_reference_id",
        "=request_id",
        "=transaction_number",
        "=event_log_id",
        "=voucher",
        "=idempotency__request_id",
        *customer_search_fields("customer"),
    )
    reference_prefixes = (REVOCATION_REFERENCE_PREFIX,)
    ordering = ("-id",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = ("ledger_entries", "revocation_details")  # the answer: backoffice/admin.py

    @admin.display(description="at", ordering="created_at")
    def at(self, obj):
        return short_time(obj.created_at)

    @admin.display(description="customer (group)", ordering="customer_id")
    def payer(self, obj):
        return f"{obj.customer}, group {obj.group.external_id or obj.group_id}" if obj.group_id else str(obj.customer)

    @admin.display(description="qty", ordering="quantity")
    def quantity_shown(self, obj):
        return obj.quantity

    @admin.display(description="references")
    def references(self, obj):
        """What the ledger, the till and the vendor know the issue by, one per line."""
        lines = [
            ("points", obj.points_reference_id),
            ("request", obj.request_id),
            ("transaction", obj.transaction_number),
            ("voucher", obj.voucher),
        ]
        return format_html_join(
            "",
            '<span class="nowrap reference" title="{1}">{0}: {2}</span><br>',
            ((name, value, Truncator(value).chars(24)) for name, value in lines if value),
        )

    @admin.display(description="ledger entries it made")
    def ledger_entries(self, obj):
        owner = {"wallet__group_id": obj.group_id} if obj.group_id else {"wallet__customer_id": obj.customer_id}
        references = [obj.points_reference_id, f"revoke:{obj.points_reference_id}"]
        entries = LedgerEntry.objects.filter(
            org_id=obj.org_id, wallet__kind=Wallet.Kind.POINTS, reference__in=references, **owner
        ).order_by("id")
        return ledger_table(list(entries))

    @admin.display(description="revocation")
    def revocation_details(self, obj):
        revocation = RewardIssueRevocation.objects.filter(issue=obj).first()
        if revocation is None:
            return "-"
        return format_html(
            "revoked {} by {}: {}",
            f"{revocation.created_at:%Y-%m-%d %H:%M}",
            revocation.staff_username,
            revocation.reason,
        )

    def operation_links(self, request, obj):
        if not request.user.has_perm("catalogue.revoke_rewardissue") or obj.status != RewardIssue.Status.ISSUED:
            return []
        return [("Revoke this reward", reverse("admin:catalogue_rewardissue_revoke", args=[obj.pk]), "revoke-issue")]

    def get_urls(self):
        view = self.admin_site.admin_view(self.revoke_view)
        return [path("<path:object_id>/revoke/", view, name="catalogue_rewardissue_revoke"), *super().get_urls()]

    def revoke_view(self, request, object_id):
        issue = object_or_404(RewardIssue.objects.select_related("customer", "reward"), object_id)

        def perform(data):
            revocation = reward_issue_revoke(reward_issue_id=issue.pk, reason=data["reason"], staff_user=request.user)
            return (
                f"Issued reward {issue.pk} revoked: {revocation.points} points refunded, "
                f"{revocation.coupons_voided} coupon(s) voided."
            )

        return operation_view(
            self,
            request,
            obj=issue,
            permission="catalogue.revoke_rewardissue",
            title="Revoke issued reward",
            form_class=ReasonForm,
            perform=perform,
            intro="Its points go back to the wallet that paid, its coupons are voided, its status becomes CANCELLED.",
            details=[("customer", issue.customer), ("reward", issue.reward), ("points", issue.points)],
        )


@admin.register(IssueRefusal)
class IssueRefusalAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Issue Reward lines refused, as the call answered them (nothing moved, no requestId held)."""

    list_display = ("id", "at", "org", "reward", "customer", "requested_quantity", "reason", "message", "request_id")
    list_filter = ("org", "reason", RewardIdFilter, ("created_at", DateRangeFilter))
    list_select_related = ("org", "reward", "customer")
    search_fields = ("=request_id", "=event_log_id", "=till_username", *customer_search_fields("customer"))
    ordering = ("-id",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    @admin.display(description="at", ordering="created_at")
    def at(self, obj):
        return short_time(obj.created_at)


@admin.register(RewardIssueRevocation)
class RewardIssueRevocationAdmin(ReferenceSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "org", "issue", "points", "coupons_voided", "staff_username", "reason")
    list_filter = ("org", ("created_at", DateRangeFilter))
    list_select_related = ("org", "issue")
    search_fields = ("=staff_username", "issue__id__exact", "=issue__points_reference_id", "ledger_entry__id__exact")
    reference_prefixes = (REVOCATION_REFERENCE_PREFIX,)
    ordering = ("-id",)


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
    list_display = ("id", "created_at", "org", "kind", "reward", "customer", "voucher", "points", "reason", "resolved")
    list_filter = ("org", "kind", "resolved")
    list_select_related = ("org", "reward", "customer")
    search_fields = ("=voucher", "=request_id", "=transaction_number", *customer_search_fields("customer"))

    def has_change_permission(self, request, obj=None):
        # staff mark an exception resolved once settled
        return request.user.has_perm("catalogue.change_vendorexception")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "resolved"]


@admin.register(VendorCall)
class VendorCallAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Vendor rewards in flight or settled; open ones past ``stale_after`` are settled by recovery."""

    list_display = (
        "id",
        "created_at",
        "org",
        "reward",
        "customer",
        "state",
        "points",
        "voucher",
        "issue",
        "staff_flag",
    )
    list_filter = ("state", ("staff_flag", admin.EmptyFieldListFilter), "partner_may_hold_voucher", "org")
    list_select_related = ("org", "reward", "customer", "issue")
    search_fields = ("=voucher", *customer_search_fields("customer"))
    raw_id_fields = ("customer", "group", "claim", "issue", "retry_of")
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(RewardIssueChange)
class RewardIssueChangeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Fulfilment changes made by tills (PUT /v1/management/transactions), before and after."""

    list_display = (
        "id", "changed_at", "org", "issue", "till_username", "fulfillment_status_before", "fulfillment_status_after",
    )  # fmt: skip
    list_filter = ("org", ("changed_at", DateRangeFilter))
    list_select_related = ("org", "issue")
    search_fields = ("issue__id__exact", "=till_username", "=issue__transaction_number")
    ordering = ("-id",)
