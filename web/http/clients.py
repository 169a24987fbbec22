"""The one place a request's client is derived: every per-client limit (sign-ups, logins, refreshes, waiting
password checks, open requests behind a proxy) and every log line counts `client_of(request)`.

Without CINEMA_TRUSTED_PROXIES that is the peer's address, as before, at the cost of a dictionary lookup. With it,
a request from a trusted proxy is counted under the client the proxy names (web/http/proxies.py), and, since the
connection guard then cannot tell that proxy's customers apart, the per-source bound moves from connections to
requests in flight per client (web/http/client_bounds.py).
"""

from __future__ import annotations

from aiohttp import hdrs, web

from web.http.proxies import Client, TrustedProxies, resolve

TRUSTED_PROXIES = web.AppKey("trusted_proxies", TrustedProxies)
CLIENT = web.RequestKey("client", Client)
UNKNOWN = "unknown"


def client(request: web.Request) -> Client:
    """Who sent `request`, derived once per request."""
    known = request.get(CLIENT)
    if known is not None:
        return known
    peer = request.remote or UNKNOWN
    proxies = request.app.get(TRUSTED_PROXIES)
    if proxies is None or not proxies.trusts(peer):
        found = Client(peer)
    else:
        headers = request.headers
        found = resolve(
            peer,
            proxies,
            forwarded=request.forwarded if hdrs.FORWARDED in headers else (),
            forwarded_for=headers.getall(hdrs.X_FORWARDED_FOR, ()),
            proto=headers.getall(hdrs.X_FORWARDED_PROTO, ()),
            host=headers.getall(hdrs.X_FORWARDED_HOST, ()),
        )
    request[CLIENT] = found
    return found


def client_of(request: web.Request) -> str:
    """The client's address: what per-client limits count."""
    return client(request).address


def public_origin(request: web.Request) -> str | None:
    """`scheme://host` as the client used it, when a trusted proxy says so (X-Forwarded-Proto and -Host, or the
    Forwarded header's proto and host); None otherwise (the Host header of a direct client is never used)."""
    seen = client(request)
    if not seen.proxied or seen.host is None:
        return None
    return f"{seen.scheme or request.scheme}://{seen.host}"
