"""The back office of points at the till: redemptions and their reversals, read-only, found by
redemption id, transaction number, ledger reference or customer."""

from django.contrib import admin

from core.admin_mixins import ReadOnlyMixin
from core.admin_tools import DateRangeFilter, ReferenceSearchMixin
from orgs.admin import customer_search_fields

from .models import LedgerEntry, PointsRedemption, PointsReversal


class PointsReversalInline(ReadOnlyMixin, admin.TabularInline):
    model = PointsReversal
    fields = ("created_at", "points", "till_username", "ledger_entry")
    readonly_fields = fields
    extra = 0


# the ledger writes ``points-redeem:<redemption reference>`` and ``points-reverse:<redemption reference>``
_LEDGER_PREFIXES = ("points-redeem:", "points-reverse:")


@admin.register(PointsRedemption)
class PointsRedemptionAdmin(ReferenceSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "reference", "created_at", "org", "customer", "group", "points", "reversed_points", "redeemed_value",
        "transaction_number", "till_username",
    )  # fmt: skip
    list_filter = ("org", ("created_at", DateRangeFilter))
    list_select_related = ("org", "customer", "group")
    search_fields = ("=reference", "=transaction_number", "=till_username", *customer_search_fields("customer"))
    reference_prefixes = _LEDGER_PREFIXES
    readonly_fields = ("ledger_reference",)
    inlines = (PointsReversalInline,)
    ordering = ("-id",)

    @admin.display(description="ledger reference")
    def ledger_reference(self, obj):
        entry = LedgerEntry.objects.filter(pk=obj.ledger_entry_id).values_list("reference", "memo").first()
        return " - ".join(entry) if entry else "-"


@admin.register(PointsReversal)
class PointsReversalAdmin(ReferenceSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "org", "redemption", "points", "till_username")
    list_filter = ("org", ("created_at", DateRangeFilter))
    list_select_related = ("org", "redemption")
    search_fields = ("=redemption__reference", "=redemption__transaction_number", "=till_username")
    reference_prefixes = _LEDGER_PREFIXES
    ordering = ("-id",)
