"""Middleware the browser pages need and the vendor APIs do not.

The vendor endpoints (AppVirality ``/v2_0/...``, Capillary ``/v1/``, ``/v1.1/``, ``/v2/``, ``/v3/``,
also under the gateway prefix) authenticate every call by its body or its headers, answer JSON and
set no cookie: sessions, ``request.user`` from the session, messages, the frame and
content-security-policy headers of HTML pages are work for nothing there (tens of microseconds
per call). ``settings.MIDDLEWARE`` lists those middleware through ``browser_only``: on a vendor
path each one hands the request straight on. Their other hooks (``process_view``, ...) stay as
they are: Django collects them from the instance, and the vendor views are CSRF-exempt anyway.
"""

import re

from csp.middleware import CSPMiddleware
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.clickjacking import XFrameOptionsMiddleware

VENDOR_PATH = re.compile(r"^/(?:api_gateway/rewards/core/)?v[0-9]+(?:[._][0-9]+)?/")


def is_vendor_path(path_info: str) -> bool:
    """True for the paths of the two vendor APIs."""
    return VENDOR_PATH.match(path_info) is not None


def browser_only(middleware_class: type) -> type:
    """``middleware_class`` skipped on the vendor paths."""

    class BrowserOnly(middleware_class):
        def __call__(self, request):
            if is_vendor_path(request.path_info):
                return self.get_response(request)
            return super().__call__(request)

    BrowserOnly.__name__ = BrowserOnly.__qualname__ = f"BrowserOnly{middleware_class.__name__}"
    BrowserOnly.__doc__ = f"{middleware_class.__module__}.{middleware_class.__name__}, skipped on vendor paths."
    return BrowserOnly


BrowserSessionMiddleware = browser_only(SessionMiddleware)
BrowserAuthenticationMiddleware = browser_only(AuthenticationMiddleware)
BrowserMessageMiddleware = browser_only(MessageMiddleware)
BrowserXFrameOptionsMiddleware = browser_only(XFrameOptionsMiddleware)

BrowserCSPMiddleware = browser_only(CSPMiddleware)
