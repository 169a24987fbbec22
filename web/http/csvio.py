"""CSV answers (RFC 4180, by the csv module): asked for with `Accept: text/csv` or `?format=csv`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import web


def wants_csv(request: web.Request) -> bool:
    if request.query.get("format") == "csv":
        return True
    accept = request.headers.get("Accept", "")
    return any(part.split(";")[0].strip().lower() == "text/csv" for part in accept.split(","))


def csv_response(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> web.Response:
    """A header row, then the rows; CRLF line ends and quoting as RFC 4180 says (csv's defaults)."""
    out = io.StringIO()
    writer = csv.writer(out)  # excel dialect: "," and CRLF, fields quoted when they hold , " or a line break
    writer.writerow(header)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
