"""Ticket codes: the booking id and an HMAC tag over it, so a code can be neither guessed nor forged.

A code is `<booking id>-<tag>`: the tag is the first 15 bytes (120 bits) of HMAC-SHA256 over the booking id
under a key derived from the service secret, in base32. Without the key, finding a valid tag for any booking
is a 2^-120 guess; with it, the door checks a code in constant time before any lookup, and nothing needs
storing. The code uses only characters of the QR alphanumeric mode (digits, A-Z, -), so its QR stays small.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from aiohttp import web

TAG_BYTES = 15
CODE = re.compile(r"^([1-9][0-9]{0,9})-([A-Z2-7]{24})\Z")


class TicketCodes:
    def __init__(self, secret: str) -> None:
        assert len(secret) >= 16, "a short secret makes tickets forgeable"
        # Its own key, so that a ticket tag can never be replayed as a token signature or the reverse.
        self._key = hmac.new(secret.encode(), b"cinema ticket codes v1", hashlib.sha256).digest()

    def _tag(self, booking_id: int) -> str:
        digest = hmac.new(self._key, str(booking_id).encode(), hashlib.sha256).digest()[:TAG_BYTES]
        return base64.b32encode(digest).decode()

    def code(self, booking_id: int) -> str:
        assert booking_id >= 1, booking_id
        return f"{booking_id}-{self._tag(booking_id)}"

    def booking_id(self, code: str) -> int | None:
        """The booking a genuine code names; None for anything malformed or forged."""
        match = CODE.match(code.strip().upper())
        if match is None:
            return None
        booking_id = int(match.group(1))
        return booking_id if hmac.compare_digest(self._tag(booking_id), match.group(2)) else None


TICKETS = web.AppKey("tickets", TicketCodes)
