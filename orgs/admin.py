"""Admin of tenants, credentials, customers, segments, cards, groups and campaigns.

Secrets are never shown or edited in plain text: only their digests (or the
Django password hash of a till) are displayed, read-only.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from core.admin_mixins import ReadOnlyMixin

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
    Segment,
    Till,
)
from .services import customer_note_add

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
    # The referral link and code are set through AppVirality updateuserinfo (its rules), not by hand.
    readonly_fields = ("created_at", "registered_at", "referral_code", "referrer")
    show_full_result_count = False
    inlines = (CustomerSegmentInline, CardInline)


@admin.register(CustomerNote)
class CustomerNoteAdmin(admin.ModelAdmin):
    """Notes are added through ``orgs.services.customer_note_add`` (as on Customer 360) and are a
    record once written: viewable, not changed here."""

    list_display = ("id", "created_at", "org", "customer", "author_username", "text")
    list_filter = ("org",)
    list_select_related = ("org", "customer")
    search_fields = customer_search_fields("customer")
    raw_id_fields = ("customer",)
    ordering = ("-id",)

    def get_fields(self, request, obj=None):
        return ("customer", "text") if obj is None else ("org", "customer", "text", "author_username", "created_at")

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        note = customer_note_add(customer_id=obj.customer_id, text=obj.text, staff_user=request.user)
        for field in obj._meta.concrete_fields:  # the admin goes on with the note as written
            setattr(obj, field.attname, getattr(note, field.attname))


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
