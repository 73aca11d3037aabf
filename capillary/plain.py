"""The plain request path of Issue Reward (``POST /v1.1/user/rewards/issue/``), the hot Capillary call.

A POST with a JSON body (``Content-Type: application/json``, no ``format`` parameter) is answered
in plain Django: the body read by the one reader (``core.request_body.json_read``), the caller by
the same authentication classes in the same order as DRF would, the answer rendered with the bytes
DRF's renderer writes, and any error by the same exception handler (``capillary.errors``). What it
leaves out is DRF's per-call machinery: the ``Request`` wrapper, content negotiation, the
``Response`` and its template rendering. Anything else (another method or content type, a
``format`` parameter, an empty body) goes to the DRF view, which the schema documents.

The body is validated by ``simple_issue_input`` when it has the common shape (text fields as
strings, rewards with ``rewardId``, ``quantity`` and ``requestId`` only, no org details or
groups): the few checks that shape needs, giving exactly what ``IssueInputSerializer`` gives
(``tests/capillary/test_plain_path.py`` compares the two on generated bodies). Any other body,
valid or not, is validated by the serializer: its rules and messages stay the only ones.
"""

from __future__ import annotations

from rest_framework import serializers

from core.numbers import BIGINT_MAX
from core.plain_views import plain_view
from core.request_body import json_read

from .apis import (
    GROUP_FIELDS,
    MAX_QUANTITY,
    MAX_REWARDS_PER_CALL,
    IssueInputSerializer,
    RewardInputSerializer,
    RewardIssueApi,
    caller_of,
    issue_call_answer,
)
from .errors import capillary_exception_handler

_AUTHENTICATORS = tuple(cls() for cls in RewardIssueApi.authentication_classes)


def _text_limits(serializer: serializers.Serializer, *, leave_out=()) -> dict[str, int]:
    """Each text field of ``serializer`` and its maxLength, as the serializer declares them."""
    return {
        name: field.max_length
        for name, field in serializer.fields.items()
        if isinstance(field, serializers.CharField) and name not in leave_out
    }


# The body's text fields but the group references (their pairs are the serializer's to check), and
# the reward line's requestId: the limits of the serializer itself, read once per process.
_TEXT = _text_limits(IssueInputSerializer(), leave_out={name for pair in GROUP_FIELDS for name in pair})
_REQUEST_ID_MAX = _text_limits(RewardInputSerializer())["requestId"]
_REWARD_KEYS = frozenset({"rewardId", "quantity", "requestId"})


def _text_ok(value, max_length: int) -> bool:
    return value is None or (type(value) is str and len(value) <= max_length)


def _int_ok(value, high: int) -> bool:
    return type(value) is int and 1 <= value <= high


def simple_issue_input(document) -> dict | None:
    """The validated data of a body of the common shape (module docstring), or None: the
    serializer decides."""
    if type(document) is not dict:
        return None
    rewards = document.get("rewards")
    if type(rewards) is not list or not 1 <= len(rewards) <= MAX_REWARDS_PER_CALL:
        return None
    data = {}
    for key, value in document.items():
        if key == "rewards":
            continue
        max_length = _TEXT.get(key)
        if max_length is None or not _text_ok(value, max_length):
            return None
        data[key] = value
    if not any(data.get(key) for key in ("mobile", "email", "externalId")):
        return None
    lines = []
    for item in rewards:
        if type(item) is not dict or not item.keys() <= _REWARD_KEYS:
            return None
        reward_id, quantity = item.get("rewardId"), item.get("quantity", 1)
        if not _int_ok(reward_id, BIGINT_MAX) or not _int_ok(quantity, MAX_QUANTITY):
            return None
        line = {"rewardId": reward_id, "quantity": quantity}
        if "requestId" in item:
            if not _text_ok(item["requestId"], _REQUEST_ID_MAX):
                return None
            line["requestId"] = item["requestId"]
        lines.append(line)
    data["rewards"] = lines
    return data


def issue_input(document) -> dict:
    """The validated data of an Issue Reward body; raises the serializer's ``ValidationError``."""
    data = simple_issue_input(document)
    if data is not None:
        return data
    serializer = IssueInputSerializer(data=document)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _caller(request):
    """The caller, as DRF's authentication finds it: the first class that recognises the
    credentials (raising if they are wrong), then the till named by ``username``."""
    user = None
    for authenticator in _AUTHENTICATORS:
        found = authenticator.authenticate(request)
        if found is not None:
            user = found[0]
            break
    return caller_of(user, username=request.GET.get("username"))


def _plain(request) -> bool:
    return (
        request.method == "POST"
        and request.content_type == "application/json"
        and "format" not in request.GET
        and request.META.get("CONTENT_LENGTH") not in (None, "", "0")
    )


def _answer(request) -> tuple[int, dict, dict | None]:
    try:
        status, body = issue_call_answer(
            caller=_caller(request), request=request, data_of=lambda: issue_input(json_read(request.body))
        )
    except Exception as exc:  # noqa: BLE001 - mapped as DRF maps it, or raised on as DRF does
        response = capillary_exception_handler(exc, {"request": request})
        if response is None:
            raise
        headers = {name: value for name, value in response.items() if name.lower() != "content-type"}
        return response.status_code, response.data, headers
    return status, body, None


def plain_issue_view(drf_view):
    """The view of Issue Reward's routes: a plain POST the plain way (``core.plain_views``),
    anything else through ``drf_view``."""
    return plain_view(drf_view, _answer, takes=_plain)
