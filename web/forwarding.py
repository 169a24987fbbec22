"""Forwarding in cluster mode: a command for a show that another node decides for is sent to that node's
internal relay route, and its answer is relayed unchanged (status, body bytes, and the headers a client acts
on). One hop at most: a relayed request that finds its show owned elsewhere again (the owner changed on the
way) is answered 503 with Retry-After, never forwarded a second time.

The engine says "not mine" by raising NotOwner before it changes anything; the middleware here turns that into
the forward. Ownership itself (leases per show) is decided elsewhere (see docs/CLUSTER.md).
"""

from __future__ import annotations

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from engine.errors import NotOwner
from web.cluster import INTERNAL_PREFIX, SECRET_HEADER, require_secret
from web.errors import Handler, unavailable
from web.observability import REQUEST_ID

RELAY_PREFIX = INTERNAL_PREFIX + "relay"
FORWARD_TIMEOUT_SECONDS = 10.0  # an owner that has not answered by then is treated as gone: 503, retry
MAX_FORWARD_CONNECTIONS = 512  # to all other nodes together
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # an answer larger than this from another node is refused (503)
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


class Forwarder:
    """One bounded client session to the other nodes, kept open (keep-alive) for the life of the node."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_FORWARD_CONNECTIONS),
            timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_SECONDS),
            auto_decompress=False,  # bodies pass through as the owner wrote them
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(
        self, owner_url: str, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> web.Response:
        """The owner's answer to the request, or a 503 when the owner cannot be reached in time."""
        assert self._session is not None, "Forwarder.start() first"
        outgoing = CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in NOT_FORWARDED)
        outgoing[SECRET_HEADER] = self._secret
        outgoing["X-Request-ID"] = REQUEST_ID.get()  # one id in the logs of both nodes
        url = URL(owner_url.rstrip("/") + RELAY_PREFIX + path_qs, encoded=True)
        try:
            async with self._session.request(
                method, url, headers=outgoing, data=body or None, allow_redirects=False
            ) as answer:
                if (answer.content_length or 0) > MAX_ANSWER_BYTES:
                    return unavailable("The node deciding for this show sent an oversized answer.")
                payload = await answer.content.read(MAX_ANSWER_BYTES + 1)
                if len(payload) > MAX_ANSWER_BYTES:
                    return unavailable("The node deciding for this show sent an oversized answer.")
                kept = {h: answer.headers[h] for h in RELAYED_ANSWER_HEADERS if h in answer.headers}
                return web.Response(status=answer.status, body=payload, headers=kept)
        except (aiohttp.ClientError, TimeoutError, OSError):
            return unavailable("The node deciding for this show did not answer; try again shortly.")

    async def forward(self, request: web.Request, owner_url: str) -> web.Response:
        body = await request.read()  # the raw bytes, already read (and cached) by the handler that was refused
        return await self.send(owner_url, request.method, request.raw_path, CIMultiDict(request.headers), body)


FORWARDER = web.AppKey("forwarder", Forwarder)


@web.middleware
async def forward_to_owner(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Innermost middleware: a NotOwner from the engine becomes the owner's answer."""
    try:
        return await handler(request)
    except NotOwner as elsewhere:
        forwarder = request.app.get(FORWARDER)
        if request.get(RELAYED) or forwarder is None:
            return unavailable("This show is changing owner; try again shortly.")
        return await forwarder.forward(request, elsewhere.owner_url)


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
