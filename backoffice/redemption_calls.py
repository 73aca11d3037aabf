"""The admin of Redeem Rewards call records: a call as AppVirality answered it (statuscode, request
as parsed by the wire format), and its reversal by staff. Here, above the wire format, because
it reads AppVirality's codes (``appvirality.wire``); registered by ``backoffice/admin.py``."""

import json

from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html

from appvirality.wire import STATUS_CODES, WireError, parse_request
from core.admin_mixins import ReadOnlyMixin
from core.admin_operations import OperationsMixin, ReasonForm, object_or_404, operation_view
from core.admin_tools import DateRangeFilter, EstimatedCountPaginator, ReferenceSearchMixin, nowrap, short_time
from orgs.admin import customer_search_fields
from wallets.admin import (
    REDEMPTION_REFERENCE_PREFIX,
    REVERSAL_REFERENCE_PREFIX,
    EarnedRewardCodeFilter,
    ledger_table,
)
from wallets.models import RedemptionCall
from wallets.reversal import redemption_reverse

# Statuscodes a call record can hold (101 and 106 calls are not recorded).
RECORDED_STATUS_CODES = [code for code in STATUS_CODES if code not in (101, 106)]


def status_label(code: int) -> str:
    """``"5 · Invalid StoreID or EmailID"``: an AppVirality statuscode with its meaning."""
    status = STATUS_CODES.get(code)
    return f"{code} · {status.message}" if status else str(code)


class StatusCodeFilter(admin.SimpleListFilter):
    title = "status code"
    parameter_name = "status_code"

    def lookups(self, request, model_admin):
        return [(str(code), status_label(code)) for code in RECORDED_STATUS_CODES]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(status_code=int(value)) if value in self._codes() else queryset

    def _codes(self) -> set[str]:
        return {str(code) for code in RECORDED_STATUS_CODES}


def _requested(call: RedemptionCall):
    """The request of a call recorded without its parsed form (a replay, a 105): parsed again."""
    try:
        return parse_request(call.request_summary)
    except (WireError, TypeError, AttributeError):
        return None


class RedemptionCallAdmin(ReferenceSearchMixin, OperationsMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "at", "user", "mode_shown", "status", "moved", "replayed", "reversed")
    list_filter = ("org", "mode", StatusCodeFilter, "replayed", EarnedRewardCodeFilter, ("created_at", DateRangeFilter))
    list_select_related = ("org", "customer", "reversal", "coupon")
    # The ledger shows a call's reference as "appvirality-redeem:<hex>" (its reversal as "reversal:<hex>").
    search_fields = (
        "id__exact",
        "=user_identifier",
        "=idempotency_key",
        "=coupon__code",
        *customer_search_fields("customer"),
    )
    reference_prefixes = (REDEMPTION_REFERENCE_PREFIX, REVERSAL_REFERENCE_PREFIX)
    reference_uuid_fields = ("reference",)
    raw_id_fields = ("customer", "coupon", "ledger_entry")
    ordering = ("-id",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = (
        ("org", "customer", "created_at"),
        ("mode", "user_identifier", "status_meaning", "http_status", "replayed"),
        ("idempotency_key", "reference"),
        "request_pretty",
        "response_pretty",
        ("amount", "reward_codes", "reward_amounts", "coupon"),
        "ledger_entries",
        "reversal_details",
    )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["subtitle"] = self.title(obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def title(self, obj) -> str:
        """The page's title: ``Redemption call 12 · by amount · 1 · success``."""
        return f"Redemption call {obj.pk} · {self.mode_shown(obj)} · {status_label(obj.status_code)}"

    @admin.display(description="at", ordering="created_at")
    def at(self, obj):
        return short_time(obj.created_at)

    @admin.display(description="user")
    def user(self, obj):
        if obj.customer is not None:
            return str(obj.customer)
        request = _requested(obj) if not obj.user_identifier else None
        identifier = obj.user_identifier or (request.identifier if request else "")
        if not identifier:
            return "(none given)"
        return f"{identifier} (unknown)" if obj.status_code in (0, 2, 5) else identifier

    @admin.display(description="mode", ordering="mode")
    def mode_shown(self, obj):
        if obj.mode:
            return obj.get_mode_display().lower()
        request = _requested(obj)
        return RedemptionCall.Mode(request.mode).label.lower() if request else "(none given)"

    @admin.display(description="status", ordering="status_code")
    def status(self, obj):
        return status_label(obj.status_code)

    @admin.display(description="status code")
    def status_meaning(self, obj):
        return status_label(obj.status_code)

    @admin.display(description="amount / coupon")
    def moved(self, obj):
        if obj.amount is not None:
            return obj.amount
        if obj.coupon_id:
            return nowrap(obj.coupon.code)
        return "none (replayed answer)" if obj.replayed else "none"

    @admin.display(description="reversed", boolean=True)
    def reversed(self, obj):
        return hasattr(obj, "reversal")

    @admin.display(description="request")
    def request_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.request_summary, indent=2, sort_keys=True))

    @admin.display(description="response")
    def response_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.response, indent=2, sort_keys=True))

    @admin.display(description="ledger entries it made")
    def ledger_entries(self, obj):
        entries = [obj.ledger_entry] if obj.ledger_entry_id else []
        reversal = getattr(obj, "reversal", None)
        if reversal is not None and reversal.ledger_entry_id:
            entries.append(reversal.ledger_entry)
        return ledger_table(entries)

    @admin.display(description="reversal")
    def reversal_details(self, obj):
        reversal = getattr(obj, "reversal", None)
        if reversal is None:
            return "-"
        return format_html(
            "reversed {} by {}: {}", f"{reversal.created_at:%Y-%m-%d %H:%M}", reversal.staff_username, reversal.reason
        )

    def operation_links(self, request, obj):
        if not request.user.has_perm("wallets.reverse_redemption"):
            return []
        if hasattr(obj, "reversal") or obj.status_code != 1 or obj.replayed:
            return []
        url = reverse("admin:wallets_redemptioncall_reverse", args=[obj.pk])
        return [("Reverse this redemption", url, "reverse-redemption")]

    def get_urls(self):
        view = self.admin_site.admin_view(self.reverse_view)
        return [path("<path:object_id>/reverse/", view, name="wallets_redemptioncall_reverse"), *super().get_urls()]

    def reverse_view(self, request, object_id):
        call = object_or_404(RedemptionCall.objects.select_related("customer"), object_id)

        def perform(data):
            reversal = redemption_reverse(redemption_call_id=call.pk, reason=data["reason"], staff_user=request.user)
            if reversal.amount is not None:
                return (
                    f"Redemption {call.pk} reversed: {reversal.amount} taken back from the wallet, rewards unredeemed."
                )
            return f"Redemption {call.pk} reversed: the coupon is void, the reward unredeemed."

        return operation_view(
            self,
            request,
            obj=call,
            permission="wallets.reverse_redemption",
            title="Reverse redemption",
            form_class=ReasonForm,
            perform=perform,
            intro=(
                "The earned rewards become unredeemed again and the credits are taken back from the wallet "
                "(refused if they were spent); a pool redemption's coupon is voided."
            ),
            details=[
                ("customer", call.customer),
                ("mode", call.get_mode_display()),
                ("amount", call.amount if call.amount is not None else "-"),
                ("earned rewards", ", ".join(call.reward_codes) or "-"),
            ],
        )
