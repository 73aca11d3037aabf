"""The one outbound HTTP client (webhooks, vendor partners): an ``httpx.Client`` per process.

A client keeps a connection pool; a forked worker (gunicorn, Celery prefork) must not share its
parent's sockets, so a process that finds a client made by another pid makes its own. Redirects
are not followed and the environment's proxies are not used: the URLs are staff-configured.
"""

import os
import threading

import httpx

_client: httpx.Client | None = None
_client_pid: int | None = None
_lock = threading.Lock()


def http_client() -> httpx.Client:
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        with _lock:
            if _client is None or _client_pid != os.getpid():
                _client = httpx.Client(follow_redirects=False, trust_env=False)
                _client_pid = os.getpid()
    return _client
