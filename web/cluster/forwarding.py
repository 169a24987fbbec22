"""Forwarding in cluster mode: a command for a show that another node decides for is sent to that node's
internal relay route, and its answer is relayed unchanged (status, body bytes, and the headers a client acts
on). One hop at most: a relayed request that finds its show owned elsewhere again (the owner changed on the
way) is answered 503 with Retry-After, never forwarded a second time.

The engine says "not mine" by raising NotOwner before it changes anything; the middleware here turns that into
the forward. Ownership itself (leases per show) is decided elsewhere (see docs/CLUSTER.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from engine.errors import NotOwner, ShowMoving
from web.cluster.membership import INTERNAL_PREFIX, SECRET_HEADER, require_secret
from web.context import ENGINE
from web.http.errors import Handler, unavailable
from web.http.observability import REQUEST_ID

RELAY_PREFIX = INTERNAL_PREFIX + "relay"
# An owner that has not answered within a lease and a second is treated as gone (503; the next request asks
# the database, where its lease runs out unless it is alive and renewing it); never less than two seconds.
MIN_FORWARD_TIMEOUT_SECONDS = 2.0
MAX_FORWARD_CONNECTIONS = 512  # to all other nodes together
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # an answer larger than this from another node is refused (503)
# Live-event streams of shows decided elsewhere: one connection to the owner per show (shared by every watcher
# here, web/cluster/relays.py), on their own connector so that they never take the connections commands are
# forwarded on.
MAX_RELAYED_STREAMS = 1_000
STREAM_SILENCE_SECONDS = 40.0  # an owner writes a keep-alive every 15 s: silence this long means it is gone
# Not passed on: hop-by-hop headers (RFC 9110 7.6.1), those the client library sets itself, and the secret.
NOT_FORWARDED = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
        SECRET_HEADER,
        "X-Request-ID",
    )
)
# What comes back besides status and body: what clients read from an answer of this API.
RELAYED_ANSWER_HEADERS = (
    "Content-Type",
    "Content-Encoding",
    "Retry-After",
    "WWW-Authenticate",
    "Idempotent-Replayed",
    "Location",
)
RELAYED = web.RequestKey("relayed", bool)


class OwnerUnreachable(Exception):
    """No connection to the owner could be opened: the request was not sent."""


class OwnerSilent(Exception):
    """The owner did not answer in time (or the connection broke): it may or may not have decided."""


class StreamsFull(Exception):
    """This node already follows MAX_RELAYED_STREAMS shows of other nodes."""


class Forwarder:
    """One bounded client session to the other nodes, kept open (keep-alive) for the life of the node."""

    def __init__(self, secret: str, lease_seconds: float) -> None:
        self._secret = secret
        self._timeout = max(MIN_FORWARD_TIMEOUT_SECONDS, lease_seconds + 1.0)
        self._session: aiohttp.ClientSession | None = None
        self._streams: aiohttp.ClientSession | None = None
        self._open: set[aiohttp.ClientResponse] = set()  # relayed streams under way
        self.relayed_streams = 0

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_FORWARD_CONNECTIONS),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            auto_decompress=False,  # bodies pass through as the owner wrote them
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )
        self._streams = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_RELAYED_STREAMS, force_close=True),
            timeout=aiohttp.ClientTimeout(total=None, connect=self._timeout, sock_read=STREAM_SILENCE_SECONDS),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            read_bufsize=MAX_ANSWER_BYTES,  # one SSE line (a big show's seat map) must fit
        )

    async def end_streams(self) -> None:
        """Shutdown: relayed streams end (their readers see the connections close; closing the session alone
        leaves a read under way waiting)."""
        for answer in list(self._open):
            answer.close()
        if self._streams is not None:
            await self._streams.close()

    async def close(self) -> None:
        await self.end_streams()
        if self._session is not None:
            await self._session.close()

    @contextlib.asynccontextmanager
    async def stream(self, owner_url: str, path_qs: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """An SSE stream of the owner's (its response; status other than 200: an answer to relay as it is)."""
        assert self._streams is not None, "Forwarder.start() first"
        if self.relayed_streams >= MAX_RELAYED_STREAMS:
            raise StreamsFull()
        self.relayed_streams += 1
        headers = {SECRET_HEADER: self._secret, "X-Request-ID": REQUEST_ID.get(), "Accept": "text/event-stream"}
        try:
            with _reaching(owner_url):
                answer = await self._streams.get(_relay_url(owner_url, path_qs), headers=headers, allow_redirects=False)
            self._open.add(answer)
            try:
                yield answer
            finally:
                self._open.discard(answer)
                answer.close()
        finally:
            self.relayed_streams -= 1

    async def send(
        self, owner_url: str, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> web.Response:
        """The owner's answer. OwnerUnreachable when no connection could be opened (nothing was sent),
        OwnerSilent when it did not answer in time."""
        assert self._session is not None, "Forwarder.start() first"
        outgoing = CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in NOT_FORWARDED)
        outgoing[SECRET_HEADER] = self._secret
        outgoing["X-Request-ID"] = REQUEST_ID.get()  # one id in the logs of both nodes
        url = _relay_url(owner_url, path_qs)
        with _reaching(owner_url):
            async with self._session.request(
                method, url, headers=outgoing, data=body or None, allow_redirects=False
            ) as answer:
                return await relayed_answer(answer, owner_url)

    async def forward(self, request: web.Request, owner_url: str) -> web.Response:
        body = await request.read()  # the raw bytes, already read (and cached) by the handler that was refused
        return await self.send(owner_url, request.method, request.raw_path, CIMultiDict(request.headers), body)


FORWARDER = web.AppKey("forwarder", Forwarder)


def _relay_url(owner_url: str, path_qs: str) -> URL:
    return URL(owner_url.rstrip("/") + RELAY_PREFIX + path_qs, encoded=True)


@contextlib.contextmanager
def _reaching(owner_url: str) -> Iterator[None]:
    """The client library's errors as what they mean to the caller: nothing was sent (OwnerUnreachable), or
    the owner may have decided (OwnerSilent: only the client may retry)."""
    try:
        yield
    except aiohttp.ClientConnectorError as error:
        raise OwnerUnreachable(owner_url) from error
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise OwnerSilent(owner_url) from error


async def relayed_answer(answer: aiohttp.ClientResponse, owner_url: str) -> web.Response:
    """An owner's answer as this node gives it: its status, its body bytes (503 when oversized) and the headers
    clients act on."""
    with _reaching(owner_url):
        if (answer.content_length or 0) > MAX_ANSWER_BYTES:
            return unavailable("The node deciding for this show sent an oversized answer.")
        payload = await answer.content.read(MAX_ANSWER_BYTES + 1)
    if len(payload) > MAX_ANSWER_BYTES:
        return unavailable("The node deciding for this show sent an oversized answer.")
    kept = {h: answer.headers[h] for h in RELAYED_ANSWER_HEADERS if h in answer.headers}
    return web.Response(status=answer.status, body=payload, headers=kept)


@web.middleware
async def forward_to_owner(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Innermost middleware: a NotOwner from the engine becomes the owner's answer."""
    try:
        return await handler(request)
    except ShowMoving as moving:
        return unavailable("This show is moving to another node; try again shortly.", moving.retry_after)
    except NotOwner as elsewhere:
        forwarder = request.app.get(FORWARDER)
        if request.get(RELAYED) or forwarder is None or request.path.endswith("/events"):
            # Never a second hop. A live stream relays itself (web/api/events.py); this NotOwner came after that.
            return unavailable("This show is changing owner; try again shortly.")
        try:
            return await forwarder.forward(request, elsewhere.owner_url)
        except OwnerUnreachable:  # nothing reached it, so asking again cannot do anything twice
            request.app[ENGINE].forget_owner(elsewhere.show_id)
        except OwnerSilent:  # it may have decided: only the client may retry (an Idempotency-Key makes it safe)
            request.app[ENGINE].forget_owner(elsewhere.show_id)
            return unavailable("The node deciding for this show did not answer in time; try again shortly.")
    try:  # the database says who owns the show now (maybe this node, when the owner gave it up)
        return await handler(request)
    except ShowMoving as moving:
        return unavailable("This show is moving to another node; try again shortly.", moving.retry_after)
    except NotOwner:
        return unavailable("The node deciding for this show does not answer; try again shortly.")


routes = web.RouteTableDef()


@routes.route("*", RELAY_PREFIX + "/{tail:.*}")
async def relay(request: web.Request) -> web.StreamResponse:
    """A request another node forwarded: handled as if it had arrived here, but never forwarded again."""
    require_secret(request)
    target = request.raw_path[len(RELAY_PREFIX) :]  # path and query exactly as the first node received them
    if target.startswith(INTERNAL_PREFIX):
        raise web.HTTPNotFound()
    inner = request.clone(rel_url=URL(target, encoded=True))
    inner[RELAYED] = True
    match = await request.app.router.resolve(inner)
    if match.http_exception is not None:
        raise match.http_exception
    # What aiohttp's Application._handle does for a request it routes itself; the middlewares already ran
    # around this outer request (errors, the request id, and the no-second-forward rule through RELAYED).
    match.add_app(request.app)
    match.freeze()
    inner._match_info = match  # aiohttp offers no public way to route a cloned request
    request[RELAYED] = True
    return await match.handler(inner)
