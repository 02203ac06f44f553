"""Per-token request throttling.

Each API token (or, for the browsable API, each logged-in user) gets its own budget:
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["token"] (env MTXMONITOR_API_RATE, e.g. "1200/min").
A lab batch of up to 1,000 results counts as one request. Beyond the budget: 429 with
Retry-After (the seconds until the budget renews).

A fixed-window counter (one cache increment per request), not DRF's sliding log: DRF keeps and
re-writes the list of every request time in the window, which at 1,200/min is a 10 KB value read
and written on every request. The price is that a client may burst up to twice its rate across a
window boundary. The counters live in the default cache, which must be shared by every web
process (Redis in production; see settings.CACHES).

Fails OPEN (issue 14): a cache that errors or does not answer within its socket timeout
(settings.CACHES OPTIONS, MTXMONITOR_CACHE_TIMEOUT_SECONDS) lets the request through and logs
a warning (at most one per process every CACHE_WARNING_EVERY seconds); after an error the
cache is not asked again for MTXMONITOR_CACHE_BACKOFF_SECONDS, so a frozen Redis costs one
socket timeout per process per period, not one per request. A Redis outage costs
throttling and a bounded latency, never a 500 and never a stored lab result.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from api.models import ApiToken

log = logging.getLogger(__name__)

CACHE_WARNING_EVERY = 30.0  # seconds between two "throttle cache unavailable" warnings
_last_warning = {"at": float("-inf")}
_cache_down_until = {"at": float("-inf")}
_warning_lock = threading.Lock()


class TokenRateThrottle(BaseThrottle):
    scope = "token"
    parse_rate = SimpleRateThrottle.parse_rate

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def rate(self) -> str | None:
        # Read at request time, so a settings change (tests, reload) takes effect at once.
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)

    def ident(self, request) -> str:
        if isinstance(request.auth, ApiToken):
            # The key's digest (api/models.py), never the key, in a cache key.
            return "t" + request.auth.key_digest[:24]
        if request.user and request.user.is_authenticated:
            return f"u{request.user.pk}"
        return "a" + (self.get_ident(request) or "")

    def allow_request(self, request, view) -> bool:
        rate = self.rate()
        if rate is None:
            return True
        limit, duration = self.parse_rate(rate)
        now = time.time()
        window = int(now // duration)
        key = f"throttle:{self.scope}:{self.ident(request)}:{duration}:{window}"
        if time.monotonic() < _cache_down_until["at"]:
            return True  # the cache failed a moment ago: do not wait on it again yet
        try:
            count = _count(key, timeout=duration + 1)
        except Exception as exc:  # Redis down, frozen (socket timeout) or refusing: fail open
            _cache_down_until["at"] = time.monotonic() + float(
                getattr(settings, "MTXMONITOR_CACHE_BACKOFF_SECONDS", 5)
            )
            _warn_unavailable(exc)
            return True
        if count <= limit:
            return True
        self.wait_seconds = (window + 1) * duration - now
        return False

    def wait(self) -> float | None:
        return self.wait_seconds


def _warn_unavailable(exc: Exception) -> None:
    now = time.monotonic()
    with _warning_lock:
        if now - _last_warning["at"] < CACHE_WARNING_EVERY:
            return
        _last_warning["at"] = now
    log.warning(
        "API throttle: the cache is unavailable (%s: %s); requests are let through "
        "unthrottled until it answers again.",
        type(exc).__name__,
        exc,
    )


# INCR, and give the window's counter its expiry when this request created it: one command.
_INCR = (
    "local n = redis.call('INCR', KEYS[1]) "
    "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    "return n"
)


def _count(key: str, timeout: int) -> int:
    """Add one to the window's counter and answer its new value.

    On Redis: one round trip (the script above), through one client object per cache. Django's
    RedisCache.incr costs two round trips (EXISTS, then INCRBY) and builds a new redis.Redis
    client for every call - most of the throttle's cost per request. Any other cache: incr, and
    add on the window's first request. The key is the cache's own (prefix, version) either way."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        redis_key = backend.make_and_validate_key(key)
        return int(_redis_client(backend).eval(_INCR, 1, redis_key, timeout))
    try:
        return backend.incr(key)
    except ValueError:  # the window's first request
        return 1 if backend.add(key, 1, timeout=timeout) else backend.incr(key)


def _redis_client(backend: RedisCache):
    # The client is a thin handle on the cache's shared connection pool (safe across threads);
    # keep the one made for the first write rather than making one per request.
    pools = backend._cache  # django.core.cache.backends.redis.RedisCacheClient
    client = getattr(pools, "_mtxmonitor_write_client", None)
    if client is None:
        client = pools._mtxmonitor_write_client = pools.get_client(write=True)
    return client
