"""The form pages behind the admin's staff operations (reverse, revoke, adjust, upload, ...).

Each page checks its permission (403 otherwise), calls one service, and reports the
outcome with ``message_user``; a refusal (``DomainError``) is shown on the form and
changes nothing.
"""

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from core.errors import DomainError
from core.numbers import BIGINT_MAX


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000)

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


def object_or_404(queryset, object_id):
    """The row with this id, or a 404 for a missing one or an id that is not a (bigint) number."""
    try:
        pk = int(object_id)
    except (TypeError, ValueError):
        raise Http404("not an id") from None
    if not -BIGINT_MAX <= pk <= BIGINT_MAX:
        raise Http404("not an id")
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404("no such object")
    return obj


def change_url(obj) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


def require_perm(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"needs the permission {permission}")


def operation_view(
    model_admin,
    request: HttpRequest,
    *,
    obj,
    permission: str,
    title: str,
    form_class: type[forms.Form],
    perform: Callable[[dict], str],
    intro: str = "",
    details: list[tuple[str, object]] | None = None,
    form_kwargs: dict | None = None,
    done_url: str | None = None,
) -> HttpResponse:
    """A form page for one staff operation on ``obj``. ``perform(cleaned_data)`` calls the
    service and returns the success message."""
    require_perm(request, permission)
    form = form_class(request.POST or None, request.FILES or None, **(form_kwargs or {}))
    if request.method == "POST" and form.is_valid():
        try:
            message = perform(form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            model_admin.message_user(request, message, messages.SUCCESS)
            return HttpResponseRedirect(done_url or change_url(obj))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "original": obj,
        "title": title,
        "intro": intro,
        "details": details or [],
        "form": form,
        "has_file_field": any(isinstance(f, forms.FileField) for f in form.fields.values()),
        "back_url": change_url(obj),
    }
    status = 400 if request.method == "POST" else 200
    return TemplateResponse(request, "admin/backoffice/operation_form.html", context, status=status)


class OperationsMixin:
    """Buttons for staff operations in the object tools of a change page, as the user may use them.

    A ModelAdmin defines ``operation_links(request, obj)`` -> ``[(label, url, html_id), ...]``.
    """

    change_form_template = "admin/backoffice/change_form_with_operations.html"

    def operation_links(self, request, obj) -> list[tuple[str, str, str]]:
        return []

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id) if object_id else None
        links = self.operation_links(request, obj) if obj is not None else []
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "operation_links": links})
