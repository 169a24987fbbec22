"""Reports (admin): a show's occupancy, check-ins, revenue and refunds, as JSON or CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp_apispec import docs
from marshmallow import Schema, fields

from storage.reports import BUCKET_SECONDS, Line, Reports, Sales, ShowReport, sales_between
from web import schemas
from web.context import REPOSITORY, SETTINGS
from web.http.csvio import csv_response, wants_csv
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.schemas.programme import local_day_start
from web.security.auth import require_admin

routes = web.RouteTableDef()
OCCUPANCY = ("capacity", "booked", "held", "blocked", "free", "checked_in", "no_shows")
MONEY = ("sold", "refunded", "gross", "refunds", "net")
CSV_HEADER = (
    "show_id",
    "title",
    "date_time",
    "currency",
    *OCCUPANCY,
    "category",
    "ticket_type",
    "channel",
    "price",
    *MONEY,
)


class ReportTotals(Schema):
    sold = fields.Integer(required=True, metadata={"description": "tickets sold (live or cancelled since)"})
    refunded = fields.Integer(required=True, metadata={"description": "tickets cancelled, each refunded"})
    gross = fields.Integer(required=True)
    refunds = fields.Integer(required=True)
    net = fields.Integer(required=True)


class ReportLine(ReportTotals):
    category = fields.String(required=True)
    ticket_type = fields.String(required=True, metadata={"description": "adult unless another type was sold"})
    channel = fields.String(required=True, metadata={"description": "online, or counter (a box-office sale)"})
    price = fields.Integer(required=True, metadata={"description": "minor units"})


class ShowReportAnswer(Schema):
    show_id = fields.Integer(required=True)
    title = fields.String(required=True)
    screen_name = fields.String(required=True)
    date_time = fields.DateTime(required=True)
    currency = fields.String(allow_none=True, required=True)
    capacity = fields.Integer(required=True)
    booked = fields.Integer(required=True)
    held = fields.Integer(required=True)
    blocked = fields.Integer(required=True)
    free = fields.Integer(required=True)
    checked_in = fields.Integer(required=True)
    no_shows = fields.Integer(allow_none=True, required=True, metadata={"description": "once the film has ended"})
    lines = fields.List(fields.Nested(ReportLine), required=True)
    totals = fields.Nested(ReportTotals, required=True)


def _line(line: Line) -> dict[str, Any]:
    return {
        "category": line.category,
        "ticket_type": line.ticket_type,
        "channel": line.channel,
        "price": line.price,
        "sold": line.sold,
        "refunded": line.refunded,
        "gross": line.gross,
        "refunds": line.refunds,
        "net": line.net,
    }


def _occupancy(report: ShowReport) -> dict[str, Any]:
    return {
        "capacity": report.capacity,
        "booked": report.booked,
        "held": report.held,
        "blocked": report.blocked,
        "free": report.free,
        "checked_in": report.checked_in,
        "no_shows": report.no_shows,
    }


@docs(
    tags=["reports"],
    summary="A show's occupancy, check-ins, revenue and refunds (admin); JSON, or CSV",
    description="CSV with `Accept: text/csv` or `?format=csv`: a header row, then one row per category, ticket "
    "type, channel and price and a last row `total`, each carrying the show's occupancy (RFC 4180 quoting).",
    responses={
        "200": {
            "description": "The report",
            "content": {"application/json": {"schema": ShowReportAnswer}, "text/csv": {"schema": {"type": "string"}}},
        }
    },
)
@errors(401, 403, {404: "No such show"})
@routes.get(r"/reports/shows/{id:\d+}/")
async def show_report(request: web.Request) -> web.Response:
    await require_admin(request)
    _known_only(request, {"format"})
    report = await Reports(request.app[REPOSITORY].database).show(schemas.path_id(request))
    if report is None:
        raise fail("unknown_show")
    lines = [_line(line) for line in report.lines]
    totals = {key: sum(line[key] for line in lines) for key in MONEY}
    occupancy = _occupancy(report)
    if wants_csv(request):
        head = (report.show_id, report.title, report.date_time.isoformat(), report.currency)
        rows = [
            (
                *head,
                *occupancy.values(),
                line["category"],
                line["ticket_type"],
                line["channel"],
                line["price"],
                *(line[k] for k in MONEY),
            )
            for line in lines
        ]
        rows.append((*head, *occupancy.values(), "total", "", "", "", *(totals[k] for k in MONEY)))
        return csv_response(CSV_HEADER, rows, f"show-{report.show_id}.csv")
    return json_response(
        {
            "show_id": report.show_id,
            "title": report.title,
            "screen_name": report.screen_name,
            "date_time": report.date_time.isoformat(),
            "currency": report.currency,
            **occupancy,
            "lines": lines,
            "totals": totals,
        }
    )


EDGES = (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC))


def _utc_day(day: date, zone: ZoneInfo, later: int = 0) -> datetime:
    """The start of local `day` (+ `later` days) in UTC, held inside the calendar at its very edges."""
    try:
        return local_day_start(day + timedelta(days=later), zone).astimezone(UTC)
    except OverflowError:
        return EDGES[0] if day.year < 5000 else EDGES[1]


SALES_HEADER = ("kind", "day", "show_id", "title", "screen_name", "date_time", "currency", *MONEY)


def _money(sales: Sales) -> dict[str, int]:
    return {
        "sold": sales.sold,
        "refunded": sales.refunded,
        "gross": sales.gross,
        "refunds": sales.refunds,
        "net": sales.net,
    }


def _add(into: dict[str, int], sales: Sales) -> None:
    for key, value in _money(sales).items():
        into[key] = into.get(key, 0) + value


def _known_only(request: web.Request, names: set[str]) -> None:
    """A misspelt parameter is refused rather than silently ignored (a report for the wrong days looks right)."""
    unknown = sorted(set(request.query) - names)
    if unknown:
        raise fail("invalid_query", f"Unknown query parameter {unknown[0][:40]!r}: use {', '.join(sorted(names))}.")


@docs(
    tags=["reports"],
    summary="Sales and refunds made from one local day to another (admin): per show, per day, totals; JSON or CSV",
    description="Days are the cinema's (`CINEMA_TIMEZONE`); `to` is included. A sale counts on the day it was made, "
    "a refund on the day of the cancel. Amounts are minor units, summed per currency. CSV (`Accept: text/csv` or "
    "`?format=csv`): one table whose `kind` column says show, day or total.",
    parameters=[
        {"in": "query", "name": "from", "schema": {"type": "string", "format": "date"}},
        {"in": "query", "name": "to", "schema": {"type": "string", "format": "date"}},
        {"in": "query", "name": "format", "schema": {"type": "string", "enum": ["json", "csv"]}},
    ],
    responses={
        "200": {
            "description": "The report",
            "content": {"application/json": {"schema": {"type": "object"}}, "text/csv": {"schema": {"type": "string"}}},
        }
    },
)
@errors(401, 403, {400: "Not days (code invalid_query)"})
@routes.get("/reports/sales/")
async def sales_report(request: web.Request) -> web.Response:
    await require_admin(request)
    _known_only(request, {"from", "to", "format"})
    zone = request.app[SETTINGS].zone
    today = datetime.now(zone).date()
    if request.query.get("format", "json") not in ("json", "csv"):
        raise fail("invalid_query", "format is json or csv.")
    try:
        first = date.fromisoformat(request.query["from"]) if "from" in request.query else today - timedelta(days=29)
        last = date.fromisoformat(request.query["to"]) if "to" in request.query else today
    except ValueError:
        raise fail("invalid_query", "from and to must be days (YYYY-MM-DD).") from None
    starts, ends = _utc_day(first, zone), _utc_day(last, zone, 1)  # an empty range (to before from) lists nothing
    shows, buckets = await sales_between(request.app[REPOSITORY].database, starts, ends)
    days: dict[tuple[str, str | None], dict[str, int]] = {}
    for bucket, currency, sales in buckets:
        day = datetime.fromtimestamp(bucket * BUCKET_SECONDS, zone).date().isoformat()
        _add(days.setdefault((day, currency), {}), sales)
    totals: dict[str | None, dict[str, int]] = {}
    for show in shows:
        _add(totals.setdefault(show.currency, {}), show.sales)
    rows = [
        {
            "show_id": s.show_id,
            "title": s.title,
            "screen_name": s.screen_name,
            "date_time": s.date_time.isoformat(),
            "currency": s.currency,
            **_money(s.sales),
        }
        for s in shows
    ]
    per_day = [{"day": day, "currency": currency, **money} for (day, currency), money in sorted(days.items(), key=str)]
    total_rows = [{"currency": currency, **money} for currency, money in sorted(totals.items(), key=str)]
    if wants_csv(request):
        table = [
            (
                "show",
                "",
                r["show_id"],
                r["title"],
                r["screen_name"],
                r["date_time"],
                r["currency"],
                *(r[k] for k in MONEY),
            )
            for r in rows
        ]
        table += [("day", d["day"], "", "", "", "", d["currency"], *(d[k] for k in MONEY)) for d in per_day]
        table += [("total", "", "", "", "", "", t["currency"], *(t[k] for k in MONEY)) for t in total_rows]
        return csv_response(SALES_HEADER, table, f"sales-{first}-{last}.csv")
    return json_response(
        {
            "from": first.isoformat(),
            "to": last.isoformat(),
            "timezone": request.app[SETTINGS].timezone,
            "shows": rows,
            "days": per_day,
            "totals": total_rows,
        }
    )
