"""Idempotency-Key: a retried book, hold, confirm or cancel answers what the first attempt answered.

The first request with a key claims it (a row keyed by user and key); it runs, and its answer is stored with
it. A retry with the same key and the same request gets that answer, also after a restart, for 24 hours; with
a different request, 422. Retries that arrive while the first is still running wait for its answer. When the
first attempt changed nothing (a 503), the claim is dropped so that a retry really runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from web.context import REPOSITORY
from web.http.body import read_body
from web.http.errors import ApiError, fail

HEADER = "Idempotency-Key"
KEEP_SECONDS = 24 * 3600
PARAMETER = {  # for the OpenAPI document of every route that calls `idempotent`
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Retry safely: a repeat with the same key and body answers what the first answered (24 h)",
}
WAIT_SECONDS = 10.0  # how long a retry waits for the first attempt's answer
POLL_SECONDS = 0.02


async def idempotent(request: web.Request, user_id: int, run: Callable[[], Awaitable[web.Response]]) -> web.Response:
    key = request.headers.get(HEADER)
    if key is None:
        return await run()
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise fail("invalid_idempotency_key")
    digest = hashlib.sha256(
        request.method.encode() + b" " + request.path.encode() + b"\n" + await read_body(request)
    ).hexdigest()
    repository = request.app[REPOSITORY]
    existing = await repository.claim_idempotency_key(user_id, key, digest, time.time() - KEEP_SECONDS)
    if existing is not None:
        if existing.request_hash != digest:
            raise fail("idempotency_key_reused")
        deadline = time.monotonic() + WAIT_SECONDS
        while existing is not None and existing.status_code is None and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            existing = await repository.idempotency_entry(user_id, key)
        if existing is None:  # the first attempt changed nothing and let go of the key: run this one
            return await idempotent(request, user_id, run)
        if existing.status_code is None:
            raise fail("in_progress")
        return web.Response(
            body=existing.body,
            status=existing.status_code,
            content_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    try:
        response = await run()
    except ApiError as error:  # a refusal is an answer too: a retry gets the same one
        response = error.response
    except BaseException:  # 503s, a missing show, cancellation: nothing was changed, so let a retry run
        await repository.forget_idempotency_key(user_id, key)
        raise
    assert isinstance(response.body, bytes)
    await repository.finish_idempotency_key(user_id, key, response.status, response.body.decode())
    return response
