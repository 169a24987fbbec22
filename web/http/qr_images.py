"""Ticket QR images, rendered once per code off the event loop and kept in a bounded LRU.

segno takes ~2 ms of CPU per image; on the event loop 200 connections asking for QR images took the booking
p99 from 6 ms to 4 s. An image depends on nothing but its code, so it is rendered once, on one worker thread
(a bounded queue in front: more renders waiting than `max_waiting` answer 503), and answered from memory with
a strong ETag afterwards (or 304 to a client that has it).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import segno
from aiohttp import web

from engine.errors import Busy
from web.security.ratelimit import RateLimiter

FORMATS = {"svg": (4, "image/svg+xml"), "png": (6, "image/png")}


@dataclass(frozen=True, slots=True)
class Image:
    body: bytes
    content_type: str
    etag: str  # quoted, strong


def render(code: str, kind: str) -> Image:
    scale, content_type = FORMATS[kind]
    out = io.BytesIO()
    segno.make(code, error="m").save(out, kind=kind, scale=scale, border=2)
    body = out.getvalue()
    return Image(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


class QrImages:
    def __init__(self, max_entries: int = 10_000, max_waiting: int = 64) -> None:
        self._max_entries = max_entries
        self._max_waiting = max_waiting
        self._cache: OrderedDict[tuple[str, str], Image] = OrderedDict()
        self._rendering: dict[tuple[str, str], asyncio.Future[Image]] = {}  # one render per key at a time
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qr")
        self.renders = 0

    async def image(self, code: str, kind: str) -> Image:
        key = (code, kind)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        pending = self._rendering.get(key)
        if pending is None:
            if len(self._rendering) >= self._max_waiting:
                raise Busy("the QR render queue", 1)
            pending = asyncio.get_running_loop().run_in_executor(self._pool, render, code, kind)
            self._rendering[key] = pending
            try:
                image = await pending
            finally:
                del self._rendering[key]
            self.renders += 1
            self._cache[key] = image
            if len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
            return image
        return await asyncio.shield(pending)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


QR_IMAGES = web.AppKey("qr_images", QrImages)
QR_LIMIT = web.AppKey("qr_limit", RateLimiter)  # per client address (CINEMA_QR_IMAGES_PER_ADDRESS a minute)
