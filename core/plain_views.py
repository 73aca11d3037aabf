"""The plain Django view of a hot API call: its method answered without DRF's request wrapping,
content negotiation, authenticator and parser instances or exception handler per call, with the
bytes DRF's renderer writes. Every other method goes to the DRF view, which the OpenAPI schema
documents (the plain view carries its ``cls`` and ``initkwargs``) and which answers the same.

Each wire format says how it answers: ``answers`` maps a method to a function of the request that
returns (HTTP status, body) or (HTTP status, body, headers); ``refused`` turns an exception it
raised into the same, or None to let it through (a 500, as DRF re-raises what its handler leaves).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.renderers import JSONRenderer

Answer = tuple  # (status, body) or (status, body, headers)

_RENDERER = JSONRenderer()


def json_response(status: int, body, headers: Mapping[str, str] | None = None) -> HttpResponse:
    """The response DRF's ``JSONRenderer`` would write for ``body`` (no indent, UTF-8, compact)."""
    response = HttpResponse(_RENDERER.render(body), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def plain_view(
    drf_view,
    *,
    answers: Mapping[str, Callable[[HttpRequest], Answer]],
    refused: Callable[[Exception], Answer | None],
):
    """The view of an API call whose ``answers`` methods are answered plainly (see the module);
    any other method goes to ``drf_view`` (an ``APIView.as_view()``)."""

    @csrf_exempt
    def view(request, **kwargs):
        answer = answers.get(request.method)
        if answer is None:
            return drf_view(request, **kwargs)
        try:
            answered = answer(request)
        except Exception as exc:
            answered = refused(exc)
            if answered is None:
                raise
        return json_response(*answered)

    view.cls, view.initkwargs = drf_view.cls, drf_view.initkwargs
    view.drf_view = drf_view  # what answers every other method (and the tests' comparison)
    return view
