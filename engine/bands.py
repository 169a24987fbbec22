"""A show's seats as bands: runs of consecutive seat numbers of one category and price. Plain data, no I/O.

The reports compute revenue in SQL: a booking joins the band its seat number falls in (show id, first seat <=
seat <= last seat), so the database never needs the layout's JSON. A hall of 300 seats in two categories is a
handful of bands, not 300 rows."""

from __future__ import annotations

from dataclasses import dataclass

from engine.layout import Layout, Prices

DEFAULT_CATEGORY = "standard"


@dataclass(frozen=True, slots=True)
class Band:
    first_seat: int
    last_seat: int
    category: str
    amount: int  # minor units, an adult ticket's; 0 for an unpriced show (bookings carry their own price)


def seat_bands(total_seats: int, layout: Layout | None, prices: Prices | None) -> list[Band]:
    """The bands covering seats 1..total_seats exactly once, in order."""
    assert total_seats >= 1
    categories = [DEFAULT_CATEGORY] * total_seats if layout is None else [p.category for p in layout.places]
    assert len(categories) == total_seats, (len(categories), total_seats)
    bands: list[Band] = []
    first = 1
    for seat in range(2, total_seats + 2):
        if seat > total_seats or categories[seat - 1] != categories[first - 1]:
            category = categories[first - 1]
            amount = prices.amount(category) if prices is not None else None
            bands.append(Band(first, seat - 1, category, amount or 0))
            first = seat
    return bands


def plain_rows(total_seats: int, per_row: int = 20) -> list[tuple[str, int]]:
    """A plain hall for a screen known only by its size: rows A, B, ... of `per_row` seats (the last one shorter)."""
    rows, left, index = [], total_seats, 0
    while left > 0:
        rows.append((_row_label(index), min(per_row, left)))
        left -= per_row
        index += 1
    return rows


def _row_label(index: int) -> str:
    """A..Z, then AA, AB, ... (spreadsheet style)."""
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(ord("A") + rest) + label
    return label
