"""The timed part of `cinema rush`, as it runs inside each load process.

Every process gets the same plan with its own share of the load (its index, its part of the rate or of the
requests), opens its own keep-alive connections (scripts/rush/rawhttp.py) and records latencies into HDR histograms
(microseconds, 3 significant digits), which the parent merges exactly. Open loop: arrivals follow a schedule
(a fixed rate or a linear ramp) and each latency runs from the arrival's *intended* start, as in wrk2, so a
stalled server cannot hide behind requests that were never sent. Closed loop: each connection sends its next
request when the last one is answered ("as fast as it goes").
"""

from __future__ import annotations

import asyncio
import math
import random
import resource
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson
from hdrh.histogram import HdrHistogram

from scripts.rush.rawhttp import HttpError, KeepAliveConnection

KINDS = ("single", "multi", "best", "hold", "cancel")
PATTERNS = ("random", "hot", "sequential")
PHASES = ("warmup", "rush", "tail")
HIGHEST_US = 120_000_000  # 2 minutes: anything slower is a timeout anyway
MAX_BUCKETS = 400  # timeline buckets per process; past this their width doubles
FIRST_WIDTH = 0.05  # seconds per timeline bucket to begin with
QUEUE_BOUND = 200_000  # open loop: arrivals waiting for a free connection (their wait counts as latency)


def histogram(digits: int = 3) -> HdrHistogram:
    return HdrHistogram(1, HIGHEST_US, digits)


def latency_ms(hist: HdrHistogram) -> dict[str, float]:
    if hist.get_total_count() == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0}
    values = {f"p{q}".replace(".", ""): hist.get_value_at_percentile(q) for q in (50, 90, 99, 99.9)}
    values["max"] = hist.get_max_value()
    return {name: round(micros / 1000, 2) for name, micros in values.items()}


@dataclass(frozen=True)
class LoadPlan:
    """What one load process does; picklable, built by the parent."""

    base_url: str
    show_id: int
    total_seats: int
    free_at_start: int  # seats neither booked, held nor blocked when the rush began
    headers: list[dict[str, str]]  # one per user: Authorization and Content-Type
    procs: int
    index: int
    concurrency: int  # this process's connections
    requests: int  # closed loop: this process's actions (0 = until the duration ends)
    duration: float  # seconds (closed loop: an upper bound; open loop: the schedule's length)
    rate_from: float = 0.0  # open loop: this process's arrivals per second at the start and the end
    rate_to: float = 0.0
    warmup: float = 0.0
    mix: tuple[tuple[str, float], ...] = (("single", 1.0),)
    pattern: str = "random"
    hot_seats: int = 5
    seed: int | None = None
    timeout: float = 30.0
    retries: int = 0  # > 0: mutating requests carry an Idempotency-Key and are re-sent after a timeout
    run_id: str = "rush"

    @property
    def open_loop(self) -> bool:
        return self.rate_to > 0


@dataclass
class Shared:
    """Numbers the processes share: progress, seats taken by the rush, and when the show became full."""

    done: Any  # multiprocessing Array('q', procs): actions answered, one slot per process
    filled: Any  # multiprocessing Value('q'): seats the rush took (booked or held), net of cancels
    sold_out_at: Any  # multiprocessing Value('d'): time.monotonic() when filled reached free_at_start, or 0


def arrivals(rate_from: float, rate_to: float, duration: float) -> Iterator[float]:
    """Offsets (s) of the arrivals of a linear ramp from rate_from to rate_to over duration (equal: a fixed
    rate): the i-th arrival is where the ramp's integral reaches i."""
    assert rate_from >= 0 and rate_to > 0 and duration > 0
    slope = (rate_to - rate_from) / duration
    i = 0
    while True:
        if slope == 0:
            offset = i / rate_from
        else:
            offset = (-rate_from + math.sqrt(rate_from * rate_from + 2 * slope * i)) / slope
        if offset >= duration:
            return
        yield offset
        i += 1


@dataclass
class Timeline:
    """Per bucket of answer time since the rush began: every request's status, the latency histogram of the
    actions answered then, and the seats they took."""

    width: float = FIRST_WIDTH
    statuses: list[Counter[int]] = field(default_factory=list)
    hists: list[HdrHistogram | None] = field(default_factory=list)
    seats: list[int] = field(default_factory=list)

    def bucket(self, offset: float) -> int:
        index = max(0, int(offset / self.width))
        while index >= MAX_BUCKETS:
            self._coarsen()
            index = max(0, int(offset / self.width))
        while len(self.statuses) <= index:
            self.statuses.append(Counter())
            self.hists.append(None)
            self.seats.append(0)
        return index

    def record(self, offset: float, micros: int) -> None:
        index = self.bucket(offset)
        hist = self.hists[index]
        if hist is None:
            hist = self.hists[index] = histogram(2)
        hist.record_value(min(micros, HIGHEST_US))

    def _coarsen(self) -> None:
        statuses, hists, seats = [], [], []
        for start in range(0, len(self.statuses), 2):
            pair = slice(start, start + 2)
            statuses.append(sum(self.statuses[pair], Counter()))
            merged = None
            for hist in self.hists[pair]:
                if hist is not None:
                    merged = merged or histogram(2)
                    merged.add(hist)
            hists.append(merged)
            seats.append(sum(self.seats[pair]))
        self.statuses, self.hists, self.seats = statuses, hists, seats
        self.width *= 2

    def export(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "statuses": [dict(c) for c in self.statuses],
            "hists": [h.encode() if h is not None else None for h in self.hists],
            "seats": self.seats,
        }


class Load:
    """One process's share of the rush: its connections, its users' bookings and its records."""

    def __init__(self, plan: LoadPlan, shared: Shared) -> None:
        self.plan = plan
        self.shared = shared
        self.rng = random.Random(None if plan.seed is None else plan.seed * 1000 + plan.index)
        probe = KeepAliveConnection(plan.base_url)
        self.probe = probe
        self.book_heads = [probe.head("POST", f"/shows/{plan.show_id}/book/", h) for h in plan.headers]
        self.seat_map_request = probe.build("GET", f"/shows/{plan.show_id}/seats/", {})
        self.kinds = [kind for kind, _ in plan.mix]
        self.weights = [weight for _, weight in plan.mix]
        self.single_only = self.kinds == ["single"]
        middle = max(1, plan.total_seats // 2 - plan.hot_seats // 2)
        self.hot = [min(plan.total_seats, middle + i) for i in range(max(1, plan.hot_seats))]
        self.owned: list[list[int]] = [[] for _ in plan.headers]  # per user: booking ids it may cancel
        self.phase_hists = {phase: histogram() for phase in PHASES}
        self.phase_statuses: dict[str, Counter[int]] = {phase: Counter() for phase in PHASES}
        self.phase_actions: Counter[str] = Counter()
        self.kind_statuses: dict[str, Counter[int]] = {kind: Counter() for kind in KINDS}
        self.timeline = Timeline()
        self.booked: dict[int, int] = {}  # booking id -> seat, answered 201
        self.cancelled: set[int] = set()
        self.uncertain: set[int] = set()  # cancels without a clear answer
        self.errors: Counter[str] = Counter()
        self.retried = 0
        self.seat_limits = 0  # 409 seat_limit: the per-customer cap, not a lost race for a seat
        self.actions = 0  # answered
        self.issued = 0  # begun
        self.sequence = 0
        self.rush_start = 0.0
        self.last_answer = 0.0

    # -- what to ask for -------------------------------------------------------------------------------------

    def seat(self) -> int:
        plan = self.plan
        if plan.pattern == "hot":
            return self.rng.choice(self.hot)
        if plan.pattern == "sequential":
            return ((self.issued - 1) * plan.procs + plan.index) % plan.total_seats + 1
        return self.rng.randint(1, plan.total_seats)

    def key_header(self, headers: dict[str, str]) -> dict[str, str]:
        if not self.plan.retries:
            return headers
        self.sequence += 1
        return {**headers, "Idempotency-Key": f"{self.plan.run_id}-{self.plan.index}-{self.sequence}"}

    def book_request(self, user: int, body: bytes) -> bytes:
        if self.plan.retries:
            head = self.probe.head(
                "POST", f"/shows/{self.plan.show_id}/book/", self.key_header(self.plan.headers[user])
            )
        else:
            head = self.book_heads[user]
        return head + self.probe.length(body) + body

    def post(self, user: int, path: str, body: bytes = b"") -> bytes:
        return self.probe.build("POST", path, self.key_header(self.plan.headers[user]), body)

    # -- talking to the server -------------------------------------------------------------------------------

    async def send(self, connection: KeepAliveConnection, request: bytes, statuses: Counter[int]) -> tuple[int, bytes]:
        """One request, re-sent (same bytes, same Idempotency-Key) after a timeout or a lost connection when
        retries are on; 0 when no answer came."""
        for attempt in range(self.plan.retries + 1):
            try:
                async with asyncio.timeout(self.plan.timeout):
                    status, body = await connection.send(request)
                self.count(status, statuses)
                return status, body
            except (TimeoutError, ConnectionError, OSError, HttpError) as error:
                self.errors["timeout" if isinstance(error, TimeoutError) else type(error).__name__] += 1
                await connection.close()
                if attempt < self.plan.retries:
                    self.retried += 1
        self.count(0, statuses)
        return 0, b""

    def count(self, status: int, statuses: Counter[int]) -> None:
        """Every answer counts in its phase, and (outside the warm-up) in the timeline when it arrived."""
        statuses[status] += 1
        if statuses is not self.phase_statuses["warmup"]:
            self.timeline.statuses[self.timeline.bucket(time.monotonic() - self.rush_start)][status] += 1

    def took(self, seats: int) -> None:
        """Seats taken (or, negative, given back) by the rush; the first moment the show is full starts the tail."""
        if seats == 0:
            return
        with self.shared.filled.get_lock():
            self.shared.filled.value += seats
            full = self.shared.filled.value >= self.plan.free_at_start
        if full:
            self.sold_out()

    def sold_out(self) -> None:
        """The show is full: the server said `sold_out`, or the rush itself holds every seat that was free."""
        if self.shared.sold_out_at.value == 0:
            with self.shared.sold_out_at.get_lock():
                if self.shared.sold_out_at.value == 0:
                    self.shared.sold_out_at.value = time.monotonic()

    def keep(self, user: int, payload: bytes) -> int:
        data = orjson.loads(payload)
        bookings = data.get("bookings", [data])
        for booking in bookings:
            self.booked[booking["id"]] = booking["seat_number"]
            self.owned[user].append(booking["id"])
        return len(bookings)

    async def act(self, connection: KeepAliveConnection, statuses: Counter[int]) -> tuple[str, int, int]:
        """One user action; returns its kind, its last status and the seats it took (negative: gave back)."""
        user = self.issued % len(self.plan.headers)
        self.issued += 1
        kind = "single" if self.single_only else self.rng.choices(self.kinds, self.weights)[0]
        if kind == "cancel" and not self.owned[user]:
            kind = "single"
        if kind == "cancel":
            booking_id = self.owned[user].pop(self.rng.randrange(len(self.owned[user])))
            status, _ = await self.send(connection, self.post(user, f"/bookings/{booking_id}/cancel/"), statuses)
            if status == 200:
                self.cancelled.add(booking_id)
                return kind, status, -1
            if status not in (404, 409):
                self.uncertain.add(booking_id)
            return kind, status, 0
        if kind == "hold":
            seats = self._adjacent(self.rng.randint(1, 2))
            status, payload = await self.send(
                connection, self.post(user, f"/shows/{self.plan.show_id}/hold/", seats), statuses
            )
            if status != 201:
                self._refused(status, payload)
                return kind, status, 0
            hold_id = orjson.loads(payload)["hold_id"]
            held = len(orjson.loads(seats)["seat_numbers"])
            status, payload = await self.send(connection, self.post(user, f"/holds/{hold_id}/confirm/"), statuses)
            if status == 201:
                self.keep(user, payload)
                return kind, status, held
            return kind, status, 0 if status == 409 else held  # an unconfirmed hold still holds its seats
        if kind == "best":
            body = b'{"count": %d}' % self.rng.randint(2, 3)
        elif kind == "multi":
            body = self._adjacent(self.rng.randint(2, 4))
        else:
            body = b'{"seat_number": %d}' % self.seat()
        status, payload = await self.send(connection, self.book_request(user, body), statuses)
        taken = self.keep(user, payload) if status == 201 else 0
        self._refused(status, payload)
        return kind, status, taken

    def _refused(self, status: int, payload: bytes) -> None:
        if status != 409:
            return
        if b'"seat_limit"' in payload:
            self.seat_limits += 1
        elif b'"sold_out"' in payload:
            self.sold_out()

    def _adjacent(self, count: int) -> bytes:
        first = min(self.seat(), max(1, self.plan.total_seats - count + 1))
        seats = range(first, min(self.plan.total_seats, first + count - 1) + 1)
        return b'{"seat_numbers": [%s]}' % ", ".join(map(str, seats)).encode()

    # -- recording -------------------------------------------------------------------------------------------

    async def timed(self, connection: KeepAliveConnection, intended: float, warmup: bool) -> None:
        if warmup:
            phase = "warmup"
            status, _ = await self.send(connection, self.seat_map_request, self.phase_statuses[phase])
            kind, taken = "", 0
        else:
            sold_out = self.shared.sold_out_at.value
            phase = "tail" if sold_out and intended >= sold_out else "rush"
            kind, status, taken = await self.act(connection, self.phase_statuses[phase])
            self.actions += 1
        answered = time.monotonic()
        micros = max(1, int((answered - intended) * 1_000_000))
        self.phase_hists[phase].record_value(min(micros, HIGHEST_US))
        self.phase_actions[phase] += 1
        if not warmup:
            self.kind_statuses[kind][status] += 1
            offset = answered - self.rush_start
            self.timeline.record(offset, micros)
            self.timeline.seats[self.timeline.bucket(offset)] += taken
            self.took(taken)
            self.last_answer = answered
            self.shared.done[self.plan.index] = self.actions

    async def closed_loop(self, connections: list[KeepAliveConnection], until: float, warmup: bool) -> None:
        limit = self.plan.requests

        async def worker(connection: KeepAliveConnection) -> None:
            while time.monotonic() < until and (warmup or not limit or self.issued < limit):
                await self.timed(connection, time.monotonic(), warmup)

        await asyncio.gather(*(worker(c) for c in connections))

    async def open_loop(
        self, connections: list[KeepAliveConnection], start: float, length: float, warmup: bool
    ) -> None:
        queue: asyncio.Queue[float | None] = asyncio.Queue(QUEUE_BOUND)

        async def worker(connection: KeepAliveConnection) -> None:
            while (intended := await queue.get()) is not None:
                await self.timed(connection, intended, warmup)

        async def dispatch() -> None:
            # each process takes every procs-th arrival of the whole schedule, so together they follow it
            plan = self.plan
            for offset in arrivals(plan.rate_from, plan.rate_to, length):
                intended = start + offset + plan.index / (plan.rate_from * plan.procs or plan.rate_to * plan.procs)
                delay = intended - time.monotonic()
                if delay > 0.001:
                    await asyncio.sleep(delay)
                await queue.put(intended)
            for _ in connections:
                await queue.put(None)

        await asyncio.gather(dispatch(), *(worker(c) for c in connections))

    async def run(self, start: float) -> None:
        plan = self.plan
        connections = [KeepAliveConnection(plan.base_url) for _ in range(plan.concurrency)]
        try:
            self.rush_start = start + plan.warmup
            if plan.warmup > 0:
                if plan.open_loop:
                    await self.open_loop(connections, start, plan.warmup, warmup=True)
                else:
                    await _sleep_until(start)
                    await self.closed_loop(connections, start + plan.warmup, warmup=True)
            if plan.open_loop:
                await self.open_loop(connections, self.rush_start, plan.duration, warmup=False)
            else:
                await _sleep_until(self.rush_start)
                await self.closed_loop(connections, self.rush_start + plan.duration, warmup=False)
        finally:
            for connection in connections:
                await connection.close()

    def export(self) -> dict[str, Any]:
        return {
            "index": self.plan.index,
            "rush_start": self.rush_start,
            "last_answer": self.last_answer,
            "phases": {
                phase: {
                    "hist": self.phase_hists[phase].encode(),
                    "statuses": dict(self.phase_statuses[phase]),
                    "actions": self.phase_actions[phase],
                }
                for phase in PHASES
            },
            "kinds": {kind: dict(counts) for kind, counts in self.kind_statuses.items() if counts},
            "timeline": self.timeline.export(),
            "booked": self.booked,
            "cancelled": sorted(self.cancelled),
            "uncertain": sorted(self.uncertain),
            "errors": dict(self.errors),
            "retried": self.retried,
            "seat_limit": self.seat_limits,
        }


async def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_load(plan: LoadPlan, shared: Shared, start: float) -> dict[str, Any]:
    """Run one process's share from `start` (time.monotonic(), the same clock in every process)."""
    load = Load(plan, shared)
    cpu, wall = cpu_seconds(), time.monotonic()
    await load.run(start)
    result = load.export()
    result["cpu_seconds"] = cpu_seconds() - cpu
    result["wall_seconds"] = time.monotonic() - max(wall, start)
    return result


def process_main(pipe: Connection, plan: LoadPlan, shared: Shared) -> None:
    """Entry point of a load process: say ready, wait for the common start time, run, send the result back."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    pipe.send("ready")
    start = pipe.recv()
    try:
        pipe.send(runner(run_load(plan, shared, start)))
    except BaseException as error:  # the parent prints it as one line
        pipe.send(RuntimeError(f"load process {plan.index}: {type(error).__name__}: {error}"))
    finally:
        pipe.close()
