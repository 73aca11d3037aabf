"""Routes of the Capillary-compatible APIs, each also under the gateway prefix; trailing slash optional."""

from django.urls import re_path

from . import apis

GATEWAY = r"(?:api_gateway/rewards/core/)?"

urlpatterns = [
    re_path(rf"^{GATEWAY}v1\.1/user/rewards/issue/?$", apis.RewardIssueApi.as_view(), name="rewards-issue"),
    re_path(rf"^{GATEWAY}v1\.1/points/validation_code/?$", apis.ValidationCodeApi.as_view(), name="validation-code"),
    re_path(rf"^{GATEWAY}v3/oauth/token/generate/?$", apis.OAuthTokenApi.as_view(), name="oauth-token-generate"),
    re_path(r"^sandbox/vendor/issue/?$", apis.SandboxVendorApi.as_view(), name="sandbox-vendor-issue"),
]
