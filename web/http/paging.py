"""The one way a listing is paged: `?page=N` (1-based), `count`, absolute `next` / `previous` links, `results`.

/movies/ answered this way first (as the Django service did); every later listing uses the same helper, so a
client that pages one pages them all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

from web.http.clients import public_origin
from web.http.errors import fail
from web.schemas.common import MAX_ID, canonical_int

T = TypeVar("T")


def page_number(request: web.Request) -> int:
    """The 1-based `?page=`; like the Django service, a page that cannot exist is a 404."""
    raw = request.query.get("page")
    page = 1 if raw is None else canonical_int(raw, MAX_ID)
    if page is None or page < 1:
        raise fail("invalid_page")
    return page


def page_url(request: web.Request, public_url: str, page: int) -> str:
    """Absolute, as the Django service answered, but on the configured public URL or the address this server
    listens on: never the client's Host header, which would let anyone plant links in a cached page. Behind a
    trusted proxy, the scheme and host the proxy says its client used (X-Forwarded-Proto / X-Forwarded-Host)."""
    base = public_url or public_origin(request)
    if not base:
        host, port = request.transport.get_extra_info("sockname")[:2] if request.transport else ("localhost", 80)
        base = f"{request.scheme}://{f'[{host}]' if ':' in host else host}:{port}"
    return base + str(request.rel_url.update_query(page=page))


async def paged(
    request: web.Request,
    public_url: str,
    size: int,
    fetch: Callable[[int, int], Awaitable[tuple[int, Sequence[T]]]],
    render: Callable[[T], Any],
) -> dict[str, Any]:
    """`fetch(offset, limit)` -> (count, rows) for the requested page, answered as a page of `render(row)`s."""
    page = page_number(request)
    count, rows = await fetch((page - 1) * size, size)
    if page > 1 and not rows:
        raise fail("invalid_page")
    return {
        "count": count,
        "next": page_url(request, public_url, page + 1) if page * size < count else None,
        "previous": page_url(request, public_url, page - 1) if page > 1 else None,
        "results": [render(row) for row in rows],
    }
