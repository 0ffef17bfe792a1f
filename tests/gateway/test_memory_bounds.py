"""What the soak found growing, bounded: per-client state lives as long as it matters.

Clock-driven: ten minutes of traffic at 95 requests per second with a fresh client identity on
every request (a new token per log-in, a new address), replayed through an injected clock.
"""

from __future__ import annotations

from prisma_glow_gateway.ratelimit import LocalRateLimiter
from prisma_glow_gateway.security import FailureWindow

RATE = 95.0
TEN_MINUTES = int(600 * RATE)


def test_rate_limiter_keeps_only_clients_of_the_last_refill_time() -> None:
    limiter = LocalRateLimiter(per_minute=600)
    for n in range(TEN_MINUTES):
        limiter.take(f"t:{n}", now=n / RATE)
    # A minute to refill plus the sweep interval: what is held is recent clients only (it was
    # every client ever seen, up to 50 000 buckets).
    assert len(limiter._buckets) <= RATE * 60 * 1.25 + 1


def test_an_idle_bucket_dropped_is_the_same_as_a_full_one() -> None:
    limiter = LocalRateLimiter(per_minute=60)
    for _ in range(60):
        assert limiter.take("client", now=0.0) is None
    assert limiter.take("client", now=0.0) is not None  # empty
    limiter.take("other", now=61.0)  # sweeps: "client" has been idle a whole refill time
    assert "client" not in limiter._buckets
    for _ in range(60):
        assert limiter.take("client", now=61.0) is None  # full again, as it would have been


def test_failure_windows_keep_only_keys_with_failures_in_the_window() -> None:
    window = FailureWindow(threshold=5, window_seconds=300.0)
    for n in range(TEN_MINUTES):
        window.add(f"x{n}@example", now=n / RATE)
    assert len(window._hits) <= RATE * 300 * 1.25 + 1
    # a key still in its window keeps counting
    for _ in range(4):
        window.add("victim@example", now=700.0)
    assert window.add("victim@example", now=700.0) is True
