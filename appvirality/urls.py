from django.urls import path

from .apis import RedeemRewardsApi

urlpatterns = [
    path("v2_0/redeemrewards", RedeemRewardsApi.as_view(), name="redeem-rewards"),
    # AppVirality clients may add a trailing slash; the schema documents the route once.
    path("v2_0/redeemrewards/", RedeemRewardsApi.as_view(schema=None)),
]
