"""Ticket codes: the booking id and an HMAC tag over it, so a code can be neither guessed nor forged.

A code is `<booking id>-<tag>`: the tag is the first 15 bytes (120 bits) of HMAC-SHA256 over the booking id
under a key derived from the service secret, in base32. Without the key, finding a valid tag for any booking
is a 2^-120 guess; with it, the door checks a code in constant time before any lookup, and nothing needs
storing. The code uses only characters of the QR alphanumeric mode (digits, A-Z, -), so its QR stays small.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from aiohttp import web

TAG_BYTES = 15
CODE = re.compile(r"^([1-9][0-9]{0,9})-([A-Z2-7]{24})\Z")
# Base32 (RFC 4648) ten bits at a time, as base64.b32encode does in pure Python, unrolled for the tag's 120 bits.
_PAIRS = [a + b for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"]


class TicketCodes:
    def __init__(self, secret: str) -> None:
        assert len(secret) >= 16, "a short secret makes tickets forgeable"
        # Its own key, so that a ticket tag can never be replayed as a token signature or the reverse.
        key = hmac.new(secret.encode(), b"cinema ticket codes v1", hashlib.sha256).digest()
        # Keyed once: a copy per tag skips OpenSSL's digest lookup and key setup, which were most of a booking
        # answer's ticket cost (hmac.new 1.4 µs, a copy 0.9 µs; the tag itself is unchanged).
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def _tag(self, booking_id: int) -> str:
        mac = self._keyed.copy()
        mac.update(str(booking_id).encode())
        n = int.from_bytes(mac.digest()[:TAG_BYTES])
        assert TAG_BYTES == 15  # 120 bits: twelve 10-bit pairs of base32 characters, no padding
        p = _PAIRS
        return (
            p[n >> 110] + p[n >> 100 & 1023] + p[n >> 90 & 1023] + p[n >> 80 & 1023] + p[n >> 70 & 1023]
            + p[n >> 60 & 1023] + p[n >> 50 & 1023] + p[n >> 40 & 1023] + p[n >> 30 & 1023] + p[n >> 20 & 1023]
            + p[n >> 10 & 1023] + p[n & 1023]
        )  # fmt: skip

    def code(self, booking_id: int) -> str:
        assert booking_id >= 1, booking_id
        return f"{booking_id}-{self._tag(booking_id)}"

    def booking_id(self, code: str) -> int | None:
        """The booking a genuine code names; None for anything malformed or forged."""
        match = CODE.match(canonical(code))
        if match is None:
            return None
        booking_id = int(match.group(1))
        return booking_id if hmac.compare_digest(self._tag(booking_id), match.group(2)) else None


def canonical(code: str) -> str:
    """The code as printed: ASCII upper case without surrounding ASCII whitespace. Anything else is left as
    it is, to fail the match: str.upper folds U+0131 (dotless i) to 'I' and U+017F (long s) to 'S', and
    str.strip takes Unicode spaces."""
    return code.strip(" \t\r\n").upper() if code.isascii() else code


TICKETS = web.AppKey("tickets", TicketCodes)
