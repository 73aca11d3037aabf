"""The admin index becomes the back-office dashboard (see templates/admin/backoffice/index.html)."""

from django.contrib import admin

admin.site.index_template = "admin/backoffice/index.html"
admin.site.site_header = admin.site.site_title = "Rewards back office"
admin.site.index_title = "Dashboard"
