"""A stand-in partner API for VENDOR rewards (``POST /sandbox/vendor/issue``), on with DEBUG or
``SANDBOX_VENDOR=1``: the demo's vendor rewards call it."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from .apis import BODY_TOO_LARGE, WRONG_CONTENT_TYPE


class SandboxVendorApi(APIView):
    """A stand-in partner API for VENDOR rewards: answers 200 with a voucher, like a partner would."""

    authentication_classes = ()
    permission_classes = ()

    @extend_schema(
        operation_id="sandbox_vendor_issue",
        summary="Sandbox vendor (DEBUG or SANDBOX_VENDOR=1 only)",
        description=(
            'Answers `{"data": {"code": <voucher>, "validTill": "YYYY-MM-DD", "couponSeriesId": <series>}}`, '
            "the series being the `series` query parameter (the demo's vendor URL names 234); 404 when off."
        ),
        parameters=[OpenApiParameter("series", str, description="The coupon series id to answer.")],
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiTypes.OBJECT,
            404: OpenApiTypes.OBJECT,
            413: OpenApiResponse(OpenApiTypes.OBJECT, description=BODY_TOO_LARGE),
            415: OpenApiResponse(OpenApiTypes.OBJECT, description=WRONG_CONTENT_TYPE),
        },
    )
    def post(self, request):
        if not settings.SANDBOX_VENDOR:
            raise Http404
        voucher = "SBX" + "".join(secrets.choice("ABCDEFGHJKMNPQRSTVWXYZ0123456789") for _ in range(9))
        valid_till = (timezone.now() + timedelta(days=365)).date().isoformat()
        data = {"code": voucher, "validTill": valid_till}
        if request.query_params.get("series"):
            data["couponSeriesId"] = request.query_params["series"][:64]
        return Response({"status": "SUCCESS", "data": data})
