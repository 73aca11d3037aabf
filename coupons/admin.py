"""Admin of coupon pools and their coupons: stock at a glance, uploads, generation, voiding, export."""

import csv
import logging
import uuid

from django import forms
from django.contrib import admin, messages
from django.core.cache import cache
from django.http import JsonResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from core.admin_mixins import ReadOnlyMixin
from core.admin_operations import OperationsMixin, change_url, object_or_404, operation_view, require_perm
from core.admin_tools import EstimatedCountPaginator, nowrap
from core.errors import DomainError
from orgs.admin import customer_search_fields

from .models import Coupon, CouponPool
from .selectors import pool_stock
from .services import coupons_generate, coupons_import, coupons_void

log = logging.getLogger(__name__)


class UploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="One code per line; an optional first line 'code'.")
    expires_at = forms.DateTimeField(required=False, help_text="Optional expiry of the uploaded codes.")
    token = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)


UPLOAD_PROGRESS_SECONDS = 3600


def upload_progress_key(pool_id: int, token: str) -> str:
    return f"coupon-upload:{pool_id}:{token}"


class GenerateForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=1_000_000)
    prefix = forms.CharField(required=False, max_length=20)
    length = forms.IntegerField(min_value=6, max_value=32, initial=10, help_text="Random characters after the prefix.")


@admin.register(CouponPool)
class CouponPoolAdmin(OperationsMixin, SimpleHistoryAdmin):
    list_display = ("id", "name", "org", "campaign", "low_below", "available", "issued", "expired", "coupons")
    list_filter = ("org",)
    list_select_related = ("org", "campaign")
    search_fields = ("id__exact", "name")
    autocomplete_fields = ("campaign",)
    readonly_fields = ("created_at", "stock", "low_stock_since")
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        # The id is the poolId callers use: chosen when the pool is added, fixed afterwards.
        fields = super().get_readonly_fields(request, obj)
        return ("id", *fields) if obj is not None else fields

    @admin.display(description="low below", ordering="low_stock_threshold")
    def low_below(self, obj):
        return obj.low_stock_threshold

    # The stock of the pools on the page only, in one grouped query (not a join of every coupon
    # into the list and its count query).
    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        pools = list(changelist.result_list)  # evaluates (and caches) the page
        stock = pool_stock(pool_ids=[pool.pk for pool in pools])
        for pool in pools:
            pool.stock_now = stock[pool.pk]
        return changelist

    def get_object(self, request, object_id, from_field=None):
        pool = super().get_object(request, object_id, from_field)
        if pool is not None:
            pool.stock_now = pool_stock(pool_ids=[pool.pk])[pool.pk]
        return pool

    @admin.display(description="available")
    def available(self, obj):
        count = obj.stock_now.available
        if count < obj.low_stock_threshold:
            return format_html('<strong class="low-stock" style="color: #ba2121">{} (low)</strong>', count)
        return count

    @admin.display(description="issued")
    def issued(self, obj):
        return obj.stock_now.issued

    @admin.display(description="expired")
    def expired(self, obj):
        return obj.stock_now.expired

    @admin.display(description="stock")
    def stock(self, obj):
        if getattr(obj, "stock_now", None) is None:
            return "-"
        return format_html(
            "{} available, {} issued, {} expired", self.available(obj), obj.stock_now.issued, obj.stock_now.expired
        )

    @admin.display(description="")
    def coupons(self, obj):
        url = reverse("admin:coupons_coupon_changelist")
        return format_html('<a href="{}?pool={}">Coupons</a>', url, obj.pk)

    def operation_links(self, request, obj):
        links = []
        if request.user.has_perm("coupons.manage_stock"):
            links.append(("Upload codes (CSV)", reverse("admin:coupons_couponpool_upload", args=[obj.pk]), "upload"))
            links.append(("Generate codes", reverse("admin:coupons_couponpool_generate", args=[obj.pk]), "generate"))
        if request.user.has_perm("coupons.export_coupons"):
            links.append(("Export issued (CSV)", reverse("admin:coupons_couponpool_export", args=[obj.pk]), "export"))
        return links

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/upload/", wrap(self.upload_view), name="coupons_couponpool_upload"),
            path(
                "<path:object_id>/upload/progress/",
                wrap(self.upload_progress_view),
                name="coupons_couponpool_upload_progress",
            ),
            path("<path:object_id>/generate/", wrap(self.generate_view), name="coupons_couponpool_generate"),
            path("<path:object_id>/export/", wrap(self.export_view), name="coupons_couponpool_export"),
            *super().get_urls(),
        ]

    def upload_view(self, request, object_id):
        """Upload codes from a CSV file; the report names duplicates and malformed lines."""
        require_perm(request, "coupons.manage_stock")
        pool = object_or_404(CouponPool.objects, object_id)
        form = UploadForm(request.POST or None, request.FILES or None, initial={"token": uuid.uuid4().hex})
        report = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            key = upload_progress_key(pool.pk, form.cleaned_data["token"] or uuid.uuid4().hex)
            seen = [0]

            def progress(n):
                """Lines read so far, for the page's progress line (polled) and the log."""
                seen[0] += n
                cache.set(key, {"lines": seen[0], "done": False}, UPLOAD_PROGRESS_SECONDS)
                if seen[0] % 100_000 == 0:
                    log.info("pool %s upload: %d lines read", pool.pk, seen[0])

            try:
                report = coupons_import(
                    pool_id=pool.pk, lines=upload, expires_at=form.cleaned_data["expires_at"], progress=progress
                )
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                cache.set(key, {"lines": report.lines, "done": True}, UPLOAD_PROGRESS_SECONDS)
                level = messages.WARNING if report.problems else messages.SUCCESS
                self.message_user(request, f"Upload of {upload.name}: {report.summary()}.", level)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": pool,
            "title": "Upload codes (CSV)",
            "form": form,
            "report": report,
            "back_url": change_url(pool),
            "progress_url": reverse("admin:coupons_couponpool_upload_progress", args=[pool.pk]),
        }
        return TemplateResponse(request, "admin/backoffice/coupon_upload.html", context)

    def upload_progress_view(self, request, object_id):
        """``{"lines": n, "done": bool}``: how far the server has read an upload (by its form token)."""
        require_perm(request, "coupons.manage_stock")
        pool = object_or_404(CouponPool.objects, object_id)
        token = request.GET.get("token", "")[:64]
        return JsonResponse(cache.get(upload_progress_key(pool.pk, token)) or {"lines": 0, "done": False})

    def generate_view(self, request, object_id):
        pool = object_or_404(CouponPool.objects, object_id)

        def perform(data):
            added = coupons_generate(
                pool_id=pool.pk, count=data["count"], prefix=data["prefix"] or "", length=data["length"]
            )
            return f"{added} new codes added to pool {pool.pk}."

        return operation_view(
            self,
            request,
            obj=pool,
            permission="coupons.manage_stock",
            title="Generate codes",
            form_class=GenerateForm,
            perform=perform,
            intro="Random codes (Crockford base32), none equal to a code the pool has.",
        )

    def export_view(self, request, object_id):
        """The pool's issued coupons as CSV, streamed (a million rows never sit in memory)."""
        require_perm(request, "coupons.export_coupons")
        pool = object_or_404(CouponPool.objects, object_id)
        rows = (
            Coupon.objects.filter(pool=pool, status=Coupon.Status.ISSUED)
            .order_by("pk")
            .values_list("code", "holder__external_id", "holder__email", "holder__mobile", "issued_at", "expires_at")
            .iterator(chunk_size=5000)
        )

        class Echo:
            def write(self, value):
                return value

        writer = csv.writer(Echo())

        def lines():
            yield writer.writerow(
                ["code", "holder_external_id", "holder_email", "holder_mobile", "issued_at", "expires_at"]
            )
            for code, external_id, email, mobile, issued_at, expires_at in rows:
                yield writer.writerow(
                    [
                        code,
                        external_id,
                        email or "",
                        mobile or "",
                        issued_at.isoformat() if issued_at else "",
                        expires_at.isoformat() if expires_at else "",
                    ]
                )

        response = StreamingHttpResponse(lines(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="pool-{pool.pk}-issued.csv"'
        return response


@admin.register(Coupon)
class CouponAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Coupons are read here: their status changes only through the ``coupons`` services (uploads
    and generation on the pool's page, the void action below, reversals and revocations)."""

    list_display = (
        "code_shown", "pool", "org", "status", "holder", "expires_at", "issued_at", "redeemed_transaction_number",
    )  # fmt: skip
    list_filter = ("org", "status")
    list_select_related = ("org", "pool", "holder")
    # The till's transaction number finds the coupon used in it (Capillary coupon/redeem).
    search_fields = ("=code", "=redeemed_transaction_number", *customer_search_fields("holder"))
    raw_id_fields = ("pool", "holder")
    ordering = ("-id",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ("void_coupons",)

    @admin.display(description="code", ordering="code")
    def code_shown(self, obj):
        return nowrap(obj.code)  # a code does not break at its hyphen

    def has_manage_stock_permission(self, request):
        return request.user.has_perm("coupons.manage_stock")

    @admin.action(description="Void the selected coupons (available or expired ones)", permissions=["manage_stock"])
    def void_coupons(self, request, queryset):
        voided, left = coupons_void(coupon_ids=queryset.values_list("pk", flat=True))
        note = f"; {left} issued or void coupon(s) left as they were (revoke the issue instead)" if left else ""
        self.message_user(request, f"{voided} coupon(s) voided{note}.", messages.WARNING if left else messages.SUCCESS)
