"""Routes of the Capillary-compatible APIs. Each also answers under the gateway prefix
``/api_gateway/rewards/core/`` and without its trailing slash (left out of the OpenAPI schema)."""

import re

from django.urls import path, re_path

from . import apis

GATEWAY = "api_gateway/rewards/core/"
ROUTES = [
    ("v1.1/user/rewards/issue/", apis.RewardIssueApi, "rewards-issue"),
    ("v1.1/points/validation_code", apis.ValidationCodeApi, "validation-code"),
    ("v3/oauth/token/generate", apis.OAuthTokenApi, "oauth-token-generate"),
]

urlpatterns = [path(route, view.as_view(), name=name) for route, view, name in ROUTES]
urlpatterns += [
    re_path(rf"^(?:{re.escape(GATEWAY)})?{re.escape(route.rstrip('/'))}/?$", view.as_view(schema=None))
    for route, view, _ in ROUTES
]
urlpatterns.append(path("sandbox/vendor/issue", apis.SandboxVendorApi.as_view(), name="sandbox-vendor-issue"))
