"""Ticket codes without I/O: the fast tag is the documented construction, so codes already printed stay valid."""

from __future__ import annotations

import base64
import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from web.security.ticket_codes import TAG_BYTES, TicketCodes

SECRET = "a-secret-of-at-least-16-characters"


def documented(booking_id: int) -> str:
    """HMAC-SHA256 under the derived key, its first 15 bytes in base32: what the module's docstring says."""
    key = hmac.new(SECRET.encode(), b"cinema ticket codes v1", hashlib.sha256).digest()
    digest = hmac.new(key, str(booking_id).encode(), hashlib.sha256).digest()[:TAG_BYTES]
    return f"{booking_id}-{base64.b32encode(digest).decode()}"


@given(st.integers(min_value=1, max_value=9_999_999_999))
def test_codes_are_the_documented_hmac_in_base32(booking_id: int) -> None:
    codes = TicketCodes(SECRET)
    code = codes.code(booking_id)
    assert code == documented(booking_id)
    assert codes.booking_id(code) == booking_id
    assert codes.booking_id(code.lower()) == booking_id  # typed at the door


def test_a_forged_or_moved_tag_names_no_booking() -> None:
    codes = TicketCodes(SECRET)
    tag = codes.code(42).partition("-")[2]
    flipped = ("B" if tag[0] == "A" else "A") + tag[1:]
    assert codes.booking_id(f"42-{flipped}") is None
    assert codes.booking_id(f"43-{tag}") is None
    assert TicketCodes(SECRET + "x").booking_id(codes.code(42)) is None


def test_codes_compare_as_ascii_only() -> None:
    """str.upper folds U+0131 (dotless i) to 'I' and U+017F (long s) to 'S': a code spelt with them is
    not the ticket's code."""
    codes = TicketCodes(SECRET)
    for booking_id in range(1, 400):
        code = codes.code(booking_id)
        if "I" in code or "S" in code:
            break
    spelt = code.lower().replace("i", "\u0131").replace("s", "\u017f")
    assert spelt != code.lower() and spelt.upper() == code  # what the old comparison admitted
    assert codes.booking_id(spelt) is None
    assert codes.booking_id(f" {code.lower()}\n") == booking_id  # ASCII case and whitespace still forgiven
    assert codes.booking_id(code + "\u00a0") is None and codes.booking_id("\uff11" + code[1:]) is None
