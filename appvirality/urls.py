from django.http import JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from .apis import RedeemRewardsApi, plain_post_view, redeem_answer
from .companion_apis import COMPANION_APIS, companion_view

_COMPANION_VIEWS = {verb: companion_view(api) for verb, api in COMPANION_APIS.items()}
_REDEEM_VIEW = plain_post_view(RedeemRewardsApi.as_view(), redeem_answer)
_VIEWS = {"redeemrewards": _REDEEM_VIEW} | _COMPANION_VIEWS


@csrf_exempt
def any_case(request, verb: str):
    """AppVirality verbs are matched case-insensitively, with or without a trailing slash."""
    view = _VIEWS.get(verb.lower())
    if view is None:
        return JsonResponse({"success": False, "statuscode": 0, "message": f"unknown call {verb!r}"}, status=404)
    return view(request)


urlpatterns = [
    path("v2_0/redeemrewards", _REDEEM_VIEW, name="redeem-rewards"),
    # The schema documents each route once, lower-case and without a trailing slash.
    *(path(f"v2_0/{verb}", view, name=f"appvirality-{verb}") for verb, view in _COMPANION_VIEWS.items()),
    re_path(r"^v2_0/(?P<verb>[A-Za-z0-9_]{1,64})/?$", any_case),
]
