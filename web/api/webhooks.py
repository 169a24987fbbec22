"""Webhooks (admin): register a receiver, list and delete them, ping one, and see every delivery attempt."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from storage.webhooks import HookRow
from web import schemas
from web.context import SETTINGS
from web.hooks.delivery import DELIVERER
from web.hooks.signing import new_secret
from web.hooks.targets import TargetRefused, check_target
from web.http.body import load_body
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.schemas.webhooks import MAX_FEED_PAGE, query_int
from web.security.auth import require_admin

routes = web.RouteTableDef()
EXAMPLE = {"url": "https://crm.example.com/cinema-hook", "events": ["booking.created"], "description": "CRM"}


def hook_json(hook: HookRow) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": hook.url,
        "events": list(hook.events),
        "description": hook.description,
        "active": hook.active,
        "disabled_reason": hook.disabled_reason,
        "created_at": hook.created_at.isoformat(),
    }


@docs(
    tags=["webhooks"],
    summary="Register a receiver of events (admin); the answer holds its signing secret, shown this once",
    description="Each event is POSTed as JSON `{id, type, created_at, data}` with `Cinema-Event-Id` and "
    '`Cinema-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. Delivered at least once, in order '
    "per show, retried with back-off for CINEMA_WEBHOOK_RETRY_HOURS; a 410 answer disables the hook.",
)
@request_schema(schemas.WebhookRequest, example=EXAMPLE)
@response_schema(schemas.WebhookCreated, 201, description="Registered; events committed from now on are sent")
@errors({400: "Invalid input, or a target that may not be called (code webhook_target_refused)"})
@errors(401, 403)
@routes.post("/webhooks/")
async def create_webhook(request: web.Request) -> web.Response:
    await require_admin(request)
    data = await load_body(request, schemas.WebhookRequest)
    try:
        await check_target(data["url"], request.app[SETTINGS].webhook_allow_private)
    except TargetRefused as refused:
        raise fail("webhook_target_refused", f"This URL may not be called: {refused}.") from None
    events = list(dict.fromkeys(data["events"]))
    hook = await request.app[DELIVERER].store.create(data["url"], events, data["description"], new_secret())
    request.app[DELIVERER].poke()
    return json_response({**hook_json(hook), "secret": hook.secret}, status=201)


@docs(tags=["webhooks"], summary="The registered receivers (admin); secrets are not shown again")
@response_schema(schemas.Webhook(many=True), 200, description="The hooks, oldest first")
@errors(401, 403)
@routes.get("/webhooks/")
async def list_webhooks(request: web.Request) -> web.Response:
    await require_admin(request)
    return json_response([hook_json(h) for h in await request.app[DELIVERER].store.hooks()])


async def _hook(request: web.Request) -> HookRow:
    await require_admin(request)
    found = await request.app[DELIVERER].store.hooks(schemas.path_id(request))
    if not found:
        raise fail("unknown_webhook")
    return found[0]


@docs(tags=["webhooks"], summary="Delete a receiver (admin): nothing more is sent to it")
@response_schema(schemas.Webhook, 200, description="Deleted")
@errors(401, 403, {404: "No such webhook"})
@routes.delete(r"/webhooks/{id:\d+}/")
async def delete_webhook(request: web.Request) -> web.Response:
    hook = await _hook(request)
    if not await request.app[DELIVERER].store.delete(hook.id):
        raise fail("unknown_webhook")
    return json_response(hook_json(hook))


@docs(tags=["webhooks"], summary="Send a signed `webhook.test` event to the receiver now (admin)")
@response_schema(schemas.WebhookTested, 200, description="What the receiver answered (also in its deliveries)")
@errors(401, 403, {404: "No such webhook"})
@routes.post(r"/webhooks/{id:\d+}/test/")
async def test_webhook(request: web.Request) -> web.Response:
    hook = await _hook(request)
    attempt = await request.app[DELIVERER].ping(hook)
    status = attempt.status_code
    return json_response(
        {
            "delivered": status is not None and 200 <= status < 300,
            "status_code": status,
            "error": attempt.error,
            "duration_ms": round(attempt.duration_ms, 1),
        }
    )


@docs(tags=["webhooks"], summary="Every delivery attempt to a receiver, newest first (admin)")
@querystring_schema(schemas.DeliveriesQuery)
@response_schema(schemas.WebhookAttempt(many=True), 200, description="Attempts: event, time, answer or error")
@errors(401, 403, {400: "limit is not 1 to 1000", 404: "No such webhook"})
@routes.get(r"/webhooks/{id:\d+}/deliveries/")
async def webhook_deliveries(request: web.Request) -> web.Response:
    hook = await _hook(request)
    limit = query_int(request, "limit", 100, 1, MAX_FEED_PAGE)
    attempts = await request.app[DELIVERER].store.attempts(hook.id, limit)
    return json_response(
        [
            {
                "event_id": a.event_id,
                "attempt": a.attempt,
                "at": a.at.isoformat(),
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": round(a.duration_ms, 1),
            }
            for a in attempts
        ]
    )
