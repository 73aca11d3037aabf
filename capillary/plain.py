"""Capillary's hot calls as plain Django views (``core.plain_views``): Issue Reward's POST and the
till's points and coupon calls. Each is answered by the function its DRF view calls (``*_answer``:
(HTTP status, body)), given a ``PlainRequest`` that does what DRF's request and view do before it,
in DRF's order: the ``format`` checked, then the caller authenticated by the same authenticators,
then, when the function first reads it, the body parsed as DRF's parser does (Content-Type, size,
the one reader). A refusal is rendered by the format's own function (``capillary/errors.py``), as
the DRF view's exception handler does. Every other method, and the schema, stays with the DRF views;
``tests/capillary/test_plain_path.py`` holds the two paths to the same bytes."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import QueryDict
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.request import is_form_media_type
from rest_framework.utils.mediatypes import media_type_matches

from core.plain_views import plain_view
from core.request_body import JSONBodyParser, json_read, too_large

from . import apis, till_apis
from .errors import capillary_error, v2_error, v11_error
from .parsing import UnsupportedFormat, format_served

_AUTHENTICATORS = tuple(authentication() for authentication in apis._CapillaryApi.authentication_classes)
_EMPTY = object()


def _authenticated(request):
    """The caller, as DRF's ``request.user`` finds it: the first authenticator that answers (or None)."""
    for authenticator in _AUTHENTICATORS:
        found = authenticator.authenticate(request)
        if found is not None:
            return found[0]
    return None


def _body(request):
    """The JSON document of the body, as DRF's ``request.data`` reads it with ``JSONBodyParser``:
    no Content-Length (or 0) is an empty document, another Content-Type than JSON is 415."""
    meta = request.META
    media_type = meta.get("CONTENT_TYPE", meta.get("HTTP_CONTENT_TYPE", ""))
    try:
        length = int(meta.get("CONTENT_LENGTH", meta.get("HTTP_CONTENT_LENGTH", 0)))
    except (ValueError, TypeError):
        length = 0
    empty = QueryDict("", encoding=request.encoding) if media_type and is_form_media_type(media_type) else {}
    if length == 0 or (request._read_started and not hasattr(request, "_body") and hasattr(request, "_post")):
        return empty  # (the second: a form a middleware read, which leaves DRF's stream nothing either)
    if not media_type_matches(JSONBodyParser.media_type, media_type):
        raise UnsupportedMediaType(media_type)
    try:
        raw = request.body
    except RequestDataTooBig as exc:
        raise too_large() from exc
    return json_read(raw)


class PlainRequest:
    """What the ``*_answer`` functions read of a request: ``user``, ``query_params``, ``headers``,
    ``data``, as DRF's ``Request`` and ``APIView.initial`` give them (see the module)."""

    __slots__ = ("_request", "user", "_data")

    def __init__(self, request):
        if not format_served(request.GET):
            raise UnsupportedFormat()
        self._request = request
        self._data = _EMPTY
        self.user = _authenticated(request)

    @property
    def query_params(self):
        return self._request.GET

    @property
    def headers(self):
        return self._request.headers

    @property
    def META(self):  # noqa: N802 - Django's name
        return self._request.META

    @property
    def data(self):
        if self._data is _EMPTY:
            self._data = _body(self._request)
        return self._data


def _answering(answer):
    return lambda request: answer(PlainRequest(request))


# The DRF view -> (method -> its answer function, the refusal of its format).
PLAIN = {
    apis.RewardIssueApi: ({"POST": apis.rewards_issue_answer}, capillary_error),
    till_apis.PointsIsRedeemableApi: ({"GET": till_apis.points_isredeemable_answer}, v11_error),
    till_apis.PointsRedeemApi: ({"POST": till_apis.points_redeem_answer}, v11_error),
    till_apis.PointsReverseApi: ({"POST": till_apis.points_reverse_answer}, v2_error),
    till_apis.CouponIsRedeemableApi: ({"GET": till_apis.coupon_isredeemable_answer}, v11_error),
    till_apis.CouponRedeemApi: ({"POST": till_apis.coupon_redeem_answer}, v11_error),
}


def view_of(api, **initkwargs):
    """The view of a route: the plain one for the calls of ``PLAIN``, else the DRF view."""
    drf_view = api.as_view(**initkwargs)
    if api not in PLAIN:
        return drf_view
    answers, refused = PLAIN[api]
    return plain_view(
        drf_view, answers={method: _answering(answer) for method, answer in answers.items()}, refused=refused
    )
