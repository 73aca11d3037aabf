"""The plain request path of the vendor APIs' hot calls, one for both adapters.

``plain_view(drf_view, answer, takes=...)``: a request ``takes`` accepts is answered in plain Django
by ``answer(request) -> (HTTP status, body, headers or None)``, rendered with the bytes DRF's
JSON renderer writes: no ``Request`` wrapper, content negotiation, ``Response`` or template
rendering per call. Any other request goes to ``drf_view``, the documented DRF view, whose
``cls`` and ``initkwargs`` the plain view carries so the schema generator finds it. Each adapter
decides which requests it takes, how it reads them and how it maps its errors
(``appvirality/apis.py``, ``capillary/plain.py``).
"""

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.renderers import JSONRenderer

_RENDERER = JSONRenderer()


def is_post(request) -> bool:
    return request.method == "POST"


def plain_view(drf_view, answer, *, takes=is_post):
    """The view answering what ``takes`` accepts with ``answer``, the rest with ``drf_view``."""

    @csrf_exempt
    def view(request, **kwargs):
        if not takes(request):
            return drf_view(request, **kwargs)
        status, body, headers = answer(request)
        return HttpResponse(_RENDERER.render(body), status=status, content_type="application/json", headers=headers)

    view.cls, view.initkwargs = drf_view.cls, drf_view.initkwargs
    return view
