"""Admin of coupon pools and their coupons."""

from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from orgs.admin import customer_search_fields

from .models import Coupon, CouponPool


@admin.register(CouponPool)
class CouponPoolAdmin(SimpleHistoryAdmin):
    list_display = ("id", "name", "org", "campaign", "low_stock_threshold", "available", "issued", "coupons")
    list_filter = ("org",)
    list_select_related = ("org", "campaign")
    search_fields = ("id__exact", "name")
    autocomplete_fields = ("campaign",)
    readonly_fields = ("created_at",)
    show_full_result_count = False  # the counts join every coupon: one count query, not two

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                available_count=Count("coupons", filter=Q(coupons__status=Coupon.Status.AVAILABLE)),
                issued_count=Count("coupons", filter=Q(coupons__status=Coupon.Status.ISSUED)),
            )
        )

    @admin.display(description="available", ordering="available_count")
    def available(self, obj):
        return obj.available_count

    @admin.display(description="issued", ordering="issued_count")
    def issued(self, obj):
        return obj.issued_count

    @admin.display(description="")
    def coupons(self, obj):
        url = reverse("admin:coupons_coupon_changelist")
        return format_html('<a href="{}?pool={}">Coupons</a>', url, obj.pk)


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = ("code", "pool", "org", "status", "holder", "expires_at", "issued_at")
    list_filter = ("org", "status")
    list_select_related = ("org", "pool", "holder")
    search_fields = ("=code", *customer_search_fields("holder"))
    raw_id_fields = ("pool", "holder")
    show_full_result_count = False
