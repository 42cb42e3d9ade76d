"""Per-key rate limits: a token bucket per API key, in the process that serves the request.

Each replica keeps its own buckets, so a key's effective limit grows with the replica count; that is fine for
protecting a replica, and a gateway can enforce a global limit in front if a region needs one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, per_second: float, burst: int, clock=time.monotonic) -> None:  # noqa: ANN001
        self.per_second, self.burst, self._clock = per_second, burst, clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key_id: str, per_second: float | None = None) -> float:
        """Spend one token; returns 0 when allowed, else the seconds to wait (for Retry-After)."""
        rate = per_second or self.per_second
        burst = max(self.burst, math.ceil(rate))
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
