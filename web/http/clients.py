"""Who a request comes from, for every per-client limit."""

from __future__ import annotations

from aiohttp import web


def source_of(request: web.Request) -> str:
    """The client's address: what per-source limits count (a proxy in front would need X-Forwarded-For)."""
    return request.remote or "unknown"
