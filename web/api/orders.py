"""Orders: the seats booked together (one multi-seat booking or one confirmed hold; a single seat is an order
of one), with their tickets and total. Cancelling an order cancels all its live seats at once, or none."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, response_schema

from engine.seats import Outcome
from web import schemas
from web.context import ENGINE, REPOSITORY
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.http.refusals import refuse_in
from web.schemas.order_views import order_json
from web.security.auth import authenticate
from web.security.idempotency import PARAMETER as IDEMPOTENCY_KEY
from web.security.idempotency import idempotent
from web.security.ticket_codes import TICKETS

routes = web.RouteTableDef()


@docs(
    tags=["orders"],
    summary="One of your orders (staff: any order): its seats, tickets, total, channel and status",
)
@response_schema(schemas.Order, 200, description="The order")
@errors(401, {404: "No such order, or not yours"})
@routes.get(r"/orders/{id:\d+}/")
async def get_order(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    owner = None if principal.is_staff else principal.user_id  # staff look orders up at the counter
    found = await request.app[REPOSITORY].orders(user_id=owner, order_id=schemas.path_id(request))
    if not found:
        raise fail("unknown_order")
    return json_response(order_json(found[0], request.app[TICKETS]))


@docs(tags=["orders"], summary="Your orders, newest first")
@response_schema(schemas.Order(many=True), 200, description="Your orders")
@errors(401)
@routes.get("/my-orders/")
async def my_orders(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    tickets = request.app[TICKETS]
    return json_response(
        [order_json(o, tickets) for o in await request.app[REPOSITORY].orders(user_id=principal.user_id)]
    )


@docs(tags=["orders"], summary="Cancel every live seat of one of your orders, all or none")
@response_schema(schemas.OrderCancelled, 200, description="Cancelled; the seats are free at once")
@errors(
    401,
    {
        404: "No such order, or not yours",
        409: "Already cancelled, past the cancel cutoff, or a ticket was scanned at the door",
    },
)
@docs(parameters=[IDEMPOTENCY_KEY])
@routes.post(r"/orders/{id:\d+}/cancel/")
async def cancel_order(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    order_id = schemas.path_id(request)

    async def run() -> web.Response:
        reply = await request.app[ENGINE].cancel_order(order_id, principal.user_id)
        if reply.outcome is not Outcome.CANCELLED:
            raise refuse_in(request, reply.outcome, hidden_as="unknown_order")
        return json_response({"detail": "Order cancelled.", "order_id": order_id, "seat_numbers": list(reply.seats)})

    return await idempotent(request, principal.user_id, run)
