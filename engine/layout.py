"""A hall's seat layout and the index of its free seats: plain data and functions, no I/O.

A layout is rows of positions, front to back; a position is a seat or a gap (an aisle). Seat numbers run
1..total through the rows, left to right, skipping gaps, so the seed's `{"seat_number": n}` keeps its meaning.

`FreeIndex` keeps, per row, one Python integer whose bit i says "position i is free". Booking or freeing a seat
flips one bit; finding `count` adjacent free seats in a row is a handful of shifts and ANDs on that integer,
whatever the row's width. So best available costs a bounded number of big-integer operations per row (and
touches no seat one by one): on a 100x100 hall it is about a hundred such steps, not ten thousand seat checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

KINDS = ("standard", "wheelchair", "companion")
MAX_WHEELCHAIR_CANDIDATES = 2048  # explicit bound on the windows one wheelchair search examines


@dataclass(frozen=True, slots=True)
class Place:
    """One seat of a layout."""

    seat: int
    label: str
    category: str
    kind: str

    def as_dict(self) -> dict[str, Any]:
        return {"seat": self.seat, "label": self.label, "category": self.category, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class LayoutRow:
    label: str
    first_seat: int
    positions: tuple[Place | None, ...]

    @property
    def seats(self) -> int:
        return sum(place is not None for place in self.positions)


@dataclass(frozen=True, slots=True)
class Layout:
    """The rows of a show's hall. `detailed` is False for the seed-era `rows` of plain seats (no positions)."""

    rows: tuple[LayoutRow, ...]
    detailed: bool
    places: tuple[Place, ...] = field(init=False, compare=False)  # index seat - 1
    _json: list[dict[str, Any]] | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        places = tuple(place for row in self.rows for place in row.positions if place is not None)
        assert places and all(place.seat == n for n, place in enumerate(places, 1)), "seats must run 1..total"
        object.__setattr__(self, "places", places)

    @property
    def total_seats(self) -> int:
        return len(self.places)

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(place.category for place in self.places)

    def place(self, seat: int) -> Place:
        return self.places[seat - 1]

    def companions(self) -> dict[int, tuple[int, ...]]:
        """Each companion seat -> the wheelchair spaces right beside it in its row (possibly none)."""
        found: dict[int, tuple[int, ...]] = {}
        for row in self.rows:
            positions = row.positions
            for i, place in enumerate(positions):
                if place is None or place.kind != "companion":
                    continue
                beside = [positions[j] for j in (i - 1, i + 1) if 0 <= j < len(positions)]
                found[place.seat] = tuple(p.seat for p in beside if p is not None and p.kind == "wheelchair")
        return found

    def as_json(self) -> list[dict[str, Any]]:
        """The seat map's `rows`: label, first seat and seat count, and the positions when the layout has them.
        Built once per layout and shared between answers (never mutate it)."""
        if self._json is not None:
            return self._json
        rows: list[dict[str, Any]] = []
        for row in self.rows:
            entry: dict[str, Any] = {"label": row.label, "first_seat": row.first_seat, "seats": row.seats}
            if self.detailed:
                entry["positions"] = [None if p is None else p.as_dict() for p in row.positions]
            rows.append(entry)
        object.__setattr__(self, "_json", rows)
        return rows

    def stored(self) -> Any:
        """The JSON kept in the database (see `layout_from_stored`)."""
        if not self.detailed:
            return [[row.label, row.seats] for row in self.rows]
        return {
            "rows": [
                {
                    "label": row.label,
                    "positions": [None if p is None else [p.label, p.category, p.kind] for p in row.positions],
                }
                for row in self.rows
            ]
        }


def plain_layout(rows: Sequence[tuple[str, int]]) -> Layout:
    """The seed-era layout: rows of `n` standard seats with no gaps, labelled row label + number in the row."""
    built, seat = [], 1
    for label, count in rows:
        assert count >= 1, (label, count)
        built.append(
            LayoutRow(
                label, seat, tuple(Place(seat + i, f"{label}{i + 1}", "standard", "standard") for i in range(count))
            )
        )
        seat += count
    return Layout(tuple(built), detailed=False)


def detailed_layout(rows: Sequence[tuple[str, Sequence[tuple[str, str, str] | None]]]) -> Layout:
    """Rows of positions, each None (a gap) or (seat label, category, kind); seats are numbered here."""
    built, seat = [], 1
    for label, positions in rows:
        first, places = seat, []
        for position in positions:
            if position is None:
                places.append(None)
                continue
            seat_label, category, kind = position
            assert kind in KINDS, kind
            places.append(Place(seat, seat_label, category, kind))
            seat += 1
        built.append(LayoutRow(label, first, tuple(places)))
    return Layout(tuple(built), detailed=True)


def layout_from_stored(stored: Any) -> Layout | None:
    """Both stored forms: `[[label, seats], ...]` (plain rows) and `{"rows": [{label, positions}]}`."""
    if not stored:
        return None
    if isinstance(stored, list):
        return plain_layout([(label, seats) for label, seats in stored])
    return detailed_layout(
        [
            (row["label"], [None if p is None else (p[0], p[1], p[2]) for p in row["positions"]])
            for row in stored["rows"]
        ]
    )


DEFAULT_TICKET_TYPE = "adult"


@dataclass(frozen=True, slots=True)
class Prices:
    """A price per seat category, in integer minor units of one ISO 4217 currency. A category's price is a plain
    number (one ticket type, adult) or a price per ticket type, e.g. {"adult": 1200, "child": 800}; stored as given."""

    amounts: dict[str, Any]  # category -> int | {ticket type: int}
    currency: str

    def types(self, category: str) -> dict[str, int]:
        """The ticket types `category` sells, with their prices."""
        entry = self.amounts[category]
        return dict(entry) if isinstance(entry, dict) else {DEFAULT_TICKET_TYPE: entry}

    def amount(self, category: str, ticket_type: str = DEFAULT_TICKET_TYPE) -> int | None:
        """The price of one `ticket_type` ticket in `category`; None when the show does not sell that type there."""
        entry = self.amounts.get(category)
        if isinstance(entry, dict):
            return entry.get(ticket_type)
        return entry if ticket_type == DEFAULT_TICKET_TYPE else None

    @property
    def ticket_types(self) -> frozenset[str]:
        return frozenset(t for category in self.amounts for t in self.types(category))

    def of(self, category: str, ticket_type: str = DEFAULT_TICKET_TYPE) -> dict[str, Any]:
        return {"amount": self.amount(category, ticket_type), "currency": self.currency}

    def as_json(self) -> dict[str, dict[str, Any]]:
        """Per category: the adult price as `amount` (as before ticket types), and `types` when it has several."""
        answer: dict[str, dict[str, Any]] = {}
        for category in sorted(self.amounts):
            entry = self.of(category)
            if isinstance(self.amounts[category], dict):
                entry["types"] = {t: self.of(category, t) for t in sorted(self.types(category))}
            answer[category] = entry
        return answer


@dataclass(frozen=True, slots=True)
class ShowPlan:
    """What a show sells: its layout (if any) and its prices (if any)."""

    layout: Layout | None = None
    prices: Prices | None = None

    def category(self, seat: int) -> str:
        return self.layout.place(seat).category if self.layout is not None else "standard"

    def price(self, seat: int, ticket_type: str = DEFAULT_TICKET_TYPE) -> dict[str, Any] | None:
        return None if self.prices is None else self.prices.of(self.category(seat), ticket_type)

    def total(self, seats: Sequence[int]) -> dict[str, Any] | None:
        if self.prices is None:
            return None
        amount = sum(self.prices.amount(self.category(s)) or 0 for s in seats)
        return {"amount": amount, "currency": self.prices.currency}

    def unpriced(self, seats: Sequence[int], ticket_types: Sequence[str]) -> tuple[str, str] | None:
        """The first (ticket type, seat category) of the seats that the show does not sell, or None. A show
        without prices sells only the default type."""
        for seat, ticket_type in zip(seats, ticket_types, strict=True):
            if self.prices is None:
                if ticket_type != DEFAULT_TICKET_TYPE:
                    return ticket_type, self.category(seat)
            elif self.prices.amount(self.category(seat), ticket_type) is None:
                return ticket_type, self.category(seat)
        return None

    def amounts(self, seats: Sequence[int], ticket_types: Sequence[str]) -> tuple[int | None, ...]:
        """Each seat's price for its ticket type (all None for a show without prices); call after `unpriced`."""
        prices = self.prices
        if prices is None:
            return (None,) * len(seats)
        return tuple(prices.amount(self.category(s), t) for s, t in zip(seats, ticket_types, strict=True))


# --- the free-seat index ----------------------------------------------------------------------------------
def _runs(mask: int, count: int) -> int:
    """Bit s is set when bits s..s+count-1 of `mask` are all set (doubling: O(log count) big-int steps)."""
    have = 1
    while have < count:
        step = min(have, count - have)
        mask &= mask >> step
        have += step
    return mask


def _any_within(mask: int, count: int) -> int:
    """Bit s is set when any of bits s..s+count-1 of `mask` is set."""
    have = 1
    while have < count:
        step = min(have, count - have)
        mask |= mask >> step
        have += step
    return mask


def _nearest(mask: int, target: float) -> int:
    """The set bit of `mask` (non-zero) nearest `target`; the lower one on a tie."""
    assert mask
    low = int(target)
    below = mask & ((2 << low) - 1) if low >= 0 else 0
    above = mask >> (low + 1)
    left = below.bit_length() - 1 if below else None
    right = (above & -above).bit_length() - 1 + low + 1 if above else None
    if right is None or (left is not None and target - left <= right - target):
        assert left is not None
        return left
    return right


@dataclass(slots=True)
class Work:
    """How much one search did: rows looked at and windows examined one by one. Tests bound these."""

    rows: int = 0
    candidates: int = 0


class FreeIndex:
    """Per row, a bit mask of free positions, kept in step with the seat state by `take` and `free`."""

    __slots__ = ("_bit", "_comp", "_free", "_row", "_seats", "_std", "_wheel", "_widths")

    def __init__(self, layout: Layout) -> None:
        self._row = [0] * (layout.total_seats + 1)
        self._bit = [0] * (layout.total_seats + 1)
        self._free: list[int] = []
        self._std: list[int] = []
        self._wheel: list[int] = []
        self._comp: list[int] = []
        self._seats: list[tuple[int, ...]] = []  # position -> seat number, 0 for a gap
        self._widths: list[int] = []
        for r, row in enumerate(layout.rows):
            free = std = wheel = comp = 0
            for i, place in enumerate(row.positions):
                if place is None:
                    continue
                bit = 1 << i
                self._row[place.seat], self._bit[place.seat] = r, bit
                free |= bit
                if place.kind == "standard":
                    std |= bit
                elif place.kind == "wheelchair":
                    wheel |= bit
                else:
                    comp |= bit
            self._free.append(free)
            self._std.append(std)
            self._wheel.append(wheel)
            self._comp.append(comp)
            self._seats.append(tuple(0 if p is None else p.seat for p in row.positions))
            self._widths.append(len(row.positions))

    def take(self, seat: int) -> None:
        self._free[self._row[seat]] &= ~self._bit[seat]

    def free(self, seat: int) -> None:
        self._free[self._row[seat]] |= self._bit[seat]

    def is_free(self, seat: int) -> bool:
        return bool(self._free[self._row[seat]] & self._bit[seat])

    def free_standard(self) -> list[int]:
        """The free standard seats in seat order (the waiting list's parties that need not sit together): a
        walk over the free bits of each row, so it costs what is free, not the hall's size."""
        seats: list[int] = []
        for r, free in enumerate(self._free):
            mask = free & self._std[r]
            while mask:
                low = mask & -mask
                seats.append(self._seats[r][low.bit_length() - 1])
                mask ^= low
        return seats

    def best(self, count: int, wheelchair: int = 0, work: Work | None = None) -> tuple[int, ...] | None:
        """`count` adjacent free seats in one row, nearest the middle of the hall, or None.

        Without `wheelchair` only standard seats are offered (wheelchair spaces and companion seats are kept for
        those who need them); with it, the block holds at least that many wheelchair spaces, and any companion
        seat in it sits beside one of them. A block that would leave a single free seat stranded between it and
        a taken seat, a gap or the row's end (an orphan nobody can book as a pair) is chosen only when no block
        in the whole hall avoids that.
        """
        assert 1 <= count and 0 <= wheelchair <= count
        work = work if work is not None else Work()
        middle = (len(self._free) - 1) / 2
        best_clean: tuple[float, int, int] | None = None  # (score, row, start)
        best_any: tuple[float, int, int] | None = None
        budget = MAX_WHEELCHAIR_CANDIDATES
        for r, free in enumerate(self._free):
            work.rows += 1
            usable = free if wheelchair else free & self._std[r]
            starts = _runs(usable, count)
            if not starts:
                continue
            # Starts whose block strands a single seat on its left or on its right.
            orphans = ((free << 1) & ~(free << 2)) | ((free >> count) & ~(free >> (count + 1)))
            width = self._widths[r]
            target = (width - count) / 2
            row_distance = abs(r - middle)
            if wheelchair:
                starts &= _any_within(self._wheel[r] & free, count)
                chosen_clean = chosen_any = None
                while starts and budget > 0:
                    start = (starts & -starts).bit_length() - 1
                    starts &= starts - 1
                    budget -= 1
                    work.candidates += 1
                    if not self._accessible(r, start, count, wheelchair):
                        continue
                    key = abs(start - target)
                    if chosen_any is None or key < abs(chosen_any - target):
                        chosen_any = start
                    if not (orphans >> start) & 1 and (chosen_clean is None or key < abs(chosen_clean - target)):
                        chosen_clean = start
                candidates = [(chosen_clean, True), (chosen_any, False)]
            else:
                clean = starts & ~orphans
                candidates = [(_nearest(clean, target) if clean else None, True), (_nearest(starts, target), False)]
            for start, is_clean in candidates:
                if start is None:
                    continue
                score = (row_distance + abs(start - target) / max(1, width), r, start)
                if is_clean and (best_clean is None or score[0] < best_clean[0]):
                    best_clean = score
                if best_any is None or score[0] < best_any[0]:
                    best_any = score
        chosen = best_clean or best_any
        if chosen is None:
            return None
        _, r, start = chosen
        seats = self._seats[r][start : start + count]
        assert len(seats) == count and all(seats), seats
        return seats

    def _accessible(self, r: int, start: int, count: int, wheelchair: int) -> bool:
        window = ((1 << count) - 1) << start
        wheel = self._wheel[r] & window
        if wheel.bit_count() < wheelchair:
            return False
        companions = self._comp[r] & window
        return not companions & ~((wheel << 1) | (wheel >> 1))
