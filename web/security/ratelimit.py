"""Fixed-window counters for login attempts, per username and per client address; bounded in size."""

from __future__ import annotations

import math
import time


class RateLimiter:
    def __init__(self, limit: int, window_seconds: float, max_keys: int = 100_000) -> None:
        assert limit >= 1 and window_seconds > 0
        self._limit = limit
        self._window = window_seconds
        self._max_keys = max_keys
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window start, attempts in it)

    def hit(self, key: str) -> int:
        """Count an attempt; returns 0 when allowed, else the seconds until the key may try again."""
        now = time.monotonic()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self._window:
            start, count = now, 0
        if count >= self._limit:
            return max(1, math.ceil(start + self._window - now))
        if key not in self._windows and len(self._windows) >= self._max_keys:
            self._forget_expired(now)
        self._windows[key] = (start, count + 1)
        return 0

    def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    def _forget_expired(self, now: float) -> None:
        self._windows = {k: v for k, v in self._windows.items() if now - v[0] < self._window}
        if len(self._windows) >= self._max_keys:  # a flood of distinct keys: start over rather than grow
            self._windows.clear()
