"""Reports (admin): a show's occupancy, check-ins, revenue and refunds, as JSON or CSV."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apispec import docs
from marshmallow import Schema, fields

from storage.reports import Line, Reports, ShowReport
from web import schemas
from web.context import REPOSITORY
from web.http.csvio import csv_response, wants_csv
from web.http.errors import fail
from web.http.jsonio import json_response
from web.http.openapi import errors
from web.security.auth import require_admin

routes = web.RouteTableDef()
OCCUPANCY = ("capacity", "booked", "held", "blocked", "free", "checked_in", "no_shows")
MONEY = ("sold", "refunded", "gross", "refunds", "net")
CSV_HEADER = ("show_id", "title", "date_time", "currency", *OCCUPANCY, "category", "channel", "price", *MONEY)


class ReportTotals(Schema):
    sold = fields.Integer(required=True, metadata={"description": "tickets sold (live or cancelled since)"})
    refunded = fields.Integer(required=True, metadata={"description": "tickets cancelled, each refunded"})
    gross = fields.Integer(required=True)
    refunds = fields.Integer(required=True)
    net = fields.Integer(required=True)


class ReportLine(ReportTotals):
    category = fields.String(required=True)
    channel = fields.String(required=True, metadata={"description": "online (every sale today)"})
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
    description="CSV with `Accept: text/csv` or `?format=csv`: a header row, then one row per category and channel "
    "and a last row `total`, each carrying the show's occupancy (RFC 4180 quoting).",
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
    report = await Reports(request.app[REPOSITORY].database).show(schemas.path_id(request))
    if report is None:
        raise fail("unknown_show")
    lines = [_line(line) for line in report.lines]
    totals = {key: sum(line[key] for line in lines) for key in MONEY}
    occupancy = _occupancy(report)
    if wants_csv(request):
        head = (report.show_id, report.title, report.date_time.isoformat(), report.currency)
        rows = [
            (*head, *occupancy.values(), line["category"], line["channel"], line["price"], *(line[k] for k in MONEY))
            for line in lines
        ]
        rows.append((*head, *occupancy.values(), "total", "", "", *(totals[k] for k in MONEY)))
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
