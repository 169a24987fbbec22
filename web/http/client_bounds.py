"""Behind a trusted proxy, the per-source bound of the connection guard (web/http/serving.py) moves to requests:
the guard sees one peer, the proxy, for every customer, so it leaves that peer's connections to the global bound,
and here each customer may have as many requests in flight as a direct client may have connections."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from web.cluster.membership import SECRET_HEADER
from web.http.clients import client
from web.http.errors import Handler, unavailable

Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def per_client_requests(
    limit: int, refused: Callable[[str], None] | None = None, cluster_secret: str = ""
) -> Middleware:
    """Requests through a trusted proxy: at most `limit` in flight per client (a live stream is one for as long as
    it lasts), the bound CINEMA_MAX_CONNECTIONS_PER_SOURCE puts on a direct client's connections; one more is
    answered 503 `busy`. Requests from other peers pass untouched (the connection guard bounds those), and so do
    those of another node of the cluster (they hold the cluster secret), should its address be in a trusted range.
    """
    assert limit >= 1
    in_flight: dict[str, int] = {}
    secret = cluster_secret.encode()

    @web.middleware
    async def bound(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen = client(request)
        if not seen.proxied or (secret and _holds_secret(request, secret)):
            return await handler(request)
        held = in_flight.get(seen.address, 0)
        if held >= limit:
            if refused is not None:
                refused(seen.address)
            return unavailable("Too many requests at once from this address; try again shortly.")
        in_flight[seen.address] = held + 1
        try:
            return await handler(request)
        finally:
            left = in_flight.pop(seen.address) - 1
            if left:
                in_flight[seen.address] = left

    return bound


def _holds_secret(request: web.Request, secret: bytes) -> bool:
    offered = request.headers.get(SECRET_HEADER)
    # aiohttp keeps undecodable header bytes as surrogates: they go back to bytes as they came, never an error
    return offered is not None and hmac.compare_digest(offered.encode("utf-8", "surrogateescape"), secret)
