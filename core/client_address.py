"""The address a request comes from, for throttles and lockouts (django-ratelimit, django-axes).

By default it is ``REMOTE_ADDR``: the peer of the connection. Behind a reverse proxy (or Docker's
port publishing) that is the proxy's own address, so every client shares one counter; the
``X-Forwarded-For`` header is ignored then, since any client can send one. With
``TRUSTED_PROXY_COUNT = N`` (the number of proxies in front of the app, each appending the address
it saw to ``X-Forwarded-For``), the N-th entry from the right is taken instead: the address the
outermost trusted proxy saw, which no client can forge. Set it only when the app cannot be
reached except through those proxies.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings

UNKNOWN = str(ipaddress.IPv4Address(0))  # a peer without an IP address (a Unix socket): one shared counter


def _valid(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip().partition("%")[0]))  # no IPv6 zone id
    except ValueError:
        return None


def client_address(request) -> str:
    """The client's IP address as a string; never raises, whatever the headers say."""
    meta = request.META
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies > 0:
        hops = [hop for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            forwarded = _valid(hops[-proxies])
            if forwarded is not None:
                return forwarded
    return _valid(meta.get("REMOTE_ADDR") or "") or UNKNOWN
