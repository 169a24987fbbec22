"""What an operator sees: Prometheus metrics, health checks, and one JSON log line per request with its id."""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any

import orjson
from aiohttp import web
from aiohttp_apispec import docs, response_schema
from marshmallow import INCLUDE, Schema, fields
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from web.context import ENGINE, JOURNAL, REPOSITORY
from web.http.clients import client_of
from web.http.errors import Handler
from web.http.jsonio import json_response
from web.http.limit_refusals import LimitRefusals

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
BOOK_ROUTE = "/shows/{id}/book/"
BOOT_ID = uuid.uuid4().hex[:8]  # generated ids: this process's prefix and a counter, cheaper than a uuid each
REQUEST_NUMBERS = itertools.count(1)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BOOKING_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
HOT_SHOWS = 20  # mailbox depth is reported for the deepest shows only, to bound the label set

Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
access_log = logging.getLogger("cinema.access")
_plain_records = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    # Stamped when the line is logged, inside the request's context, not when it is formatted.
    record = _plain_records(*args, **kwargs)
    record.request_id = REQUEST_ID.get()
    return record


logging.setLogRecordFactory(_record_with_request_id)
routes = web.RouteTableDef()
TEXT = {"type": "string"}


class Status(Schema):
    class Meta:
        unknown = INCLUDE

    status = fields.String(required=True)
    database = fields.String()
    journal = fields.String()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Per request: a dict increment and a bucket increment on the loop thread, read at scrape time (also on
        # the loop). prometheus_client's labels().inc() and observe() took a lookup and a lock each: ~4 % of
        # the booking path's CPU.
        self.requests: dict[tuple[str, str, int], int] = {}
        self.booking_seconds = LoopHistogram(BOOKING_BUCKETS)
        self.registry.register(_RequestMetrics(self))
        self.limit_refusals = LimitRefusals()  # every refusal of a limit, by kind (and logged, throttled)
        self.registry.register(self.limit_refusals)
        self.batch_records = Histogram(
            "cinema_journal_batch_records",
            "Records per group-commit transaction",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "cinema_journal_commit_seconds",
            "Duration of one group-commit transaction",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
            registry=self.registry,
        )

    def count(self, method: str, route: str, status: int) -> None:
        key = (method if method in METHODS else "other", route, status)  # bounded: no label from the client
        self.requests[key] = self.requests.get(key, 0) + 1

    def observe_batch(self, records: int, seconds: float) -> None:
        self.batch_records.observe(records)
        self.commit_seconds.observe(seconds)

    def watch(self, app: web.Application) -> None:
        self.registry.register(_EngineGauges(app))


class LoopHistogram:
    """A histogram only the event loop writes: a bucket increment per observation, no lock."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        assert list(buckets) == sorted(buckets)
        self.bounds = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        les = [*map(str, self.bounds), "+Inf"]
        return list(zip(les, itertools.accumulate(self.counts), strict=True))


class _RequestMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "cinema_http_requests", "HTTP requests by route and status", labels=["method", "route", "status"]
        )
        for (method, route, status), count in sorted(self._metrics.requests.items()):
            requests.add_metric([method, route, str(status)], count)
        yield requests
        booking = self._metrics.booking_seconds
        histogram = HistogramMetricFamily(
            "cinema_booking_seconds", "Time to answer POST /shows/{id}/book/, commit included"
        )
        histogram.add_metric([], booking.cumulative(), booking.sum)
        yield histogram


class _EngineGauges:
    """Read at scrape time, so the hot path pays nothing for them."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        if ENGINE not in self._app:
            return
        engine, journal = self._app[ENGINE], self._app[JOURNAL]
        depth = GaugeMetricFamily("cinema_mailbox_depth", "Messages waiting in a show's mailbox", labels=["show"])
        deepest = sorted(engine.mailbox_depths().items(), key=lambda item: -item[1])[:HOT_SHOWS]
        for show_id, messages in deepest:
            depth.add_metric([str(show_id)], messages)
        yield depth
        yield GaugeMetricFamily("cinema_live_shows", "Show actors in memory", value=len(engine.mailbox_depths()))
        yield GaugeMetricFamily(
            "cinema_live_subscribers", "Open live-event subscriptions", value=sum(engine.subscriber_counts().values())
        )
        yield GaugeMetricFamily("cinema_journal_queue_depth", "Records waiting for a commit", value=journal.depth)


METRICS = web.AppKey("metrics", Metrics)


def observer(metrics: Metrics) -> Middleware:
    """The outermost middleware: request id, the request counter, booking latency and the access log line.

    Every request pays for it, so it does no more than it must (`cinema bench --only ladder`: the first version
    cost ~24 µs a request under wrk with aiohttp's middleware chain, over half the bare handler's whole cost;
    this one ~17 µs, 6 of them the chain's own). The metrics are bound here, not looked up in the app; route
    names are cached per route object (aiohttp's routes live as long as the app; the per-request system
    routes of 404s and 405s are never cached); the clock is read only for the booking histogram and the
    access log.
    """
    names: dict[web.AbstractRoute, str] = {}

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("X-Request-ID")
        request_id = header if header and SAFE_REQUEST_ID.match(header) else f"{BOOT_ID}{next(REQUEST_NUMBERS):08x}"
        # Not reset: aiohttp runs each request in a task of its own, whose context ends with it (aiohttp #3406),
        # and the answer's header is written from that context after this returns (add_request_id).
        REQUEST_ID.set(request_id)
        route = request.match_info.route
        name = names.get(route)
        if name is None:
            resource = route.resource
            name = "unmatched" if resource is None else resource.canonical
            if resource is not None:
                names[route] = name
        logged = access_log.isEnabledFor(logging.INFO)
        started = time.perf_counter() if logged or name == BOOK_ROUTE else 0.0
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            metrics.count(request.method, name, status)
            if started:
                seconds = time.perf_counter() - started
                if name == BOOK_ROUTE:
                    metrics.booking_seconds.observe(seconds)
                if logged:
                    access_log.info(
                        "request",
                        extra={
                            "fields": {
                                "method": request.method,
                                "route": name,
                                "status": status,
                                "ms": round(seconds * 1000, 2),
                                "remote": client_of(request),
                            }
                        },
                    )

    return observe


async def add_request_id(_: web.Request, response: web.StreamResponse) -> None:
    request_id = REQUEST_ID.get()
    if request_id != "-":  # every request through `observe`
        response.headers["X-Request-ID"] = request_id


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line; the request id ties a request's lines together."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: str, access_log_enabled: bool = False) -> None:
    """JSON lines on stderr. The per-request line is off unless asked for: on the booking path it cost about
    30 % of the requests/s (a formatted record and a write per request)."""
    handler = logging.StreamHandler()
    formatter = JsonLogFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    access_log.setLevel(logging.INFO if access_log_enabled else logging.WARNING)


@docs(
    tags=["operations"],
    summary="Prometheus metrics",
    security=[],
    responses={"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": TEXT}}}},
)
@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@docs(tags=["operations"], summary="Liveness: the process answers", security=[])
@response_schema(Status, 200, description="Alive")
@routes.get("/healthz")
async def healthz(_: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@docs(tags=["operations"], summary="Readiness: the database answers and the journal writer runs", security=[])
@response_schema(Status, 200, description="Ready")
@response_schema(Status, 503, description="Not ready; each check says why")
@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    checks = {"database": "ok", "journal": "ok"}
    try:
        await request.app[REPOSITORY].ping()
    except Exception as error:  # any failure to reach the database means not ready
        checks["database"] = f"unavailable: {type(error).__name__}"
    journal = request.app[JOURNAL]
    if not journal.healthy:
        checks["journal"] = f"unhealthy: {journal.stats.last_error or 'writer stopped'}"
    ready = all(value == "ok" for value in checks.values())
    return json_response({"status": "ready" if ready else "not ready", **checks}, status=200 if ready else 503)
