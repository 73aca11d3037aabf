"""Admin building blocks shared by the apps."""


class ReadOnlyMixin:
    """Records of what happened (ledger entries, API calls, issues): viewable, never written here.

    Works for ModelAdmin and inlines alike.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
