"""The per-address token bucket, on a clock the test moves."""

from __future__ import annotations

import pytest

from webui.config import WebUIConfig
from webui.feedback import ratelimit
from webui.feedback.ratelimit import RateLimiter, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_one_per_interval():
    clock = Clock()
    limiter = RateLimiter(per_minute=6, burst=2, clock=clock)  # one token per 10 s
    assert [limiter.acquire("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(10.0)
    clock.now += 4
    assert limiter.acquire("a") == pytest.approx(6.0)  # a refused request takes no token
    clock.now += 6
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0


def test_addresses_have_their_own_buckets():
    limiter = RateLimiter(per_minute=1, burst=1, clock=Clock())
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0


def test_the_table_stays_bounded_and_forgets_refilled_buckets(monkeypatch):
    monkeypatch.setattr(ratelimit, "MAX_CLIENTS", 3)
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=1, clock=clock)
    for address in "abc":
        limiter.acquire(address)
    clock.now += 0.5
    limiter.acquire("d")  # four tracked: none refilled yet, so the oldest ("a") goes
    assert list(limiter._buckets) == ["b", "c", "d"]
    clock.now += 5
    limiter.acquire("e")  # b, c and d have refilled: forgotten, as if never seen
    assert list(limiter._buckets) == ["e"]


def test_retry_after_is_whole_seconds_rounded_up():
    assert [retry_after(w) for w in (0.01, 1.0, 1.2, 9.99)] == ["1", "1", "2", "10"]


@pytest.mark.parametrize("settings", [{"feedback_burst": 0}, {"feedback_per_minute": 0.0}])
def test_a_rate_limit_that_admits_nothing_is_refused_at_start(settings):
    with pytest.raises(ValueError, match="feedback_"):
        WebUIConfig(**settings)
