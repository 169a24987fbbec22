"""An order as every order route answers it (GET /orders/{id}/, /my-orders/, GET /orders/, the counter's sale):
its seats with ticket type, price as sold, ticket and QR, the total, the channel it was sold through and, for
counter orders, who sold it, how it was paid and to whom; and its refunds."""

from __future__ import annotations

from typing import Any

from storage.repository import OrderRow
from web.schemas.catalog import show_brief
from web.security.ticket_codes import TicketCodes


def order_json(order: OrderRow, tickets: TicketCodes) -> dict[str, Any]:
    layout, prices = order.layout, order.prices
    seats = []
    for seat in order.seats:
        category = layout.place(seat.seat_number).category if layout is not None else "standard"
        entry: dict[str, Any] = {
            "booking_id": seat.booking_id,
            "seat_number": seat.seat_number,
            "category": category,
            "ticket_type": seat.ticket_type,
            "status": seat.status,
            "checked_in_at": seat.checked_in_at.isoformat() if seat.checked_in_at else None,
        }
        if layout is not None:
            entry["seat_label"] = layout.place(seat.seat_number).label
        if prices is not None:  # as sold; bookings from before prices were recorded: the category's price
            entry["price"] = (
                prices.of(category, seat.ticket_type)
                if seat.price is None
                else {"amount": seat.price, "currency": prices.currency}
            )
        if seat.status == "booked":
            entry["ticket"] = code = tickets.code(seat.booking_id)
            entry["qr"] = f"/tickets/{code}/qr.svg"
        seats.append(entry)
    sale = order.sale
    answer: dict[str, Any] = {
        "id": order.id,
        "status": order.status,
        "created_at": order.created_at.isoformat(),
        "channel": order.channel,
        "show": {
            **show_brief(order.show),
            "movie": {
                "id": order.movie.id,
                "title": order.movie.title,
                "duration_minutes": order.movie.duration_minutes,
            },
        },
        "seats": seats,
        "sold_by": None if sale is None else {"id": sale.sold_by, "username": sale.sold_by_username},
        "payment": None if sale is None else sale.payment,
        "customer": None
        if sale is None or (sale.customer_name is None and sale.customer_email is None)
        else {"name": sale.customer_name, "email": sale.customer_email},
        "refunds": [
            {
                "seat_numbers": list(refund.seats),
                "amount": {"amount": refund.amount, "currency": refund.currency},
                "method": refund.method,
                "refunded_by": refund.refunded_by,
                "at": refund.at.isoformat(),
            }
            for refund in order.refunds
        ],
    }
    if prices is not None:
        live = [s for s in seats if s["status"] == "booked"]
        answer["total"] = {"amount": sum(s["price"]["amount"] or 0 for s in live), "currency": prices.currency}
    return answer
