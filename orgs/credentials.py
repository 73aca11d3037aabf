"""Who calls: the credentials of both wire formats checked against the database. The adapters
parse the bodies and headers that carry them (``appvirality/wire.py``, ``capillary/auth.py``).

* AppVirality: an app's ``apikey`` and private key (SHA-256 digest), kept per process for
  ``CREDENTIALS_CACHE_SECONDS``.
* Capillary tills: a till's password or its MD5 hex. Till passwords are stored with Django's
  password hasher (~100 ms per check), so a successful check is remembered in this process for
  ``TILL_AUTH_CACHE_SECONDS`` under an HMAC of the presented credentials (never the credentials).
  Failed checks are limited per till and per client address (refused before any hash once over
  a limit); an unknown till costs the same hashing as a known one.
* Capillary API clients: key and secret (SHA-256 digest), traded for a token by the adapter. Each
  call checks the client's state in the shared cache: a client deactivated or deleted stops its
  tokens at once, in every process.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
import threading
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import check_password, get_hasher, make_password
from django.core.cache import cache
from django.db import transaction
from django_ratelimit.core import get_usage

from core.local_cache import LocalCache

from .errors import AuthThrottled, InvalidCredentials
from .models import ApiClient, AppCredential, Org, OrgConnection, Till, secret_matches, till_password_candidates

logger = logging.getLogger(__name__)

_CACHE_MAX_ENTRIES = 10_000


_app_cache = LocalCache(ttl_setting="CREDENTIALS_CACHE_SECONDS", maxsize=_CACHE_MAX_ENTRIES)


def app_credentials_cache_clear() -> None:
    _app_cache.clear()


def app_authenticate(*, apikey: str, privatekey: str) -> Org | None:
    """The org whose AppVirality credentials these are, or None. Constant-time key comparison.

    The credential is kept per process for ``CREDENTIALS_CACHE_SECONDS`` (unknown
    apikeys too, so that a flood of bad keys does not reach the database).
    """
    cache_key = hashlib.sha256(apikey.encode()).digest()
    known = _app_cache.get(cache_key)
    if known is None:
        credential = AppCredential.objects.select_related("org").filter(apikey=apikey).first()
        known = (credential.org, credential.privatekey_digest) if credential else (None, "")
        _app_cache.set(cache_key, known)
    org, digest = known
    if org is None or not secret_matches(privatekey, digest):
        return None
    return org


@dataclass(frozen=True)
class Caller:
    """Who calls: an org, through one of its tills (Basic) or API clients (OAuth)."""

    org_id: int
    method: str  # "basic" | "oauth"
    till_username: str | None = None
    client_key: str | None = None

    # DRF treats the authenticated "user" as a user object.
    is_authenticated = True


_till_cache = LocalCache(ttl_setting="TILL_AUTH_CACHE_SECONDS", maxsize=_CACHE_MAX_ENTRIES)


@functools.lru_cache(maxsize=4)
def _cache_secret(secret_key: str) -> bytes:
    """The key of the till cache's HMAC: derived once per process (per ``SECRET_KEY``), not per call."""
    return hashlib.sha256(f"till-auth-cache:{secret_key}".encode()).digest()


def _cache_key(username: str, password: str) -> bytes:
    secret = _cache_secret(settings.SECRET_KEY)
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


def api_client_authenticate(*, key: str, secret: str) -> int:
    """The org of an active API client with this key and secret; raises ``InvalidCredentials``."""
    client = ApiClient.objects.filter(key=key, is_active=True).only("org_id", "secret_digest").first()
    if client is None or not client.check_secret(secret):
        raise InvalidCredentials("invalid key or secret")
    return client.org_id


def till_is_active_in_org(*, username: str, org_id: int) -> bool:
    return Till.objects.filter(username=username, org_id=org_id, is_active=True).exists()


def orgs_connected(*, org_id: int, to_org_ids: set[int]) -> set[int]:
    """Those of ``to_org_ids`` that ``org_id`` is connected to."""
    if not to_org_ids:
        return set()
    return set(
        OrgConnection.objects.filter(from_org_id=org_id, to_org_id__in=to_org_ids).values_list("to_org_id", flat=True)
    )
