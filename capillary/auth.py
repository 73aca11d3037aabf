"""Authentication of the Capillary-compatible APIs: till Basic auth, OAuth tokens, data scopes.

* **Basic**: ``base64(till_username ":" md5_hex(password))``, or the plain password. Till
  passwords are stored with Django's password hasher (~100 ms per check), so a successful
  check is remembered in this process for ``TILL_AUTH_CACHE_SECONDS`` under an HMAC of the
  presented credentials (never the credentials themselves).
* **OAuth**: ``POST /v3/oauth/token/generate`` trades an API client's key and secret for a
  JWT (PyJWT, HS256, signed with a key derived from ``SECRET_KEY``), sent back as
  ``X-CAP-API-OAUTH-TOKEN``.
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
from dataclasses import dataclass, replace

import jwt
from django.conf import settings
from django.contrib.auth.hashers import make_password
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from core.local_cache import LocalCache
from orgs.errors import InvalidCredentials, InvalidScope, OutOfScope
from orgs.models import ApiClient, OrgConnection, Till

TOKEN_ISSUER = "rewards-engine"
TOKEN_AUDIENCE = "capillary-api"
_CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Caller:
    """Who calls: an org, through one of its tills (Basic) or API clients (OAuth)."""

    org_id: int
    method: str  # "basic" | "oauth"
    till_username: str | None = None
    client_key: str | None = None

    # DRF treats the authenticated "user" as a user object.
    is_authenticated = True


# --- Basic ------------------------------------------------------------------------------------

_till_cache = LocalCache(ttl_setting="TILL_AUTH_CACHE_SECONDS", maxsize=_CACHE_MAX_ENTRIES)


def _cache_key(username: str, password: str) -> bytes:
    secret = hashlib.sha256(f"till-auth-cache:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(secret, f"{username}\0{password}".encode(), hashlib.sha256).digest()


def till_auth_cache_clear() -> None:
    _till_cache.clear()


def till_authenticate(*, username: str, password: str) -> Caller:
    """The caller behind a till's credentials (password or its MD5 hex). Raises ``InvalidCredentials``."""
    if "\x00" in username or len(username) > 150:
        raise InvalidCredentials("invalid till username or password")
    key = _cache_key(username, password)
    hit = _till_cache.get(key)
    if hit is not None:
        return hit
    till = Till.objects.filter(username=username, is_active=True).only("org_id", "username", "password").first()
    if till is None:
        make_password(password)  # spend the hashing time anyway: no user enumeration by timing
        raise InvalidCredentials("invalid till username or password")
    if not till.check_password(password):
        raise InvalidCredentials("invalid till username or password")
    caller = Caller(org_id=till.org_id, method="basic", till_username=till.username)
    _till_cache.set(key, caller)
    return caller


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
            return till_authenticate(username=username, password=password), None
        except InvalidCredentials as exc:
            raise AuthenticationFailed(str(exc)) from exc

    def authenticate_header(self, request):
        return 'Basic realm="rewards"'


# --- OAuth ------------------------------------------------------------------------------------


def _jwt_key() -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), b"capillary-oauth-jwt", hashlib.sha256).digest()


def oauth_token_generate(*, key: str, secret: str) -> str:
    """A signed JWT for an active API client; raises ``InvalidCredentials``."""
    client = ApiClient.objects.filter(key=key, is_active=True).only("org_id", "secret_digest").first()
    if client is None or not client.check_secret(secret):
        raise InvalidCredentials("invalid key or secret")
    now = int(time.time())
    claims = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": key,
        "org": client.org_id,
        "iat": now,
        "exp": now + settings.OAUTH_TOKEN_TTL_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, _jwt_key(), algorithm="HS256")


def oauth_token_caller(*, token: str) -> Caller:
    """The caller a token stands for; raises ``InvalidCredentials`` if expired, forged or malformed."""
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
    if not Till.objects.filter(username=username, org_id=caller.org_id, is_active=True).exists():
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
        listed = frozenset(int(part) for part in (orgs or "").split(",") if part.strip())
    except ValueError as exc:
        raise InvalidScope("DATA-SCOPE-ORG must be comma-separated org ids") from exc
    if any(not 0 < org < 2**63 for org in listed):
        raise InvalidScope("DATA-SCOPE-ORG: org ids are positive 64-bit integers")
    if not listed:
        raise InvalidScope("DATA-SCOPE OTHER needs the orgs in DATA-SCOPE-ORG")
    foreign = listed - {caller.org_id}
    if foreign:
        connected = set(
            OrgConnection.objects.filter(from_org_id=caller.org_id, to_org_id__in=foreign).values_list(
                "to_org_id", flat=True
            )
        )
        if foreign - connected:
            raise OutOfScope(f"org {min(foreign - connected)} is not connected to org {caller.org_id}")
    return listed


# --- OpenAPI ----------------------------------------------------------------------------------

from drf_spectacular.extensions import OpenApiAuthenticationExtension  # noqa: E402


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
