"""An event as receivers and the feed see it: `{"id", "type", "created_at", "data"}`, the data being the
resource as the API shows it, with its show (and film) and, on priced shows, its price. Never a password hash,
token or ticket code: a ticket code is a key to the door."""

from __future__ import annotations

from typing import Any

from engine.layout import ShowPlan
from storage.outbox import StoredEvent
from storage.webhooks import ShowDetails
from web.schemas.catalog import show_brief


def show_json(details: ShowDetails) -> dict[str, Any]:
    return {
        **show_brief(details.show),
        "movie": {
            "id": details.show.movie_id,
            "title": details.movie_title,
            "duration_minutes": details.duration_minutes,
        },
    }


def render(event: StoredEvent, details: ShowDetails | None) -> dict[str, Any]:
    data = dict(event.data)
    if details is not None:
        data["show"] = show_json(details)
        plan = ShowPlan(details.layout, details.prices)
        booking = data.get("booking")
        if booking is not None:
            data["booking"] = booking = {**booking, "show": details.show.id}
            if plan.layout is not None:
                booking["seat_label"] = plan.layout.place(booking["seat_number"]).label
            price = plan.price(booking["seat_number"])
            if price is not None:
                booking["price"] = price
        order = data.get("order")
        if order is not None and "seat_numbers" in order:
            total = plan.total(order["seat_numbers"])
            if total is not None:
                data["order"] = {**order, "total": total}
        hold = data.get("hold")
        if hold is not None:
            total = plan.total(hold["seat_numbers"])
            if total is not None:
                data["hold"] = {**hold, "price": total}
    return {"id": event.id, "type": event.type, "created_at": event.created_at.isoformat(), "data": data}


class ShowCache:
    """Show details by id, bounded: the delivery loop reads each show once, not once per event."""

    def __init__(self, size: int = 1000) -> None:
        self._size = size
        self._found: dict[int, ShowDetails] = {}

    def missing(self, show_ids: set[int]) -> set[int]:
        return {i for i in show_ids if i not in self._found}

    def add(self, found: dict[int, ShowDetails]) -> None:
        if len(self._found) + len(found) > self._size:
            self._found.clear()
        self._found.update(found)

    def get(self, show_id: int | None) -> ShowDetails | None:
        return None if show_id is None else self._found.get(show_id)
