"""Who may send spans and how often: the bearer token and a rate limit per sender.

Both receivers (OTLP/HTTP and OTLP/gRPC) ask the same `Admission`. The token is compared
in constant time. The rate limit is a token bucket per sender IP (`rate` per second,
bursts of twice that): exporters batch, so a sender over it is misbehaving or many
processes behind one address, and either way is answered with the OTLP spec's
"retry later" (HTTP 429 with Retry-After, gRPC RESOURCE_EXHAUSTED) instead of taking the
receiver's time from everyone else. The table of senders is bounded: the least recently
seen is forgotten first (it starts again with a full bucket, which is what a new sender
gets anyway).
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_SENDERS = 10_000


class Admission:
    def __init__(self, *, token: str | None, rate: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._expected = f"Bearer {token}".encode() if token else None
        self.rate, self.burst = rate, 2 * rate
        self._clock = clock
        # sender -> (tokens left, when they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.unauthorized = 0
        self.throttled = 0

    def authorized(self, authorization: str | bytes | None) -> bool:
        """Whether an `Authorization` header (or gRPC metadata) value carries the token."""
        if self._expected is None:
            return True
        given = authorization.encode("latin-1") if isinstance(authorization, str) \
            else authorization or b""
        if hmac.compare_digest(given, self._expected):
            return True
        self.unauthorized += 1
        return False

    def allowed(self, sender: str | None) -> bool:
        """Take one request from the sender's bucket; False when it is empty."""
        key = sender or "?"
        now = self._clock()
        tokens, then = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            self.throttled += 1
            return False
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > MAX_SENDERS:
            self._buckets.popitem(last=False)
        return True

    def retry_after(self) -> int:
        """Seconds a throttled sender should wait: until its bucket holds one request."""
        return max(1, int(1.0 / self.rate + 0.999))
