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
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle


class TokenRateThrottle(BaseThrottle):
    scope = "token"
    parse_rate = SimpleRateThrottle.parse_rate

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def rate(self) -> str | None:
        # Read at request time, so a settings change (tests, reload) takes effect at once.
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)

    def ident(self, request) -> str:
        if isinstance(request.auth, Token):
            # Never put the token itself in a cache key.
            return "t" + hashlib.sha256(request.auth.key.encode()).hexdigest()[:24]
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
        try:
            count = cache.incr(key)
        except ValueError:  # the window's first request
            count = 1 if cache.add(key, 1, timeout=duration + 1) else cache.incr(key)
        if count <= limit:
            return True
        self.wait_seconds = (window + 1) * duration - now
        return False

    def wait(self) -> float | None:
        return self.wait_seconds
