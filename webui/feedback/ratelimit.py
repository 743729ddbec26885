"""A token bucket per client address, in memory only: never stored, gone at restart.

Each address may send `burst` corrections at once (a person correcting every digit of a long
number), then one per 60/`per_minute` seconds. Addresses whose bucket has refilled are dropped,
so the table holds only clients active in the last minutes, and is bounded besides.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

MAX_CLIENTS = 10_000  # addresses tracked at once; a flood of new ones evicts the oldest


class RateLimiter:
    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0  # tokens per second
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address → (tokens, at); in order
        self._lock = threading.Lock()

    def acquire(self, address: str) -> float:
        """Take a token for `address`: 0.0 if allowed, else the seconds until one is available."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(address, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            self._buckets[address] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            if len(self._buckets) > MAX_CLIENTS:
                self._forget(now)
            return wait

    def _forget(self, now: float) -> None:
        refilled = [
            address
            for address, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate >= self.burst
        ]
        for address in refilled:
            del self._buckets[address]
        while len(self._buckets) > MAX_CLIENTS:  # all recent: drop the least recently seen
            del self._buckets[next(iter(self._buckets))]


def retry_after(wait: float) -> str:
    """Retry-After's value for `wait` seconds: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait)))
