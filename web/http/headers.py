"""Header values that are not UTF-8.

aiohttp decodes header bytes as UTF-8 with `surrogateescape`: a value that is not valid UTF-8 reaches the
handlers as a str holding lone surrogates, which any later `.encode()` (an HMAC compare, a JWT decode, a log
line, a forwarded request) refuses with UnicodeEncodeError, a 500. Such a request is the client's fault and is
answered 400 `malformed_request` before any handler sees it.
"""

from __future__ import annotations

from collections.abc import Mapping


def undecodable_header(headers: Mapping[str, str]) -> str | None:
    """The name of the first header whose name or value is not valid UTF-8, else None (ASCII is checked in C)."""
    for name, value in headers.items():
        if value.isascii() and name.isascii():
            continue
        try:
            name.encode()
            value.encode()
        except UnicodeEncodeError:
            return name.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
    return None
