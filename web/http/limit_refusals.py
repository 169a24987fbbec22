"""Every refusal of a limit, counted by kind for /metrics and logged, at most one line per kind every few
seconds with how many were left out: an operator sees that customers are being turned away, and why, without
a flood of lines when a rush or an attacker meets a limit thousands of times a second."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric

log = logging.getLogger("cinema.limits")

LOG_EVERY_SECONDS = 5.0
# The kinds, each a limit of its own (a bounded label set: nothing a client sends becomes a label).
KINDS = {
    "signups": "sign-ups per address and hour (CINEMA_SIGNUPS_PER_ADDRESS): 429",
    "logins_per_address": "login attempts per address and minute (CINEMA_LOGINS_PER_ADDRESS): 429",
    "logins_per_username": "login attempts per username and address and minute: 429",
    "refreshes": "token refreshes per address and minute (CINEMA_REFRESHES_PER_ADDRESS): 429",
    "password_checks": "waiting password checks per address (CINEMA_PASSWORD_CHECKS_PER_ADDRESS): 429",
    "password_checker": "the password checker's queue is full or too slow: 503",
    "connections_per_source": "open connections per client address (CINEMA_MAX_CONNECTIONS_PER_SOURCE): 503",
    "connections": "open connections in all (CINEMA_MAX_CONNECTIONS): 503",
}


class LimitRefusals:
    """Counters written on the event loop (a dict increment), read at scrape time."""

    def __init__(self, log_every_seconds: float = LOG_EVERY_SECONDS) -> None:
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._every = log_every_seconds
        self._next_line: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    def note(self, kind: str, client: str, logged: bool = True) -> None:
        """Count a refusal; `logged=False` where another line already tells (the 429s: web/http/errors.py)."""
        assert kind in KINDS, kind
        self.counts[kind] += 1
        if not logged:
            return
        now = time.monotonic()
        if now < self._next_line.get(kind, 0.0):
            self._unlogged[kind] = self._unlogged.get(kind, 0) + 1
            return
        self._next_line[kind] = now + self._every
        fields: dict[str, object] = {"kind": kind, "limit": KINDS[kind], "remote": client}
        left_out = self._unlogged.pop(kind, 0)
        if left_out:
            fields["similar_not_logged"] = left_out
        log.warning("limit refused a request", extra={"fields": fields})

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "cinema_limit_refusals", "Requests and connections refused by a limit, by kind", labels=["kind"]
        )
        for kind, count in self.counts.items():
            family.add_metric([kind], count)
        yield family
