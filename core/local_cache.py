"""Per-process caches of hot, rarely changing reads (credentials, the catalogue).

Each is a ``cachetools.TTLCache`` behind a lock (gunicorn may run threads; the test server
does), sized by entries, with its time to live read from a setting, so a test or an operator
changing the setting gets a cache that follows it. A TTL of 0 turns the cache off.
"""

from __future__ import annotations

import threading
from typing import Any

from cachetools import TTLCache
from django.conf import settings

_MISSING = object()


class LocalCache:
    def __init__(self, *, ttl_setting: str, maxsize: int = 10_000):
        self._ttl_setting = ttl_setting
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._cache: TTLCache | None = None

    def _current(self) -> TTLCache | None:
        ttl = getattr(settings, self._ttl_setting)
        if ttl <= 0:
            return None
        if self._cache is None or self._cache.ttl != ttl:
            self._cache = TTLCache(maxsize=self._maxsize, ttl=ttl)
        return self._cache

    def get(self, key, default: Any = None) -> Any:
        with self._lock:
            cache = self._current()
            value = cache.get(key, _MISSING) if cache is not None else _MISSING
        return default if value is _MISSING else value

    def set(self, key, value) -> None:
        with self._lock:
            cache = self._current()
            if cache is not None:
                cache[key] = value

    def clear(self) -> None:
        with self._lock:
            if self._cache is not None:
                self._cache.clear()
