"""CORS: browser apps on the origins listed in CINEMA_CORS_ORIGINS (exact origins, default none) may call the API.

A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from a listed origin is answered 204 with
the methods and headers clients send and a max-age, whatever the path; every answer to a listed origin, errors
included (a 409, a 429, a 503 from a limit), carries `Access-Control-Allow-Origin` and exposes the headers clients
act on. Any other origin gets no allow header (its preflight meets the 405 it always did), so the browser blocks it.
Tokens travel in the Authorization header, never in cookies: credentials are not allowed.

A middleware and a response signal rather than aiohttp-cors: aiohttp-cors answers preflights 200 rather than 204,
adds its headers only to routes registered with it one by one (an OPTIONS route per resource, which collides with
the cluster's `*` relay route and misses routes added later, as aiohttp-apispec's), and this is all it would do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from aiohttp import hdrs, web
from yarl import URL

SETTING = "CINEMA_CORS_ORIGINS"
ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
EXPOSE_HEADERS = "Retry-After, X-Request-ID, Idempotent-Replayed, Location"
MAX_AGE_SECONDS = 600  # browsers cache a preflight this long (Chromium caps it at 7200)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
Signal = Callable[[web.Request, web.StreamResponse], Awaitable[None]]


def parse(entries: Iterable[str]) -> tuple[str, ...]:
    """CINEMA_CORS_ORIGINS' items as browsers send them (`https://app.example`, `http://localhost:3000`); a
    ValueError names one that is not an origin (a path, a wildcard, a missing scheme)."""
    origins = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            url = URL(entry)
        except ValueError:
            url = None
        if (
            url is None
            or url.scheme not in ("http", "https")
            or not url.host
            or url.raw_path not in ("", "/")
            or url.query_string
            or url.fragment
            or url.user
        ):
            raise ValueError(f"{SETTING}: {entry!r} is not an origin (scheme://host[:port], no path; no wildcards)")
        origins.append(str(url.origin()))  # lower-case host, no default port, [v6]: as browsers send it
    return tuple(origins)


def preflight_headers(origin: str) -> dict[str, str]:
    return {
        hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin,
        hdrs.ACCESS_CONTROL_ALLOW_METHODS: ALLOW_METHODS,
        hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOW_HEADERS,
        hdrs.ACCESS_CONTROL_MAX_AGE: str(MAX_AGE_SECONDS),
        hdrs.VARY: "Origin",
    }


def preflights(origins: Iterable[str]) -> Middleware:
    """Answers the preflights of listed origins (204) before routing; anything else goes on as it would."""
    allowed = frozenset(origins)

    @web.middleware
    async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == hdrs.METH_OPTIONS:
            origin = request.headers.get(hdrs.ORIGIN)
            if origin in allowed and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
                return web.Response(status=204, headers=preflight_headers(origin))
        return await handler(request)

    return preflight


def allow_headers(origins: Iterable[str]) -> Signal:
    """An on_response_prepare hook: every answer (error answers too) says which origin may read it."""
    allowed = frozenset(origins)

    async def add(request: web.Request, response: web.StreamResponse) -> None:
        vary = response.headers.get(hdrs.VARY)
        if vary is None:
            response.headers[hdrs.VARY] = "Origin"
        elif "origin" not in vary.lower() and vary.strip() != "*":
            response.headers[hdrs.VARY] = f"{vary}, Origin"
        origin = request.headers.get(hdrs.ORIGIN)
        if origin in allowed:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSE_HEADERS

    return add
