"""The one spelling of a username that uniqueness is decided on."""

from __future__ import annotations

import unicodedata


def username_key(username: str) -> str:
    """NFKC, case folding, NFKC again (folding can undo normalisation): `Alice`, `ALICE` and the full-width
    `\\uff41lice` share a key, and so do `\\ufb01le` (with the ligature) and `file`."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())
