"""Load-time checks of a show's stored state: storage that contradicts itself is repaired or refused, never
decided on (a confirm of one of two holds on one seat answered 500, and the seat map showed seats booked and
held at once).

Pure: the stored rows in, a verdict out. Contradictions are settled by the order the decisions were made, the
earlier one winning: journal order where the journal recorded the decision, then the rows' own creation time
(a decision the journal never saw comes after those it did). A losing hold is voided (the caller marks it
released); a losing booking is a sale nobody may silently undo, so the show is refused until an operator
repairs it, as is a booking on a seat the show does not have.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.ports import StoredHold

Key = tuple[str, int | str]  # ("booking", booking id) or ("hold", hold id)
UNJOURNALED = 2**63  # sorts after every journal sequence number


@dataclass(frozen=True, slots=True)
class Verdict:
    bookings: list[tuple[int, int, int, bool]]  # (booking id, seat, user id, is_booked), as stored
    holds: list[StoredHold]  # those kept
    blocked: list[int]
    voided_holds: list[str] = field(default_factory=list)  # to be marked released
    problems: list[str] = field(default_factory=list)  # one line each, for the log
    refused: str | None = None  # why the show cannot be decided on, when it cannot


def contested(
    total_seats: int, bookings: list[tuple[int, int, int, bool]], holds: list[StoredHold], blocked: list[int]
) -> set[Key]:
    """The decisions involved in a contradiction (empty for a sound show: the common case, checked cheaply)."""
    claims: dict[int, list[Key]] = {}
    out: set[Key] = set()
    for booking_id, seat, _, is_booked in bookings:
        if is_booked:
            claims.setdefault(seat, []).append(("booking", booking_id))
            if not 1 <= seat <= total_seats:
                out.add(("booking", booking_id))
    for hold in holds:
        if len(set(hold.seats)) != len(hold.seats) or not all(1 <= seat <= total_seats for seat in hold.seats):
            out.add(("hold", hold.id))
        for seat in set(hold.seats):
            claims.setdefault(seat, []).append(("hold", hold.id))
    for keys in claims.values():
        if len(keys) > 1:
            out.update(keys)
    for seat in blocked:  # a block is not ordered (no journal key): it yields to any booking or hold
        if seat in claims:
            out.update(claims[seat])
        elif not 1 <= seat <= total_seats:
            out.add(("block", seat))
    return out


def reconcile(
    show_id: int,
    total_seats: int,
    bookings: list[tuple[int, int, int, bool]],
    holds: list[StoredHold],
    blocked: list[int],
    order: dict[Key, tuple[int, float]],
) -> Verdict:
    """`order`: (journal seq or UNJOURNALED, creation timestamp) of the contested decisions."""
    if not contested(total_seats, bookings, holds, blocked):
        return Verdict(bookings, holds, blocked)
    problems: list[str] = []
    refused: list[str] = []
    for booking_id, seat, _, is_booked in bookings:
        if is_booked and not 1 <= seat <= total_seats:
            refused.append(f"booking {booking_id} is on seat {seat} of a {total_seats}-seat show")
    by_id = {hold.id: hold for hold in holds}
    decisions: list[tuple[tuple[int, float, int, str], Key, tuple[int, ...]]] = []
    for booking_id, seat, _, is_booked in bookings:
        if is_booked:
            key: Key = ("booking", booking_id)
            seq, at = order.get(key, (UNJOURNALED, 0.0))
            decisions.append(((seq, at, 0, str(booking_id).zfill(20)), key, (seat,)))
    for hold in holds:
        key = ("hold", hold.id)
        seq, at = order.get(key, (UNJOURNALED, 0.0))
        decisions.append(((seq, at, 1, hold.id), key, hold.seats))
    decisions.sort(key=lambda decision: decision[0])
    taken: dict[int, Key] = {}
    voided: list[str] = []
    for _, key, seats in decisions:
        kind, ident = key
        outside = [seat for seat in seats if not 1 <= seat <= total_seats]
        clashes = sorted({seat for seat in seats if seat in taken} | {s for s in seats if seats.count(s) > 1})
        if kind == "hold" and (outside or clashes):
            voided.append(str(ident))
            earlier = ", ".join(sorted({_name(taken[seat]) for seat in clashes if seat in taken})) or "itself"
            why = f"seats {outside} are not in the show" if outside else f"seats {clashes} were taken by {earlier}"
            problems.append(f"hold {ident} voided: {why}")
            continue
        if kind == "booking" and clashes:
            refused.append(f"booking {ident} is on seat {clashes[0]}, taken earlier by {_name(taken[clashes[0]])}")
            continue
        for seat in seats:
            taken.setdefault(seat, key)
    kept_blocked = []
    for seat in blocked:
        if not 1 <= seat <= total_seats or seat in taken:
            why = f"{_name(taken[seat])} has it" if seat in taken else "no such seat"
            problems.append(f"block of seat {seat} ignored: {why}")
        else:
            kept_blocked.append(seat)
    problems += refused
    return Verdict(
        bookings,
        [hold for hold_id, hold in by_id.items() if hold_id not in voided],
        kept_blocked,
        voided,
        problems,
        "; ".join(refused) if refused else None,
    )


def _name(key: Key) -> str:
    return f"{key[0]} {key[1]}"
