"""Authentication of the Capillary-compatible APIs, as the wire carries it: till Basic auth, OAuth
tokens, data scopes. The credentials are checked by ``orgs.credentials``.

* **Basic**: ``base64(till_username ":" md5_hex(password))``, or the plain password (checks are
  remembered per process and failures limited per till and address:
  ``orgs.credentials.till_authenticate``; at a limit, HTTP 429).
* **OAuth**: ``POST /v3/oauth/token/generate`` trades an API client's key and secret for a
  JWT (PyJWT, HS256, signed with a key derived from ``SECRET_KEY``), sent back as
  ``X-CAP-API-OAUTH-TOKEN``. Each call checks the client's state (``orgs.credentials.api_client_org``):
  a client deactivated or deleted stops its tokens at once.
* **Data scope**: ``DATA-SCOPE: SELF | OTHER`` and ``DATA-SCOPE-ORG(S)``: which orgs a call
  may read or write: its own, or orgs connected to it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from dataclasses import replace

import jwt
from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled

from core.numbers import NumberInvalid, id_list_parse
from orgs.credentials import (
    Caller,
    api_client_authenticate,
    api_client_org,
    orgs_connected,
    till_authenticate,
    till_is_active_in_org,
)
from orgs.errors import AuthThrottled, InvalidCredentials, InvalidScope, OutOfScope

TOKEN_ISSUER = "rewards-engine"
TOKEN_AUDIENCE = "capillary-api"
MAX_SCOPE_ORGS = 100


# --- Basic ------------------------------------------------------------------------------------


class TillBasicAuthentication(BaseAuthentication):
    """``Authorization: Basic base64(till:md5_hex(password))`` (or the plain password)."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise AuthenticationFailed("malformed Basic credentials") from exc
        username, sep, password = decoded.partition(":")
        if not sep or not username:
            raise AuthenticationFailed("malformed Basic credentials")
        try:
            return till_authenticate(username=username, password=password, request=request), None
        except AuthThrottled as exc:
            raise Throttled(wait=exc.retry_after, detail=str(exc)) from exc
        except InvalidCredentials as exc:
            raise AuthenticationFailed(str(exc)) from exc

    def authenticate_header(self, request):
        return 'Basic realm="rewards"'


# --- OAuth ------------------------------------------------------------------------------------


def _jwt_key() -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), b"capillary-oauth-jwt", hashlib.sha256).digest()


def oauth_token_generate(*, key: str, secret: str) -> str:
    """A signed JWT for an active API client; raises ``InvalidCredentials``."""
    org_id = api_client_authenticate(key=key, secret=secret)
    now = int(time.time())
    claims = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": key,
        "org": org_id,
        "iat": now,
        "exp": now + settings.OAUTH_TOKEN_TTL_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, _jwt_key(), algorithm="HS256")


def oauth_token_caller(*, token: str) -> Caller:
    """The caller a token stands for; raises ``InvalidCredentials`` if expired, forged or malformed,
    or if its API client is no longer active (deactivated, deleted or moved to another org)."""
    try:
        claims = jwt.decode(
            token,
            _jwt_key(),
            algorithms=["HS256"],
            audience=TOKEN_AUDIENCE,
            issuer=TOKEN_ISSUER,
            options={"require": ["exp", "iat", "sub", "org", "iss", "aud"]},
        )
    except jwt.InvalidTokenError as exc:
        raise InvalidCredentials(f"invalid OAuth token: {exc}") from exc
    if not isinstance(claims["org"], int) or not isinstance(claims["sub"], str):
        raise InvalidCredentials("invalid OAuth token: bad claims")
    if api_client_org(key=claims["sub"]) != claims["org"]:
        raise InvalidCredentials("invalid OAuth token: its API client is inactive or deleted")
    return Caller(org_id=claims["org"], method="oauth", client_key=claims["sub"])


class OAuthTokenAuthentication(BaseAuthentication):
    """``X-CAP-API-OAUTH-TOKEN: <JWT from /v3/oauth/token/generate>`` (or ``CAP-API-ACCESS-TOKEN``,
    the name Capillary's reference uses)."""

    def authenticate(self, request):
        token = request.META.get("HTTP_X_CAP_API_OAUTH_TOKEN") or request.META.get("HTTP_CAP_API_ACCESS_TOKEN")
        if not token:
            return None
        try:
            return oauth_token_caller(token=token), None
        except InvalidCredentials as exc:
            raise AuthenticationFailed(str(exc)) from exc

    def authenticate_header(self, request):
        return "X-CAP-API-OAUTH-TOKEN"


# --- username and data scope ------------------------------------------------------------------


def caller_for_username(*, caller: Caller, username: str | None) -> Caller:
    """The ``username`` query parameter must name the Basic till, or a till of the token's org."""
    if not username or "\x00" in username:
        raise InvalidCredentials("the username query parameter is required")
    if caller.method == "basic":
        if username != caller.till_username:
            raise InvalidCredentials("username is not the authenticated till")
        return caller
    if not till_is_active_in_org(username=username, org_id=caller.org_id):
        raise InvalidCredentials("username is not a till of the token's org")
    return replace(caller, till_username=username)


def data_scope_orgs(*, caller: Caller, scope: str | None, orgs: str | None) -> frozenset[int]:
    """The orgs a call may touch. ``SELF`` (default): its own. ``OTHER``: the listed orgs,
    each the caller's own or connected to it (else ``OutOfScope``)."""
    scope = (scope or "SELF").strip().upper()
    if scope == "SELF":
        return frozenset({caller.org_id})
    if scope != "OTHER":
        raise InvalidScope(f"DATA-SCOPE must be SELF or OTHER, not {scope[:50]!r}")
    try:
        listed = frozenset(id_list_parse(orgs or "", max_items=MAX_SCOPE_ORGS))
    except NumberInvalid as exc:
        raise InvalidScope(f"DATA-SCOPE-ORG must be comma-separated org ids (ASCII digits): {exc}") from exc
    if not listed:
        raise InvalidScope("DATA-SCOPE OTHER needs the orgs in DATA-SCOPE-ORG")
    foreign = listed - {caller.org_id}
    if foreign:
        connected = orgs_connected(org_id=caller.org_id, to_org_ids=set(foreign))
        if foreign - connected:
            raise OutOfScope(f"org {min(foreign - connected)} is not connected to org {caller.org_id}")
    return listed


# --- OpenAPI ----------------------------------------------------------------------------------


class TillBasicScheme(OpenApiAuthenticationExtension):
    target_class = TillBasicAuthentication
    name = "tillBasic"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "Till username and md5_hex(password) (the plain password is accepted too).",
        }


class OAuthTokenScheme(OpenApiAuthenticationExtension):
    target_class = OAuthTokenAuthentication
    name = "capOAuthToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-CAP-API-OAUTH-TOKEN",
            "description": "A JWT from POST /v3/oauth/token/generate.",
        }
