"""Running the app on a socket with bounds a hostile client cannot stretch.

* A connection that has not sent a complete request line and headers within `header_timeout_seconds` is closed,
  whether it trickles one header line every few seconds or sits idle between keep-alive requests. This is
  aiohttp's keep-alive timer, which runs from the moment a connection opens and is cancelled only once a whole
  request has arrived; it costs nothing per request. Bodies have their own deadline (web/http/body.py).
* At most `max_connections` connections are served (never more than the process's file descriptors allow),
  and at most `max_connections_per_source` from one client address; one more gets an immediate JSON 503 and
  is closed, so a flood of idle sockets from one place cannot take the descriptors real customers need.
* Malformed HTTP (a bad Content-Length, an oversized header, an unknown Content-Encoding) is answered as JSON
  like every other error, and logged as one INFO line rather than an ERROR with a traceback: it is the client's
  fault, and a flood of it must not fill the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import os
import resource
import socket
from collections.abc import Callable
from typing import Any, cast

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from web.cluster.membership import SECRET_HEADER
from web.http.limit_refusals import LimitRefusals
from web.http.observability import METRICS
from web.http.proxies import TrustedProxies
from web.settings import Settings

log = logging.getLogger(__name__)

DESCRIPTORS_KEPT = 256  # for the database pool, the journal, log files and the listening sockets
REFUSAL_LINGER_SECONDS = 1.0  # a refused client gets this long to read the 503 before the socket closes
# Cluster mode: a connection over its source's bound may show within this long, in this many bytes, that it comes
# from another node (its first request holds the cluster secret); a node sends its request as it connects.
PROBE_SECONDS = 2.0
PROBE_MAX_BYTES = 16 * 1024
PROBES_PER_SOURCE = 64
SECRET_HEADER_BYTES = SECRET_HEADER.lower().encode()
_REFUSAL_BODY = orjson.dumps({"detail": "Too many connections; try again shortly.", "code": "busy"})
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_REFUSAL_BODY), _REFUSAL_BODY)
)


def connection_limit(wanted: int) -> int:
    """`wanted`, but never more than the file descriptors left after the process's own needs."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - DESCRIPTORS_KEPT))


class _JsonErrors(RequestHandler):
    """aiohttp's connection handler, answering protocol-level errors as JSON without a traceback in the log."""

    __slots__ = ()

    def handle_error(
        self, request: Any, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        log.info("malformed request from %s: %s", request.remote, str(exc or message or status).splitlines()[0])
        if request.writer.output_size > 0:  # as aiohttp does: an answer has begun, the connection is lost
            raise ConnectionError("Response is sent already")
        detail = (getattr(exc, "message", None) or message or "Malformed HTTP request.").splitlines()[0][:200]
        response = web.Response(
            status=status,
            body=orjson.dumps({"detail": detail, "code": "malformed_request"}),
            content_type="application/json",
        )
        response.force_close()
        return response


def _drop(_: bytes) -> None:
    pass


def _holds_secret(head: bytes, secret: bytes) -> bool:
    """Whether a request head (request line and headers) carries the cluster secret header, compared in constant
    time; read from the bytes themselves, before aiohttp has parsed anything."""
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() == SECRET_HEADER_BYTES:
            return hmac.compare_digest(value.strip(), secret)
    return False


class _Guarded(asyncio.Protocol):
    """One connection: aiohttp's handler behind the guard's bounds, or a 503 when a bound is reached.

    uvloop looks up `data_received` once, before `connection_made`: it forwards to whatever `_receive` is then.
    """

    def __init__(self, guard: ConnectionGuard, handler: RequestHandler) -> None:
        self._guard = guard
        self._handler = handler
        self._transport: asyncio.Transport | None = None
        self._source = "unknown"
        self._state = "new"  # served (counted per source or not), probing (cluster peer?), refused
        self._counted: str | None = None  # the source this connection is counted under, when it is
        self._head = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._receive: Callable[[bytes], None] = _drop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self._transport = transport
        peer = transport.get_extra_info("peername")
        source = self._source = str(peer[0]) if peer else "unknown"
        guard = self._guard
        if guard.trusted.trusts(source):  # a trusted proxy: its customers' requests are bounded per client instead
            if guard.admit_uncapped():
                self._serve(None)
                return
        elif guard.admit(source):
            self._serve(source)
            return
        elif guard.may_probe(source):
            # Cluster mode, over the per-source bound: a node of the cluster (it holds the secret) is exempt.
            guard.start_probe(source)
            self._state = "probing"
            self._receive = self._probe
            self._timer = asyncio.get_running_loop().call_later(PROBE_SECONDS, self._probe_failed)
            return
        self._refuse("connections" if guard.open >= guard.limit else "connections_per_source")

    def _serve(self, counted: str | None) -> None:
        assert self._transport is not None
        self._state = "served"
        self._counted = counted
        self._receive = self._handler.data_received
        self._handler.connection_made(self._transport)

    def _probe(self, data: bytes) -> None:
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > PROBE_MAX_BYTES:
                self._probe_failed()
            return
        secret = self._guard.cluster_secret.encode()
        if not _holds_secret(bytes(self._head[:end]), secret):
            self._probe_failed()
            return
        self._end_probe()
        self._guard.open += 1  # served now: counted in all, never per source
        head, self._head = bytes(self._head), bytearray()
        self._serve(None)
        self._handler.data_received(head)

    def _end_probe(self) -> None:
        self._guard.end_probe(self._source)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _probe_failed(self) -> None:
        if self._state != "probing":
            return
        self._end_probe()
        self._refuse("connections_per_source")

    def _refuse(self, kind: str) -> None:
        """Answer at once, let the client read it for a moment, then close; its bytes are dropped."""
        transport = self._transport
        assert transport is not None
        self._state = "refused"
        if self._guard.refusals is not None:
            self._guard.refusals.note(kind, self._source)
        self._receive = _drop
        self._guard.refusing += 1
        transport.write(REFUSAL)
        if self._guard.refusing > self._guard.limit // 4 + 1:  # refusals pile up too: do not linger
            transport.abort()
            return
        with contextlib.suppress(Exception):
            transport.write_eof()
        self._timer = asyncio.get_running_loop().call_later(REFUSAL_LINGER_SECONDS, transport.close)

    def data_received(self, data: bytes) -> None:
        self._receive(data)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received() if self._state == "served" else False  # else: close now

    def pause_writing(self) -> None:
        if self._state == "served":
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._state == "served":
            self._handler.resume_writing()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._state == "served":
            self._guard.release(self._counted)
            self._handler.connection_lost(exc)
            return
        if self._state == "probing":
            self._end_probe()
            return
        if self._state == "refused":
            self._guard.refusing -= 1
            self._guard.refused += 1
        if self._timer is not None:
            self._timer.cancel()


class ConnectionGuard:
    """The protocol factory handed to the event loop: aiohttp's own, behind bounds on open connections, in all
    and per client address (so that one address cannot take every slot).

    Two kinds of peer are held to the bound in all only. A trusted proxy (CINEMA_TRUSTED_PROXIES) carries many
    customers on its connections; their requests are bounded per client instead (web/http/client_bounds.py).
    A node of the same cluster relays and forwards for all of its own customers: in cluster mode a connection over
    its source's bound is kept on probation for a moment, and served if its first request holds the cluster
    secret (else refused as before); at most PROBES_PER_SOURCE of a source are on probation at once.
    """

    def __init__(
        self,
        server: web.Server,
        limit: int,
        per_source: int,
        trusted: TrustedProxies | None = None,
        cluster_secret: str = "",
        refusals: LimitRefusals | None = None,
    ) -> None:
        assert limit >= 1 and per_source >= 1
        self._server = server
        self.limit = limit
        self.per_source = per_source
        self.trusted = trusted or TrustedProxies()
        self.cluster_secret = cluster_secret
        self.refusals = refusals  # counted in /metrics and logged (throttled)
        self.open = 0  # served and on probation: each holds a descriptor
        self.by_source: dict[str, int] = {}
        self.probing: dict[str, int] = {}
        self.refusing = 0
        self.refused = 0

    def admit(self, source: str) -> bool:
        held = self.by_source.get(source, 0)
        if self.open >= self.limit or held >= self.per_source:
            return False
        self.open += 1
        self.by_source[source] = held + 1
        return True

    def admit_uncapped(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def may_probe(self, source: str) -> bool:
        return bool(self.cluster_secret) and self.open < self.limit and self.probing.get(source, 0) < PROBES_PER_SOURCE

    def start_probe(self, source: str) -> None:
        self.open += 1
        self.probing[source] = self.probing.get(source, 0) + 1

    def end_probe(self, source: str) -> None:
        self.open -= 1
        left = self.probing.pop(source) - 1
        if left:
            self.probing[source] = left
        assert self.open >= 0 and left >= 0

    def release(self, source: str | None) -> None:
        self.open -= 1
        if source is not None:
            held = self.by_source.pop(source) - 1
            if held:
                self.by_source[source] = held
            assert held >= 0
        assert self.open >= 0

    def __call__(self) -> asyncio.Protocol:
        handler = self._server()
        # The same object with JSON error pages: aiohttp offers no hook to choose the handler class, and the
        # subclass adds no state, so swapping the class is safe (tests/test_hostile_connections.py sees it work).
        handler.__class__ = _JsonErrors
        return _Guarded(self, handler)


async def _serve(
    app: web.Application,
    settings: Settings,
    host: str,
    port: int,
    private: socket.socket | None,
    announce: Callable[[], None] | None,
) -> None:
    runner = web.AppRunner(
        app,
        handle_signals=True,
        access_log=None,
        keepalive_timeout=settings.header_timeout_seconds,
        shutdown_timeout=60.0,
    )
    await runner.setup()
    listener: asyncio.Server | None = None
    own: asyncio.Server | None = None
    try:
        limit = connection_limit(settings.max_connections)
        guard = ConnectionGuard(
            runner.server,
            limit,
            min(limit, settings.max_connections_per_source),
            TrustedProxies.of(settings.trusted_proxies),
            settings.cluster_secret,
            app[METRICS].limit_refusals,
        )
        loop = asyncio.get_running_loop()
        # A worker of `cinema serve --workers N` (web/cluster/workers.py) shares the port with its siblings, and has a
        # private listener of its own for the forwards of the other nodes.
        worker = private is not None
        listener = await loop.create_server(guard, host, port, backlog=1024, reuse_address=True, reuse_port=worker)
        if private is not None:
            own = await loop.create_server(guard, sock=private, backlog=1024)
        if announce is not None:  # bound and started: only now is "serving on ..." true
            announce()
        await asyncio.Event().wait()  # until cancelled by a signal
    finally:
        if listener is not None:
            listener.close()  # stop accepting; aiohttp then drains the open connections
        if own is not None:
            own.close()
        await runner.cleanup()


def run(
    app: web.Application,
    settings: Settings,
    host: str,
    port: int,
    loop: asyncio.AbstractEventLoop,
    private: socket.socket | None = None,
    announce: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down in the app's order (see web/app.py), like web.run_app;
    `announce` is called once the socket is bound."""
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(app, settings, host, port, private, announce))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        if not main.done():
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def tune_gc(_: web.Application) -> None:
    """Full collections walked every long-lived object and stalled the loop for ~45 ms, fifteen times in
    eight seconds of rush: that was the booking p99. Objects alive after start-up are frozen out of
    collection, and the young generation is collected less often."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (the default install has it), unless CINEMA_EVENT_LOOP=asyncio."""
    if os.environ.get("CINEMA_EVENT_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()
