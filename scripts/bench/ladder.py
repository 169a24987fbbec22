"""Where the book path's cost goes, measured rung by rung from the bare handler to the whole book path, each
rung under the same wrk load in one run.

A profile attributes samples to frames and cannot say what a frame's removal would save; this ladder does: each
rung is the one before it plus one layer, all of them the service's real code, so the CPU a rung adds is what
that layer costs a request. The first rungs are the bare handler in an app of its own, with the service's HTTP
pieces added one at a time (`layers --port N --with middleware,observe,...`, always behind the connection
guard); the rest run in the service's own
process (`serve --port N`: what `cinema serve` runs, plus measuring routes under /ladder/ that answer as the
book path does and never commit anything).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import statistics
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

import uvloop
from aiohttp import web

from engine.actor import Booking
from engine.layout import ShowPlan
from engine.ports import ShowInfo
from scripts.bench import http_path as bench_http
from web import schemas
from web.api.bookings import booking_json
from web.context import ENGINE, REPOSITORY
from web.http import serving
from web.http.body import read_json_object
from web.http.errors import fail
from web.http.jsonio import JSONDecodeError, json_response, loads
from web.security.auth import authenticate
from web.security.idempotency import idempotent
from web.security.ticket_codes import TICKETS

# The bare handler's app, with the service's HTTP pieces added one at a time (each rung: all before it too).
LAYERS = (
    (
        "bare",
        "the bare handler of section 2 (scripts/bench/bare_server.py): parse the JSON body with orjson, answer 201",
    ),
    ("guard", "served as `cinema serve` serves (web/http/serving.py): the connection guard, JSON protocol errors"),
    ("middleware", "a middleware that only awaits the handler: what aiohttp's middleware chain costs by itself"),
    ("observe", "the `observe` middleware in its place: request id, request counter, booking latency"),
    ("errors", "the JSON error middleware"),
    ("signal", "the response signal that writes the X-Request-ID header"),
)
# In the service's process, beside the real route; each route is the one before it plus one layer.
ROUTES = (
    (
        "http",
        "/ladder/http",
        "the service's whole app (its routes, settings, start-up) around the same parse, answering a booking "
        "answer's bytes made at start-up",
    ),
    ("auth", "/ladder/auth", "the token check (`authenticate`, its cache hit) and the path's show id"),
    (
        "checks",
        "/ladder/checks",
        "the idempotency check and the body checks (`read_json_object`: content type, encoding, size, deadline; "
        "JSON object; `plain_seat_number`)",
    ),
    (
        "answer",
        "/ladder/answer",
        "the answer: a `Booking` made in memory, `booking_json` with its ticket code, `json_response`",
    ),
)
BOOK = ("book", "the show's actor, the journal and the durable commit before the 201: the whole book path")
RUNGS = (*LAYERS, *((name, what) for name, _, what in ROUTES), BOOK)
PIECES = tuple(name for name, _ in LAYERS[2:])  # what `layers --with` adds to the guarded bare handler


@dataclass(frozen=True)
class Rung:
    name: str
    what: str
    figures: list[bench_http.WrkFigure]

    @property
    def cpu(self) -> bench_http.Spread:
        return bench_http.Spread.of([f.cpu_us for f in self.figures])

    @property
    def loop_cpu(self) -> bench_http.Spread:
        return bench_http.Spread.of([f.loop_cpu_us for f in self.figures])

    @property
    def rate(self) -> bench_http.Spread:
        return bench_http.Spread.of([f.per_second for f in self.figures])


# The measuring routes, in the server process only; each is the one before it plus one layer.

_answer = b""  # a booking answer's bytes, made at start-up: a module global, as cheap to read as the bare handler's
_shows: dict[int, asyncio.Task[ShowInfo | None]] = {}
_ids = itertools.count(1)


async def http_rung(request: web.Request) -> web.Response:
    try:
        data = loads(await request.read())
    except JSONDecodeError:
        raise fail("invalid_json") from None
    return _answered(request, data)


async def auth_rung(request: web.Request) -> web.Response:
    await authenticate(request)
    schemas.path_id(request)
    return await http_rung(request)


async def checks_rung(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    schemas.path_id(request)

    async def run() -> web.Response:
        return _answered(request, await read_json_object(request))

    return await idempotent(request, principal.user_id, run)


async def answer_rung(request: web.Request) -> web.Response:
    """`web.api.bookings.book` with `engine.book` replaced by a booking made in memory."""
    principal = await authenticate(request)
    show_id = schemas.path_id(request)

    async def run() -> web.Response:
        seat = schemas.plain_seat_number(await read_json_object(request))
        if seat is None:
            raise fail("invalid_input")
        if show_id not in _shows:  # one lookup per show, however many requests wait for it
            _shows[show_id] = asyncio.create_task(request.app[REPOSITORY].show(show_id))
        show = await _shows[show_id]
        if show is None:
            raise fail("unknown_show")
        booking = Booking(next(_ids), show, principal.user_id, seat, "booked", datetime.now(UTC))
        plan = request.app[ENGINE].plan(show_id)
        return json_response(booking_json(booking, plan, request.app[TICKETS]), status=201)

    return await idempotent(request, principal.user_id, run)


def _answered(request: web.Request, data: object) -> web.Response:
    if not isinstance(data, dict) or schemas.plain_seat_number(data) is None:
        raise fail("invalid_input")
    return web.Response(body=_answer, status=201, content_type="application/json")


def _answer_bytes(app: web.Application) -> bytes:
    """A booking answer as the book path writes it, for the rungs that answer without making one."""
    show = ShowInfo(1, 1, "S0", datetime.now(UTC), 10_000)
    booking = Booking(1_000_000, show, 1, 1, "booked", datetime.now(UTC))
    return json_response(booking_json(booking, ShowPlan(), app[TICKETS])).body  # type: ignore[return-value]


def serve(port: int) -> int:
    """What `cinema serve` runs, plus the measuring routes."""
    global _answer
    from web.app import create_app
    from web.http.observability import configure_logging
    from web.http.serving import event_loop, tune_gc
    from web.settings import Settings

    configure_logging("WARNING")
    settings = Settings.from_env()
    app = create_app(settings)
    app.on_startup.append(tune_gc)
    _answer = _answer_bytes(app)
    for (_, prefix, _), handler in zip(ROUTES, (http_rung, auth_rung, checks_rung, answer_rung), strict=True):
        app.router.add_post(prefix + r"/shows/{id:\d+}/book/", handler)
    serving.run(app, settings, "127.0.0.1", port, event_loop())
    return 0


def serve_layers(port: int, layers: set[str]) -> int:
    """The bare handler (scripts/bench/bare_server.py) served as `cinema serve` serves (the connection guard), in an
    app with the named pieces of the service's HTTP layer."""
    from scripts.bench.bare_server import book
    from web.http.errors import Handler, error_middleware
    from web.http.observability import METRICS, Metrics, add_request_id, observer
    from web.settings import Settings

    async def passing(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await handler(request)

    metrics = Metrics()
    middlewares = (
        [observer(metrics) if "observe" in layers else web.middleware(passing)] if "middleware" in layers else []
    )
    app = web.Application(middlewares=[*middlewares, *([error_middleware] if "errors" in layers else [])])
    app[METRICS] = metrics
    if "signal" in layers:
        app.on_response_prepare.append(add_request_id)
    app.router.add_post(r"/shows/{id:\d+}/book/", book)
    serving.run(app, Settings.from_env(), "127.0.0.1", port, uvloop.new_event_loop())
    return 0


# The measuring side.


CONNECTIONS = 100


def run(seconds: int = 8, rounds: int = 5, connections: int = CONNECTIONS) -> list[Rung]:
    """`rounds` runs of every rung, the order rotating each round so that none always runs first."""
    shows = bench_http.shows_needed(seconds, rounds)
    with ExitStack() as stack:
        service = stack.enter_context(bench_http.service("book", shows, module="scripts.bench.ladder"))
        bare = stack.enter_context(bench_http.bare_handler("bare"))
        targets = [dataclasses.replace(bare, token=service.token, shows=service.shows)]
        for n, (name, _) in enumerate(LAYERS[1:]):
            pieces = ",".join(PIECES[:n]) or "none"
            layered = stack.enter_context(
                bench_http.bare_handler(name, "scripts.bench.ladder", "layers", "--with", pieces)
            )
            targets.append(dataclasses.replace(layered, token=service.token, shows=service.shows))
        for name, prefix, _ in ROUTES:
            targets.append(dataclasses.replace(service, label=name, prefix=prefix, used=0))
        for target in targets:
            bench_http.warm_up(target)
        targets.append(service)  # the book path books real seats: `service` keeps their count
        runs: list[list[bench_http.WrkFigure]] = [[] for _ in RUNGS]
        for n in range(rounds):
            for index in [*range(n % len(RUNGS), len(RUNGS)), *range(n % len(RUNGS))]:
                runs[index].append(bench_http.measure(targets[index], seconds, connections))
        return [Rung(name, what, figures) for (name, what), figures in zip(RUNGS, runs, strict=True)]


def section(rungs: list[Rung], seconds: int, connections: int, stamp: str) -> str:
    lines = [
        "## 2b. HTTP: the book path's CPU, layer by layer",
        "",
        stamp,
        "",
        f"wrk as in section 2 ({connections} connections, {seconds} s per run, {len(rungs[0].figures)} rounds, the",
        "rungs' order rotating each round). Each rung is the one above it plus one layer of the service's own code",
        f"(scripts/bench/ladder.py): the first {len(LAYERS)} are the bare handler's app with the service's HTTP pieces",
        "added one by one, each its own process; the rest run in the service's process, beside the real route. So",
        "what a rung adds is what that layer costs one request. CPU is user + system time of the server process per",
        "request, from /proc; the event loop's share is its main thread's, the rest is the journal's writer thread.",
        "",
        "| rung | what it adds | requests/s | CPU per request | of it, the loop thread | added by the rung "
        "| times bare |",
        "|---|---|---|---|---|---|---|",
    ]
    bare = rungs[0].cpu.median
    previous = None
    for rung in rungs:
        added = "" if previous is None else f"{rung.cpu.median - previous:+.0f} µs"
        lines.append(
            f"| {rung.name} | {rung.what} | {rung.rate.format(',.0f')} | {rung.cpu.format('.0f', ' µs')} | "
            f"{rung.loop_cpu.format('.0f', ' µs')} | {added} | {rung.cpu.median / bare:.2f} |"
        )
        previous = rung.cpu.median
    book = rungs[-1]
    writer = statistics.median(f.cpu_us - f.loop_cpu_us for f in book.figures)
    lines += [
        "",
        f"Of the book path's {book.cpu.median:.0f} µs, the journal's writer thread (SQLite inserts and the",
        f"fdatasync of each group commit, with the GIL released) spends {writer:.0f} µs: it runs beside the loop.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.ladder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("serve", help="the service with the measuring routes (for the benchmark)")
    server.add_argument("--port", type=int, required=True)
    layered = commands.add_parser("layers", help="the bare handler with pieces of the service's HTTP layer")
    layered.add_argument("--port", type=int, required=True)
    layered.add_argument("--with", dest="layers", default="none", help=f"comma-separated, of {', '.join(PIECES)}")
    bench = commands.add_parser("run", help="measure the rungs and print the figures")
    bench.add_argument("--seconds", type=int, default=8)
    bench.add_argument("--rounds", type=int, default=5)
    bench.add_argument("--connections", type=int, default=CONNECTIONS)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.port)
    if args.command == "layers":
        layers = set(args.layers.split(",")) - {"none"}
        if layers - set(PIECES):
            parser.error(f"--with: unknown {', '.join(sorted(layers - set(PIECES)))}; choose from {', '.join(PIECES)}")
        return serve_layers(args.port, layers)
    rungs = run(args.seconds, args.rounds, args.connections)
    print(section(rungs, args.seconds, args.connections, ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
