"""Routes of the Capillary-compatible APIs. Issue Reward, OAuth, validation codes and the catalogue
routes also answer under the gateway prefix ``/api_gateway/rewards/core/``; each answers without
its trailing slash too (those variants are left out of the OpenAPI schema). Points and coupon
routes at the till are served as written."""

import re

from django.urls import path, re_path

from . import apis, catalogue_apis, sandbox, till_apis
from .plain import plain_issue_view

GATEWAY = "api_gateway/rewards/core/"
ROUTES = [
    ("v1.1/user/rewards/issue/", apis.RewardIssueApi, "rewards-issue"),
    ("v1.1/points/validation_code", apis.ValidationCodeApi, "validation-code"),
    ("v1.1/points/validationcode", till_apis.ValidationCodeDocumentedApi, "validationcode"),
    ("v3/oauth/token/generate", apis.OAuthTokenApi, "oauth-token-generate"),
    ("v1.1/user/rewards", catalogue_apis.UserRewardsApi, "user-rewards"),
    ("v1.1/reward-transactions", catalogue_apis.RewardTransactionsApi, "reward-transactions"),
    ("v1/user/reward/revoke", catalogue_apis.RevokeApi, "reward-revoke"),
    ("v1/management/transactions", catalogue_apis.FulfilmentApi, "transactions-fulfilment"),
]
TILL_ROUTES = [
    ("v1.1/points/isredeemable", till_apis.PointsIsRedeemableApi, "points-isredeemable"),
    ("v1.1/points/redeem", till_apis.PointsRedeemApi, "points-redeem"),
    ("v2/points/reverse", till_apis.PointsReverseApi, "points-reverse"),
    ("v1.1/coupon/isredeemable", till_apis.CouponIsRedeemableApi, "coupon-isredeemable"),
    ("v1.1/coupon/redeem", till_apis.CouponRedeemApi, "coupon-redeem"),
]


def _view(api, **initkwargs):
    """Issue Reward's POST takes the plain path (``capillary/plain.py``); the other routes are DRF views."""
    view = api.as_view(**initkwargs)
    return plain_issue_view(view) if api is apis.RewardIssueApi else view


urlpatterns = [path(route, _view(view), name=name) for route, view, name in ROUTES + TILL_ROUTES]
urlpatterns += [
    re_path(rf"^(?:{re.escape(GATEWAY)})?{re.escape(route.rstrip('/'))}/?$", _view(view, schema=None))
    for route, view, _ in ROUTES
]
urlpatterns += [re_path(rf"^{re.escape(route)}/$", view.as_view(schema=None)) for route, view, _ in TILL_ROUTES]
# After the routes above (``v1.1/user/rewards/issue`` without its slash is Issue Reward's): any
# segment reaches the view, which answers a rewardId that is not an id with a 404 in JSON.
urlpatterns.append(
    path("v1.1/user/rewards/<str:reward_id>", catalogue_apis.UserRewardApi.as_view(), name="user-reward")
)
urlpatterns.append(
    re_path(
        rf"^(?:{re.escape(GATEWAY)})?v1\.1/user/rewards/(?P<reward_id>[^/]+)/?$",
        catalogue_apis.UserRewardApi.as_view(schema=None),
    )
)
urlpatterns.append(path("sandbox/vendor/issue", sandbox.SandboxVendorApi.as_view(), name="sandbox-vendor-issue"))
