"""Admin building blocks for big tables and back-office forms.

* ``EstimatedCountPaginator``: an unfiltered changelist of a big table is counted from
  PostgreSQL's statistics (``pg_class.reltuples``) instead of ``SELECT count(*)``.
* ``InputFilter`` / ``DateRangeFilter``: filters typed in (a reward id, a date range), where
  listing every choice would read the whole table.
* ``ReferenceSearchMixin``: search by a reference as the ledger shows it (``appvirality-redeem:<hex>``).
* ``short_time`` / ``nowrap``: compact list cells (lists fit a 1366 px screen).
"""

import re
import uuid

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.functional import cached_property
from django.utils.html import format_html

ESTIMATE_FROM_ROWS = 100_000  # below this an exact count is cheap enough


class EstimatedCountPaginator(Paginator):
    """Exact counts for filtered lists and small tables, the planner's estimate for a big unfiltered one."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if connection.vendor == "postgresql" and query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] >= ESTIMATE_FROM_ROWS:
                return int(row[0])
        return super().count


class InputFilter(admin.SimpleListFilter):
    """A text box: ``?<parameter_name>=<value>``, applied by ``lookup`` (a queryset lookup)."""

    template = "admin/backoffice/input_filter.html"
    lookup: str = ""

    def lookups(self, request, model_admin):
        return ()

    def has_output(self):
        return True

    def choices(self, changelist):
        yield {
            "parameter": self.parameter_name,
            "value": self.value() or "",
            "hidden": _other_params(changelist, {self.parameter_name}),
        }

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        if not value:
            return queryset
        try:
            return queryset.filter(**{self.lookup: self.clean(value)})
        except (TypeError, ValueError):
            return queryset.none()

    def clean(self, value: str):
        return value


class DateRangeFilter(admin.FieldListFilter):
    """``From`` and ``to`` dates (inclusive) on a date-time field: ``?<field>__gte=`` and ``?<field>__lte=``."""

    template = "admin/backoffice/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.since_param, self.until_param = f"{field_path}__gte", f"{field_path}__lte"
        self.field_path = field_path
        self.since = _date(params.pop(self.since_param, None))
        self.until = _date(params.pop(self.until_param, None))
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = f"{field.verbose_name} (date range)"

    def expected_parameters(self):
        return [self.since_param, self.until_param]

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        if self.since:
            queryset = queryset.filter(**{f"{self.field_path}__date__gte": self.since})
        if self.until:
            queryset = queryset.filter(**{f"{self.field_path}__date__lte": self.until})
        return queryset

    def choices(self, changelist):
        yield {
            "since_param": self.since_param,
            "until_param": self.until_param,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "hidden": _other_params(changelist, {self.since_param, self.until_param}),
        }


def _date(value):
    if isinstance(value, list):
        value = value[-1] if value else None
    try:
        return parse_date(value) if value else None
    except ValueError:
        return None


def _other_params(changelist, own: set[str]) -> list[tuple[str, str]]:
    return [
        (key, value)
        for key, values in changelist.params.items()
        if key not in own and key != "p"
        for value in (values if isinstance(values, list) else [values])
    ]


class ReferenceSearchMixin:
    """A ModelAdmin whose search also takes a reference as the ledger and Customer 360 show it.

    Ledger references carry a prefix naming what made them (``appvirality-redeem:<hex>``,
    ``reversal:<hex>``, ``revoke:<points reference>``, ``adjustment:<staff>``); the record keeps the
    bare value. Each search term starting with one of ``reference_prefixes`` is searched without it.
    """

    reference_prefixes: tuple[str, ...] = ()
    # UUID fields a term written as a UUID (hex or dashed) finds: the ledger writes the hex form,
    # the record page shows the dashed one.
    reference_uuid_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        for prefix in self.reference_prefixes:
            search_term = re.sub(rf"(?<!\S){re.escape(prefix)}(?=\S)", "", search_term)
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        for term in search_term.split():
            value = _uuid(term)
            for field in self.reference_uuid_fields if value else ():
                results |= queryset.filter(**{field: value})
        return results, may_have_duplicates


def _uuid(term: str) -> uuid.UUID | None:
    if not re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", term):
        return None
    return uuid.UUID(term)


def short_time(value) -> str:
    """``2026-12-01 22:21`` in the current time zone: a list's date column, one short line."""
    return nowrap(f"{timezone.localtime(value):%Y-%m-%d %H:%M}") if value else "-"


def nowrap(text) -> str:
    """A cell that never wraps (a coupon code must not break at its hyphen)."""
    return format_html('<span class="nowrap">{}</span>', text)
