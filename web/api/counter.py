"""The box-office counter: staff sell seats to walk-in customers, list orders, and refund them.

A walk-in has no account. A counter sale's bookings therefore belong to the staff user who sold them (that is
who may change them, and whose id the journal records); the order's counter-sale row, written by the journal in
the same transaction as the bookings, records the seller, the payment and the customer's name and e-mail. So
the customer needs nothing but the tickets: each seat's code and QR work at the door like any other. Staff are
not bound by the per-customer seat limit, so a school group of 30, or the whole hall, is one sale.

Every sale and refund is one decision of the show's actor, journalled like any booking or cancel.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from engine.ports import CounterSale
from engine.seats import Outcome
from web import schemas
from web.context import ENGINE, REPOSITORY, SETTINGS
from web.http.body import load_body, read_body, read_json_object, validate_body
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.http.paging import paged
from web.http.refusals import refuse, refuse_seats
from web.schemas.order_views import order_json
from web.security.auth import require_counter_staff
from web.security.idempotency import PARAMETER as IDEMPOTENCY_KEY
from web.security.idempotency import idempotent
from web.security.ticket_codes import TICKETS

routes = web.RouteTableDef()
SELL_EXAMPLE = {
    "count": 12,
    "ticket_types": ["adult"] * 2 + ["child"] * 10,
    "payment": "cash",
    "customer": {"name": "Hill Street School", "email": "office@hill.example"},
}


@docs(
    tags=["counter"],
    summary="Sell seats at the box office (staff)",
    description="`seat_numbers`, or the best `count` seats (adjacent in one row when a row has them, else the "
    "fewest blocks nearest the middle), up to the whole hall, with one ticket type per seat (default adult), the "
    "`payment` and optionally the walk-in `customer` (no account is made: the bookings belong to the staff user, "
    "the customer is kept on the order). Not bound by the per-customer seat limit. Answers the order.",
)
@request_schema(schemas.SellRequest, example=SELL_EXAMPLE)
@response_schema(schemas.Order, 201, description="Sold; durable before this answer. The order with its tickets")
@errors(
    401,
    403,
    422,
    {
        400: "Invalid body, seat outside the show, or a ticket type the show does not sell for those seats",
        404: "No such show",
        409: "Seats not available, not enough free seats for `count`, or the show has started",
    },
)
@docs(parameters=[IDEMPOTENCY_KEY])
@routes.post(r"/shows/{id:\d+}/sell/")
async def sell(request: web.Request) -> web.Response:
    staff_id = await require_counter_staff(request)
    show_id = schemas.path_id(request)

    async def run() -> web.Response:
        body = await load_body(request, schemas.SellRequest)
        asked: tuple[int, ...] = tuple(body.get("seat_numbers", ()))
        count = len(asked) or body["count"]
        types = schemas.ticket_types_of(body, count)
        customer = body.get("customer") or {}
        sale = CounterSale(staff_id, body["payment"], customer.get("name"), customer.get("email"))
        engine = request.app[ENGINE]
        reply = await engine.sell(show_id, sale, asked, 0 if asked else count, types)
        if not reply.bookings:
            if reply.outcome is Outcome.NO_ADJACENT_SEATS:
                free = engine.committed_free_seats(show_id)
                raise fail(
                    "no_adjacent_seats",
                    f"Not {count} seats free for one sale ({free} free, or the show has no row layout)."
                    if free is not None
                    else None,
                )
            raise await refuse_seats(request, show_id, reply.outcome, reply.seats, asked, reply.unpriced)
        found = await request.app[REPOSITORY].orders(order_id=reply.bookings[0].order_id)
        return json_response(order_json(found[0], request.app[TICKETS]), status=201)

    return await idempotent(request, staff_id, run)


@docs(
    tags=["counter"],
    summary="Orders, newest first, a page at a time (staff)",
    description="`?show=ID` for one show, `?channel=counter` (box office) or `online`; paginated like /movies/.",
)
@querystring_schema(schemas.OrdersQuery)
@response_schema(schemas.OrderPage, 200, description="A page of orders")
@errors(401, 403, {400: "Invalid query parameter", 404: "Invalid page"})
@routes.get("/orders/")
async def list_orders(request: web.Request) -> web.Response:
    await require_counter_staff(request)
    unknown = sorted(set(request.query) - {"page", "show", "channel"})
    if unknown:
        raise fail("invalid_query", f"Unknown query parameter {unknown[0][:40]!r}: use page, show and channel.")
    show_id: int | None = None
    if "show" in request.query:
        show_id = schemas.canonical_int(request.query["show"], schemas.MAX_ID)
        if not show_id:
            raise fail("invalid_query", "show must be a show id.")
    channel = request.query.get("channel")
    if channel is not None and channel not in schemas.CHANNELS:
        raise fail("invalid_query", f"channel must be one of: {', '.join(schemas.CHANNELS)}.")
    repository, tickets, settings = request.app[REPOSITORY], request.app[TICKETS], request.app[SETTINGS]

    async def fetch(offset: int, limit: int) -> tuple[int, list[Any]]:
        return await repository.orders_page(offset, limit, show_id=show_id, channel=channel)

    page = await paged(request, settings.public_url, settings.page_size, fetch, lambda o: order_json(o, tickets))
    return json_response(page)


@docs(
    tags=["counter"],
    summary="Refund an order (staff): cancel its live seats, all or none, and record what is paid back",
    description="Any order, sold at the counter or online; until the show starts (the customers' cancel cutoff "
    "does not apply). The amount is what the cancelled seats were sold for (0 for complimentary tickets); "
    "`method` defaults to the counter sale's payment, or card for an online order.",
)
@request_schema(schemas.RefundRequest, example={"method": "cash"})
@response_schema(schemas.Refunded, 200, description="Refunded; the seats are free at once")
@errors(
    401,
    403,
    {
        400: "Invalid body",
        404: "No such order",
        409: "Already cancelled or refunded, a ticket was scanned at the door, or the show has started",
    },
)
@docs(parameters=[IDEMPOTENCY_KEY])
@routes.post(r"/orders/{id:\d+}/refund/")
async def refund_order(request: web.Request) -> web.Response:
    staff_id = await require_counter_staff(request)
    order_id = schemas.path_id(request)

    async def run() -> web.Response:
        body: dict[str, Any] = {}
        if await read_body(request):
            body = validate_body(await read_json_object(request), schemas.RefundRequest)
        repository = request.app[REPOSITORY]
        method = body.get("method")
        if method is None:
            found = await repository.orders(order_id=order_id)
            if not found or found[0].id != order_id:
                raise fail("unknown_order")
            method = found[0].sale.payment if found[0].sale is not None else "card"
        reply = await request.app[ENGINE].refund_order(order_id, staff_id, method)
        if reply.outcome is Outcome.ALREADY_CANCELLED:
            raise fail("already_cancelled", "The order is already cancelled or refunded.")
        if reply.outcome is not Outcome.CANCELLED or reply.refund is None:
            raise refuse(reply.outcome, hidden_as="unknown_order")
        refund = reply.refund
        order = (await repository.orders(order_id=order_id))[0]
        return json_response(
            {
                "detail": "Order refunded.",
                "order_id": order_id,
                "seat_numbers": list(refund.seats),
                "refund": {
                    "seat_numbers": list(refund.seats),
                    "amount": {"amount": refund.amount, "currency": refund.currency},
                    "method": refund.method,
                    "refunded_by": staff_id,
                    "at": order.refunds[-1].at.isoformat() if order.refunds else None,
                },
                "order": order_json(order, request.app[TICKETS]),
            }
        )

    return await idempotent(request, staff_id, run)
