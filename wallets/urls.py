from django.urls import re_path

from .apis import RedeemRewardsApi

urlpatterns = [
    re_path(r"^v2_0/redeemrewards/?$", RedeemRewardsApi.as_view(), name="redeem-rewards"),
]
