"""Who calls: the credentials of both wire formats checked against the database. The adapters
parse the bodies and headers that carry them (``appvirality/wire.py``, ``capillary/auth.py``).

* AppVirality: an app's ``apikey`` and private key (SHA-256 digest), kept per process for
  ``CREDENTIALS_CACHE_SECONDS``.
* Capillary tills: a till's password or its MD5 hex. Till passwords are stored with Django's
  password hasher (~100 ms per check), so a successful check is remembered in this process for
  ``TILL_AUTH_CACHE_SECONDS`` under an HMAC of the presented credentials (never the credentials).
* Capillary API clients: key and secret (SHA-256 digest), traded for a token by the adapter.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password

from core.local_cache import LocalCache

from .errors import InvalidCredentials
from .models import ApiClient, AppCredential, Org, OrgConnection, Till, secret_matches

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
