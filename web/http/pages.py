"""Links between the pages of a paginated list (GET /movies/, GET /orders/), as the Django service gave them."""

from __future__ import annotations

from aiohttp import web

from web.context import SETTINGS


def page_url(request: web.Request, page: int) -> str:
    """Absolute, as the Django service answered, but on the configured public URL or the address this server
    listens on: never the client's Host header, which would let anyone plant links in a cached page."""
    base = request.app[SETTINGS].public_url
    if not base:
        host, port = request.transport.get_extra_info("sockname")[:2] if request.transport else ("localhost", 80)
        base = f"{request.scheme}://{f'[{host}]' if ':' in host else host}:{port}"
    return base + str(request.rel_url.update_query(page=page))
