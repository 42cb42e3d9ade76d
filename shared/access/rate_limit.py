"""Per-key rate limits: a token bucket per API key, in the process that serves the request.

Each replica keeps its own buckets, so a key's effective limit grows with the replica count; that is fine for
protecting a replica, and a gateway can enforce a global limit in front if a region needs one.

A key without a rate of its own gets the service's rate and burst (PARITRANA_RATE_LIMIT_PER_SECOND and _BURST). A
key with one gets a burst of OWN_RATE_BURST_SECONDS of that rate (at least one request): the service's burst is
sized for its own rate, and a key held to 2 requests a second must not start with 200.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

# The default settings' own ratio (a burst of 200 at 100 per second).
OWN_RATE_BURST_SECONDS = 2.0


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second, self.burst, self._clock = per_second, burst, clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key_id: str, per_second: float | None = None) -> float:
        """Spend one token; returns 0 when allowed, else the seconds to wait (for Retry-After)."""
        if per_second is None:
            rate, burst = self.per_second, self.burst
        else:
            rate, burst = per_second, max(1, math.floor(per_second * OWN_RATE_BURST_SECONDS))
        now = self._clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(float(burst), now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate
