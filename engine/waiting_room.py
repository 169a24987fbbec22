"""The on-sale waiting room of one show, as plain data and functions (issue 27, second half; not yet served).

Fair and checkable by anyone:

* When the room opens for joining it draws a random seed and publishes only its commitment, SHA-256(seed).
* Everyone who joins before `on_sale_at` is ordered, at `on_sale_at`, by HMAC-SHA256(seed, queue_id) (ties by the
  id); then the seed itself is published. Anyone holding the list of early queue ids recomputes the order with
  `admission_order` and checks that SHA-256(seed) is the commitment published before the sale: the service could
  not pick the seed after seeing who joined. Those who join later are served first come, first served, after them.
* Admission follows the inventory: buyers are let in while the seats that the admitted, still-active buyers could
  take (`seats_per_buyer` each) stay under the free seats, so the room never admits more buyers than there are
  seats to fight over. A buyer stops counting when their pass expires or they are done (booked or left).
* When the show sells out, everyone still waiting is told `sold_out` at once.

Bounded: at most `max_size` ids wait in one room.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


def commitment(seed: bytes) -> str:
    """What is published before the sale: the seed's SHA-256, in hex."""
    return hashlib.sha256(seed).hexdigest()


def shuffle_key(seed: bytes, queue_id: str) -> str:
    return hmac.new(seed, queue_id.encode(), hashlib.sha256).hexdigest()


def admission_order(seed: bytes, queue_ids: Iterable[str]) -> list[str]:
    """The order of those who joined before the sale: by HMAC-SHA256(seed, id), then by id. Recomputable by anyone
    from the published seed and the list of ids."""
    return sorted(queue_ids, key=lambda queue_id: (shuffle_key(seed, queue_id), queue_id))


class Standing(StrEnum):
    WAITING = "waiting"
    ADMITTED = "admitted"
    DONE = "done"  # booked or left: no longer counted against the free seats
    SOLD_OUT = "sold_out"


@dataclass(slots=True)
class Admission:
    admitted_at: float
    expires_at: float  # the pass's end
    done: bool = False


@dataclass(slots=True)
class WaitingRoom:
    on_sale_at: float
    seed: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    max_size: int = 100_000
    early: list[str] = field(default_factory=list)  # joined before the sale, in joining order (not served so)
    line: deque[str] = field(default_factory=deque)  # the order of service, once the sale opened
    admitted: dict[str, Admission] = field(default_factory=dict)
    opened: bool = False  # the sale has started: the early joiners are ordered and the seed published
    sold_out: bool = False
    served: int = 0  # how many have left the line (admitted), the AWS waiting room's serving counter
    _known: set[str] = field(default_factory=set)
    _number: dict[str, int] = field(default_factory=dict)  # place in the line from the front of service, from 1

    @property
    def commitment(self) -> str:
        return commitment(self.seed)

    @property
    def published_seed(self) -> str | None:
        """The seed, in hex, once the sale has opened (never before: it would let anyone predict the order)."""
        return self.seed.hex() if self.opened else None

    @property
    def waiting(self) -> int:
        return len(self.early) if not self.opened else len(self.line)


def join(room: WaitingRoom, queue_id: str) -> bool:
    """Take a place; False when the room is full (or the id is already in it)."""
    if queue_id in room._known or len(room._known) - len(room.admitted) >= room.max_size:
        return False
    room._known.add(queue_id)
    if room.opened:
        room.line.append(queue_id)
        room._number[queue_id] = room.served + len(room.line)
    else:
        room.early.append(queue_id)
    return True


def open_sale(room: WaitingRoom) -> list[str]:
    """At on_sale_at: the early joiners in their shuffled order, in front of anyone joining from now on."""
    assert not room.opened
    order = admission_order(room.seed, room.early)
    room.line.extend(order)
    room._number.update((queue_id, place) for place, queue_id in enumerate(order, room.served + 1))
    room.early.clear()
    room.opened = True
    return order


def active(room: WaitingRoom, now: float) -> int:
    """Admitted buyers who may still buy: their pass is live and they are not done."""
    return sum(1 for a in room.admitted.values() if not a.done and a.expires_at > now)


def admit(
    room: WaitingRoom, free_seats: int, seats_per_buyer: int, now: float, pass_seconds: float
) -> list[tuple[str, Admission]]:
    """Let in, front first, while the seats the active buyers could take stay under `free_seats` (so at most
    ceil(free_seats / seats_per_buyer) buyers are active at once); when nothing is free the show is sold out and
    everyone waiting is told so."""
    assert seats_per_buyer >= 1
    if not room.opened:
        return []
    if free_seats <= 0:
        room.sold_out = True
        return []
    let_in = []
    count = active(room, now)
    while room.line and count * seats_per_buyer < free_seats:
        queue_id = room.line.popleft()
        room.served += 1
        admission = room.admitted[queue_id] = Admission(now, now + pass_seconds)
        let_in.append((queue_id, admission))
        count += 1
    return let_in


def finish(room: WaitingRoom, queue_id: str) -> None:
    """The buyer booked or left: their share of the free seats goes to the next in line."""
    admission = room.admitted.get(queue_id)
    if admission is not None:
        admission.done = True


def standing(room: WaitingRoom, queue_id: str, now: float) -> tuple[Standing, int]:
    """Where `queue_id` stands, and its position (1 for the front) while waiting."""
    admission = room.admitted.get(queue_id)
    if admission is not None:
        live = not admission.done and admission.expires_at > now
        return (Standing.ADMITTED if live else Standing.DONE), 0
    if queue_id not in room._known:
        raise KeyError(queue_id)
    if room.sold_out:
        return Standing.SOLD_OUT, 0
    if not room.opened:  # before the sale no early joiner has a place yet: the shuffle decides it
        return Standing.WAITING, 0
    return Standing.WAITING, room._number[queue_id] - room.served
