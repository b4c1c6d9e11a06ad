"""The cache backend: Django's Redis cache, degraded to a miss when Redis cannot be reached.

Nothing the portal keeps in the cache is the only copy of anything (sessions live in the
database, a worker's heartbeat is sent again by the next check), so a Redis that is down
must cost a cache miss, never an error page. When a call fails to reach Redis the cache
answers as an empty one would (`get` gives the default, `set` and `delete` do nothing),
logs it once, and for `RETRY_AFTER` seconds does not try Redis at all: a Redis that
swallows packets would otherwise cost every request the socket timeout, twice.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# Seconds the cache answers misses without trying Redis after it could not be reached.
RETRY_AFTER = 5.0

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class _Breaker:
    """Whether to try Redis now; shared by every thread of the process, one per server."""

    def __init__(self) -> None:
        self.down_until = 0.0
        self.lock = threading.Lock()

    def closed(self) -> bool:
        return time.monotonic() >= self.down_until

    def trip(self, location: str, error: Exception) -> None:
        with self.lock:
            was_up = self.down_until == 0.0
            self.down_until = time.monotonic() + RETRY_AFTER
        if was_up:
            logger.warning(
                "cache unavailable (%s: %s): answering misses, retrying every %.0fs",
                location,
                error,
                RETRY_AFTER,
            )

    def reset(self, location: str) -> None:
        if self.down_until:
            with self.lock:
                self.down_until = 0.0
            logger.warning("cache available again (%s)", location)


_breakers: dict[str, _Breaker] = {}
_breakers_lock = threading.Lock()


def _breaker_for(location: str) -> _Breaker:
    with _breakers_lock:
        return _breakers.setdefault(location, _Breaker())


def _degraded(name: str, fallback: Callable[..., Any]) -> Callable[..., Any]:
    """`RedisCache.<name>`, answering `fallback(*args, **kwargs)` while Redis is unreachable."""
    method = getattr(RedisCache, name)

    @functools.wraps(method)
    def call(self: ResilientRedisCache, *args: Any, **kwargs: Any) -> Any:
        breaker = self._breaker
        if not breaker.closed():
            return fallback(*args, **kwargs)
        try:
            result = method(self, *args, **kwargs)
        except UNREACHABLE as error:
            breaker.trip(self._location, error)
            return fallback(*args, **kwargs)
        breaker.reset(self._location)
        return result

    return call


def _missing(key: Any, *args: Any, **kwargs: Any) -> None:
    raise ValueError(f"Key '{key}' not found")  # what incr() says on an empty cache


class ResilientRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` that a Redis outage turns into misses."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._location = ",".join(self._servers)
        self._breaker = _breaker_for(self._location)

    get = _degraded("get", lambda key, default=None, version=None: default)
    get_many = _degraded("get_many", lambda *args, **kwargs: {})
    has_key = _degraded("has_key", lambda *args, **kwargs: False)
    # Writes store nothing and say so (add and touch report "not stored").
    set = _degraded("set", lambda *args, **kwargs: None)
    set_many = _degraded("set_many", lambda *args, **kwargs: [])
    add = _degraded("add", lambda *args, **kwargs: False)
    touch = _degraded("touch", lambda *args, **kwargs: False)
    delete = _degraded("delete", lambda *args, **kwargs: False)
    delete_many = _degraded("delete_many", lambda *args, **kwargs: None)
    incr = _degraded("incr", _missing)
    clear = _degraded("clear", lambda *args, **kwargs: False)

    def ping(self) -> bool:
        """Whether Redis answers now (tried even during the pause after a failure)."""
        try:
            self._cache.get_client(write=True).ping()
        except UNREACHABLE as error:
            self._breaker.trip(self._location, error)
            return False
        self._breaker.reset(self._location)
        return True
