"""Per-consumer token buckets (rate limit) and the request body limit."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float  # tokens added per second
    capacity: float
    tokens: float = field(default=-1.0)
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def take(self, now: float | None = None) -> float:
        """0 when a token was taken; otherwise the seconds until one is there."""
        now = time.monotonic() if now is None else now
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """One bucket per consumer, in this worker process. With W uvicorn workers a consumer
    spread over several connections may get up to W times its rate; the settings are per
    worker for that reason (docs/sharing.md)."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self.buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()  # requests run in the worker's thread pool

    def retry_after(self, consumer_id: str, rate: float | None, burst: int | None) -> int:
        """0 when the request may go on, else whole seconds to wait (for Retry-After)."""
        with self._lock:
            bucket = self.buckets.get(consumer_id)
            if bucket is None:
                bucket = TokenBucket(rate or self.rate, float(burst or self.burst))
                self.buckets[consumer_id] = bucket
            wait = bucket.take()
        return 0 if wait == 0 else max(1, math.ceil(wait))
