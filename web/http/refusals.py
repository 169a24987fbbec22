"""The catalogue's answer for each refusal of the engine: one mapping from an `Outcome` to an error, for every route."""

from __future__ import annotations

from aiohttp import web

from engine.seats import Outcome
from web.context import ENGINE, SETTINGS
from web.http.errors import CATALOGUE, ApiError, fail


def refuse(outcome: Outcome, seats: tuple[int, ...] = (), hidden_as: str = "unknown_booking") -> ApiError:
    """The catalogue's answer for a refused command. Someone else's booking or hold answers exactly what a missing
    one does (`hidden_as`), so a stranger cannot learn which ids exist."""
    if outcome is Outcome.NOT_OWNER:
        return fail(hidden_as)
    message = CATALOGUE[outcome.value].message
    detail = message.format(seats=", ".join(map(str, seats))) if "{seats}" in message else None
    with_seats = outcome in (Outcome.SEATS_UNAVAILABLE, Outcome.COMPANION_NEEDS_WHEELCHAIR)
    return fail(outcome.value, detail, **({"seats": list(seats)} if with_seats else {}))


def refuse_in(request: web.Request, outcome: Outcome, hidden_as: str = "unknown_booking") -> ApiError:
    """`refuse`, naming the service's cancel cutoff when that is the reason."""
    if outcome is Outcome.CANCEL_CLOSED:
        minutes = request.app[SETTINGS].cancel_cutoff_minutes
        return fail("cancel_closed", f"Too late to cancel: cancelling closes {minutes} minutes before the show starts.")
    return refuse(outcome, hidden_as=hidden_as)


async def refuse_seats(
    request: web.Request,
    show_id: int,
    outcome: Outcome,
    seats: tuple[int, ...],
    asked: tuple[int, ...],
    unpriced: tuple[str, str] | None = None,
) -> ApiError:
    """As `refuse`; a seat outside the show (0, or 101 of 100) names the show's seats, whichever end was missed;
    the seat limit names its number; a ticket type the show does not sell is named with the types it does."""
    if outcome is Outcome.SEAT_LIMIT:
        limit = request.app[ENGINE].seat_limit
        return fail(
            "seat_limit",
            f"That would give you more than {limit} seats in this show: one customer may hold and book at most "
            f"{limit}.",
            limit=limit,
        )
    if outcome is Outcome.UNKNOWN_TICKET_TYPE and unpriced is not None:
        ticket_type, category = unpriced
        prices = request.app[ENGINE].plan(show_id).prices
        sold = sorted(prices.types(category)) if prices is not None and category in prices.amounts else ["adult"]
        return fail(
            "unknown_ticket_type",
            f"This show does not sell {ticket_type!r} tickets for {category} seats (it sells: {', '.join(sold)}).",
            ticket_type=ticket_type,
            category=category,
            ticket_types=sold,
        )
    if outcome is Outcome.TICKET_TYPES_MISMATCH:
        return fail("ticket_types_mismatch", f"Give one ticket type per seat ({len(seats)} seats).")
    if outcome is not Outcome.SEAT_OUT_OF_RANGE:
        return refuse(outcome, seats)
    total = (await request.app[ENGINE].seat_map(show_id)).total_seats
    outside = [seat for seat in asked if not 1 <= seat <= total]
    assert outside, (asked, total)
    named = ", ".join(map(str, outside))
    detail = (
        f"Seat {named} is not in this show" if len(outside) == 1 else f"Seats {named} are not in this show"
    ) + f": its seats are 1 to {total}."
    return fail("seat_out_of_range", detail, seats=outside, total_seats=total)
