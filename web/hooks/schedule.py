"""The retry schedule, as pure functions: exponential back-off with full jitter, up to a retry window."""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_BACKOFF_SECONDS = 3600.0


def backoff(attempt: int, base: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): base, 2 base, 4 base... capped at an
    hour, each drawn between half and all of it so that many failed deliveries do not retry in step."""
    ceiling = min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


@dataclass(frozen=True, slots=True)
class Next:
    state: str  # delivered, pending (retry at `at`) or failed
    at: float = 0.0
    disable: bool = False  # a 410: the receiver asks never to be called again


def after_attempt(
    status: int | None, attempt: int, now: float, event_age: float, retry_seconds: float, base: float
) -> Next:
    """Where a delivery stands after an attempt that got `status` (None: no answer, or a refused target)."""
    if status is not None and 200 <= status < 300:
        return Next("delivered", now)
    if status == 410:
        return Next("failed", now, disable=True)
    wait = backoff(attempt, base)
    if event_age + wait > retry_seconds:
        return Next("failed", now)
    return Next("pending", now + wait)
