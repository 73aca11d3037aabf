"""The back office's admin: Customer 360 on the customer admin, the Capillary answer on an issued
reward's page, the Redeem Rewards call records (they read AppVirality's codes), and the dashboard
on the index.

Registered after the domain apps (``INSTALLED_APPS``): it extends their admin classes with the
pages that read across apps, so that no domain app imports the back office.
"""

import json

from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html

from capillary.render import issue_result
from catalogue.admin import RewardIssueAdmin
from catalogue.models import RewardIssue
from orgs.admin import CustomerAdmin
from orgs.models import Customer
from wallets.models import RedemptionCall

from .customer_360 import customer_360_view, customer_search_view
from .redemption_calls import RedemptionCallAdmin


class Customer360Admin(CustomerAdmin):
    change_form_template = "admin/backoffice/change_form_with_operations.html"
    change_list_template = "admin/backoffice/customer_change_list.html"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("360/", wrap(lambda request: customer_search_view(self, request)), name="orgs_customer_360_search"),
            path(
                "<path:customer_id>/360/",
                wrap(lambda request, customer_id: customer_360_view(self, request, customer_id)),
                name="orgs_customer_360",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        links = [("Customer 360", reverse("admin:orgs_customer_360", args=[object_id]), "customer-360")]
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "operation_links": links})


class RewardIssueWithAnswerAdmin(RewardIssueAdmin):
    """An issued reward's page shows the Capillary answer it gave (and gives to a replay)."""

    readonly_fields = ("request_pretty", *RewardIssueAdmin.readonly_fields)

    @admin.display(description="request and answer")
    def request_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(issue_result(obj), indent=2, default=str))


for model, model_admin in ((Customer, Customer360Admin), (RewardIssue, RewardIssueWithAnswerAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
admin.site.register(RedemptionCall, RedemptionCallAdmin)

# The admin index is the back-office dashboard (templates/admin/backoffice/index.html).
admin.site.index_template = "admin/backoffice/index.html"
admin.site.site_header = admin.site.site_title = "Rewards back office"
admin.site.index_title = "Dashboard"
# No navigation sidebar: the lists need the width (every column on a 1366 px screen); the index and
# the breadcrumbs lead everywhere.
admin.site.enable_nav_sidebar = False
