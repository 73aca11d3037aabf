"""Customer 360: the support desk's page per customer, and the search that leads to it.

Registered under the customer admin (``CustomerAdmin.get_urls``): ``/admin/orgs/customer/360/``
and ``/admin/orgs/customer/<id>/360/``. Needs ``orgs.view_customer``; adding a note needs
``orgs.add_customernote``.
"""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from core.admin_operations import require_perm
from core.errors import DomainError
from core.numbers import BIGINT_MAX
from orgs.services import customer_note_add

from .selectors import customer_360, customer_search


class NoteForm(forms.Form):
    text = forms.CharField(label="note", widget=forms.Textarea(attrs={"rows": 2, "cols": 80}), max_length=5000)


def customer_search_view(model_admin, request):
    require_perm(request, "orgs.view_customer")
    query = request.GET.get("q", "")[:254]
    results = customer_search(query=query, user=request.user) if query else []
    if len(results) == 1 and request.GET.get("go") == "1":
        return HttpResponseRedirect(reverse("admin:orgs_customer_360", args=[results[0].pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Customer 360: find a customer",
        "query": query,
        "results": results,
    }
    return TemplateResponse(request, "admin/backoffice/customer_search.html", context)


def customer_360_view(model_admin, request, customer_id):
    require_perm(request, "orgs.view_customer")
    try:
        customer_id = int(customer_id)
    except ValueError:
        raise Http404("no such customer") from None
    if not 0 < customer_id <= BIGINT_MAX:
        raise Http404("no such customer")
    form = NoteForm(request.POST or None)
    if request.method == "POST":
        require_perm(request, "orgs.add_customernote")
        if form.is_valid():
            try:
                customer_note_add(customer_id=customer_id, text=form.cleaned_data["text"], staff_user=request.user)
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                model_admin.message_user(request, "Note added.", messages.SUCCESS)
                return HttpResponseRedirect(request.path)
    pages = {}
    for key, value in request.GET.items():
        if key.startswith("ledger_") and key[7:].isdigit():
            pages[int(key[7:])] = value
    view = customer_360(customer_id=customer_id, user=request.user, ledger_pages=pages)
    if view is None:
        raise Http404("no such customer")
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Customer 360: {view.customer.external_id}",
        "view": view,
        "note_form": form,
        "may_add_note": request.user.has_perm("orgs.add_customernote"),
        "may_adjust": request.user.has_perm("wallets.adjust_wallet"),
        "may_reverse": request.user.has_perm("wallets.reverse_redemption"),
    }
    return TemplateResponse(request, "admin/backoffice/customer_360.html", context)
