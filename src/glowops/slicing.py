"""Work cut into steps, so that the alert cycle shares the event loop with requests.

The embedded engine runs on the service's event loop. A whole cycle (sampling ~10,000 series and
evaluating the catalog) is ~28 ms of CPU; run in one piece, every request that arrives meanwhile
waits for it. The sampler and the rule engine therefore expose their work as generators that
yield between units (a group of series, a rule): :func:`run_steps` runs them to the end at once
(the synchronous API, the same code), :func:`drive` hands the loop back whenever a slice of
``budget`` seconds has been used. Nothing else writes the store between slices, so the results
are the same as in one piece.

(A worker thread does not help: the evaluation holds the GIL and hands it over only every 5 ms,
and the console would read the store while the thread mutates it.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from typing import TypeVar

R = TypeVar("R")
Steps = Generator[None, None, R]

SLICE_SECONDS = 0.002  # the longest the cycle keeps the loop before letting requests run


async def yield_to_loop() -> None:
    """Let every ready task (requests) run once, then come back."""
    await asyncio.sleep(0)


def run_steps(steps: Steps[R]) -> R:
    """Run every step now; the generator's return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def drive(
    steps: Steps[R], budget: float = SLICE_SECONDS, pause: Callable[[], Awaitable[None]] = yield_to_loop
) -> R:
    """Run the steps, awaiting ``pause()`` each time ``budget`` seconds of them have run."""
    mark = time.perf_counter()
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if time.perf_counter() - mark >= budget:
            await pause()
            mark = time.perf_counter()
