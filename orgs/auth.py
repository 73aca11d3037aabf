"""Authentication of the Capillary-compatible APIs: till Basic auth, OAuth tokens, data scopes.

* **Basic**: ``base64(till_username ":" md5_hex(password))``, or the plain password. Till
  passwords are stored with Django's password hasher (~100 ms per check), so a successful
  check is remembered in this process for ``TILL_AUTH_CACHE_SECONDS`` under an HMAC of the
  presented credentials (never the credentials themselves). Failed checks are limited per till
  and per client address (429 before any hash once over a limit); an unknown till costs the
  same hashing as a known one.
* **OAuth**: ``POST /v3/oauth/token/generate`` trades an API client's key and secret for a
  JWT (PyJWT, HS256, signed with a key derived from ``SECRET_KEY``), sent back as
  ``X-CAP-API-OAUTH-TOKEN``. Each call checks the client's state in the shared cache: a
  client deactivated or deleted stops its tokens at once, in every process.
* **Data scope**: ``DATA-SCOPE: SELF | OTHER`` and ``DATA-SCOPE-ORG(S)``: which orgs a call
  may read or write: its own, or orgs connected to it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, replace

import jwt
from django.conf import settings
from django.contrib.auth.hashers import check_password, get_hasher, make_password
from django.core.cache import cache
from django.db import transaction
from django_ratelimit.core import get_usage
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled

from core.numbers import NumberInvalid, id_list_parse
from rewards_site.local_cache import LocalCache

from .errors import AuthThrottled, InvalidCredentials, InvalidScope, OutOfScope
from .models import ApiClient, OrgConnection, Till, till_password_candidates

logger = logging.getLogger(__name__)

TOKEN_ISSUER = "rewards-engine"
TOKEN_AUDIENCE = "capillary-api"
_CACHE_MAX_ENTRIES = 10_000
MAX_SCOPE_ORGS = 100


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


_CHECK_STRIPES = tuple(threading.Lock() for _ in range(64))


def till_auth_cache_clear() -> None:
    _till_cache.clear()


@functools.cache
def _dummy_hash(hashers: tuple[str, ...], iterations: int | None) -> str:
    """A hash by the current default hasher, at its current cost, that no password matches."""
    return make_password(secrets.token_urlsafe(32))


def _unknown_till_check(presented: str) -> None:
    """The work a known till's check costs (same hasher, same iterations), for nothing."""
    hasher = get_hasher()
    dummy = _dummy_hash(tuple(settings.PASSWORD_HASHERS), getattr(hasher, "iterations", None))
    for candidate in till_password_candidates(presented, None):
        check_password(candidate, dummy)


# Failed checks are limited per till name and per client address with django-ratelimit (fixed
# windows in the shared cache; "ip" is ``core.client_address`` through RATELIMIT_IP_META_KEY, IPv6
# by /64). Every check that is not remembered first counts as a try on both limits, so that
# concurrent tries count before their hashes are done; a check that succeeds counts as a pass.
# Failures = tries - passes: at a limit, the check is refused before any hash is computed.
def _throttles(username: str) -> list[tuple]:
    limits = (
        ("till", settings.TILL_AUTH_FAILURES_PER_TILL, lambda group, request: username),
        ("address", settings.TILL_AUTH_FAILURES_PER_ADDRESS, "ip"),
    )
    return [limit for limit in limits if limit[1]]


def _usage(request, *, counter: str, name: str, rate: str, key, increment: bool) -> dict | None:
    try:
        return get_usage(request, group=f"till-auth-{counter}:{name}", key=key, rate=rate, increment=increment)
    except Exception as exc:  # the cache (Redis) is down: fail open, never a 5xx
        logger.warning("till authentication throttle not checked: %s", exc)
        return None


def _try_begin(request, username: str) -> int | None:
    """Count a try on each limit: None when each has room for it, else the seconds to wait."""
    waits = []
    for name, rate, key in _throttles(username):
        tries = _usage(request, counter="tries", name=name, rate=rate, key=key, increment=True)
        passes = _usage(request, counter="passes", name=name, rate=rate, key=key, increment=False)
        if tries is not None and passes is not None and tries["count"] - passes["count"] > tries["limit"]:
            waits.append(max(tries["time_left"], 1))
    return max(waits) if waits else None


def _try_passed(request, username: str) -> None:
    for name, rate, key in _throttles(username):
        _usage(request, counter="passes", name=name, rate=rate, key=key, increment=True)


def till_authenticate(*, username: str, password: str, request=None) -> Caller:
    """The caller behind a till's credentials (password or its MD5 hex). Raises ``InvalidCredentials``.

    With ``request``, failures are limited per till and per client address: at either limit the
    check raises ``AuthThrottled`` without computing a hash. An unknown till costs the same
    hashing as a known one."""
    if "\x00" in username or len(username) > 150:
        raise InvalidCredentials("invalid till username or password")
    key = _cache_key(username, password)
    hit = _till_cache.get(key)
    if hit is not None:
        return hit
    # Concurrent calls with the same credentials (a till's first calls after a start) wait for one
    # check and take its result, instead of each counting as a try and computing the hash.
    with _CHECK_STRIPES[key[0] % len(_CHECK_STRIPES)]:
        return _till_check(username=username, password=password, key=key, request=request)


def _till_check(*, username: str, password: str, key: bytes, request) -> Caller:
    hit = _till_cache.get(key)
    if hit is not None:
        return hit
    if request is not None:
        retry_after = _try_begin(request, username)
        if retry_after is not None:
            raise AuthThrottled(
                f"too many failed authentications for this till or from this address: retry in {retry_after} s",
                retry_after=retry_after,
            )
    till = (
        Till.objects.filter(username=username, is_active=True)
        .only("org_id", "username", "password", "password_hex_shaped")
        .first()
    )
    if till is None:
        _unknown_till_check(password)
    if till is None or not till.check_password(password):
        raise InvalidCredentials("invalid till username or password")
    if request is not None:
        _try_passed(request, username)
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


# An API client's state in the shared cache (Redis): its org while it is active, 0 once it is
# inactive or deleted. Written through after every commit that saves or deletes a client
# (``api_client_changed``, connected in ``orgs.apps``), so every process sees a deactivation at
# once; read once per call, from the database on a miss (``add``: never over a fresher write).
_CLIENT_CACHE_SECONDS = 300
_INACTIVE = 0


def _client_cache_key(key: str) -> str:
    return "oauth-client:" + hashlib.sha256(key.encode()).hexdigest()


def _api_client_state(key: str) -> int:
    return ApiClient.objects.filter(key=key, is_active=True).values_list("org_id", flat=True).first() or _INACTIVE


def api_client_org(*, key: str) -> int | None:
    """The org of the active API client ``key``, or None (inactive, deleted, unknown)."""
    cache_key = _client_cache_key(key)
    try:
        state = cache.get(cache_key)
    except Exception as exc:  # the cache (Redis) is down: ask the database
        logger.warning("API client state not read from the cache: %s", exc)
        return _api_client_state(key) or None
    if state is None:
        state = _api_client_state(key)
        try:
            cache.add(cache_key, state, _CLIENT_CACHE_SECONDS)
        except Exception as exc:
            logger.warning("API client state not cached: %s", exc)
    return state or None


def _api_clients_cache_refresh(keys: set[str]) -> None:
    for key in keys:
        try:
            cache.set(_client_cache_key(key), _api_client_state(key), _CLIENT_CACHE_SECONDS)
        except Exception as exc:  # entries expire within _CLIENT_CACHE_SECONDS all the same
            logger.warning("API client state of %r not refreshed in the cache: %s", key, exc)


def api_clients_changed(*, keys: set[str]) -> None:
    """Write the state of these API clients to the shared cache once the current transaction commits."""
    if keys:
        transaction.on_commit(lambda: _api_clients_cache_refresh(set(keys)))


def api_client_saving(sender, instance: ApiClient, **kwargs) -> None:
    """pre_save: a client whose key changes leaves its old key behind, which must stop too."""
    if instance.pk is not None:
        old = ApiClient.objects.filter(pk=instance.pk).values_list("key", flat=True).first()
        instance._keys_changed = {old, instance.key} - {None}


def api_client_changed(sender, instance: ApiClient, **kwargs) -> None:
    """post_save / post_delete."""
    api_clients_changed(keys=getattr(instance, "_keys_changed", set()) | {instance.key})


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
    """``X-CAP-API-OAUTH-TOKEN: <JWT from /v3/oauth/token/generate>``."""

    def authenticate(self, request):
        token = request.META.get("HTTP_X_CAP_API_OAUTH_TOKEN")
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
        listed = frozenset(id_list_parse(orgs or "", max_items=MAX_SCOPE_ORGS))
    except NumberInvalid as exc:
        raise InvalidScope(f"DATA-SCOPE-ORG must be comma-separated org ids (ASCII digits): {exc}") from exc
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
