"""Reports: a show's figures equal a count made independently from the stored bookings after a mixed run, and
its CSV parses (Python's csv module) into the same numbers."""

from __future__ import annotations

import csv
import io

from sqlalchemy import text

from storage.database import open_engine
from tests.conftest import Api
from tests.test_box_office import LAYOUT, PRICES, future, post, screen_show, staff

CATEGORY = {n: p["category"] for n, p in enumerate((p for r in LAYOUT for p in r["positions"] if p), 1)}
PRICE = PRICES["prices"]


async def test_show_report_equals_an_independent_count(api: Api, database_url: str) -> None:
    setup = await screen_show(api, when=future(minutes=45))  # the door is open (60 minutes before the start)
    show, admin = setup["show"]["id"], setup["admin"]["headers"]
    ann, bob, cat = await api.user(), await api.user(), await api.user()
    door = await staff(api)
    status, order = await post(api, f"/shows/{show}/book/", {"seat_numbers": [1, 2]}, ann["headers"])
    assert status == 201
    status, premium = await post(api, f"/shows/{show}/book/", {"seat_number": 8}, bob["headers"])
    assert status == 201
    status, single = await post(api, f"/shows/{show}/book/", {"seat_number": 3}, bob["headers"])
    assert status == 201
    assert (await api.client.post(f"/bookings/{single['id']}/cancel/", headers=bob["headers"])).status == 200
    status, _ = await post(api, f"/shows/{show}/hold/", {"seat_numbers": [4]}, cat["headers"])  # stays held
    assert status == 201
    status, confirmed = await post(api, f"/shows/{show}/hold/", {"seat_numbers": [7]}, cat["headers"])
    assert (await api.client.post(f"/holds/{confirmed['hold_id']}/confirm/", headers=cat["headers"])).status == 201
    status, released = await post(api, f"/shows/{show}/hold/", {"seat_numbers": [3]}, cat["headers"])
    assert (await api.client.delete(f"/holds/{released['hold_id']}/", headers=cat["headers"])).status == 200
    assert (await post(api, f"/shows/{show}/block/", {"seat_numbers": [5]}, admin))[0] == 200
    ticket = order["bookings"][0]["ticket"]
    assert (await post(api, "/check-in/", {"code": ticket, "show_id": show}, door["headers"]))[0] == 200
    assert (await post(api, "/check-in/", {"code": premium["ticket"], "show_id": show}, door["headers"]))[0] == 200

    engine = open_engine(database_url)  # the independent count: every stored booking of the show, one by one
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT seat_number, status, checked_in_at FROM bookings WHERE show_id = :s"), {"s": show}
                )
            ).all()
    finally:
        await engine.dispose()
    expected: dict[str, dict[str, int]] = {}
    for seat, state, _ in rows:
        line = expected.setdefault(CATEGORY[seat], {"sold": 0, "refunded": 0, "gross": 0, "refunds": 0})
        line["sold"] += 1
        line["gross"] += PRICE[CATEGORY[seat]]
        if state == "cancelled":
            line["refunded"] += 1
            line["refunds"] += PRICE[CATEGORY[seat]]
    booked = sum(state == "booked" for _, state, _ in rows)
    checked_in = sum(at is not None for _, state, at in rows if state == "booked")
    assert (booked, checked_in, len(rows)) == (4, 2, 5)

    response = await api.client.get(f"/reports/shows/{show}/", headers=admin)
    assert response.status == 200, await response.text()
    report = await response.json()
    assert {k: report[k] for k in ("capacity", "booked", "held", "blocked", "free", "checked_in")} == {
        "capacity": 8,
        "booked": booked,
        "held": 1,
        "blocked": 1,
        "free": 8 - booked - 1 - 1,
        "checked_in": checked_in,
    }
    assert report["no_shows"] is None  # the film has not ended
    got = {line["category"]: line for line in report["lines"]}
    assert {c: {k: got[c][k] for k in ("sold", "refunded", "gross", "refunds")} for c in got} == expected
    assert all(line["channel"] == "online" and line["net"] == line["gross"] - line["refunds"] for line in got.values())
    assert report["totals"]["net"] == sum(v["gross"] - v["refunds"] for v in expected.values())

    for how in ({"params": {"format": "csv"}}, {"headers": {**admin, "Accept": "text/csv"}}):
        answer = await api.client.get(f"/reports/shows/{show}/", **{"headers": admin, **how})
        assert answer.status == 200 and answer.content_type == "text/csv"
        body = await answer.text()
        assert body.endswith("\r\n")
        table = list(csv.DictReader(io.StringIO(body)))
        by_category = {row["category"]: row for row in table}
        for category, figures in expected.items():
            assert {k: int(by_category[category][k]) for k in figures} == figures
        assert int(by_category["total"]["net"]) == report["totals"]["net"]
        assert all(int(row["booked"]) == booked and int(row["checked_in"]) == checked_in for row in table)

    user = await api.user()
    assert (await api.client.get(f"/reports/shows/{show}/", headers=user["headers"])).status == 403
    assert (await api.client.get("/reports/shows/999/", headers=admin)).status == 404


async def test_sales_report_equals_an_independent_count(api: Api, database_url: str) -> None:
    first = await screen_show(api)
    second = await screen_show(api)
    admin = first["admin"]["headers"]
    ann, bob = await api.user(), await api.user()
    for setup, user, seats in ((first, ann, [1, 8]), (second, bob, [2, 3, 4]), (second, ann, [5])):
        status, _ = await post(api, f"/shows/{setup['show']['id']}/book/", {"seat_numbers": seats}, user["headers"])
        assert status == 201
    status, gone = await post(api, f"/shows/{first['show']['id']}/book/", {"seat_number": 7}, bob["headers"])
    assert (await api.client.post(f"/bookings/{gone['id']}/cancel/", headers=bob["headers"])).status == 200

    engine = open_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT show_id, seat_number, status FROM bookings"))).all()
    finally:
        await engine.dispose()
    expected: dict[int, dict[str, int]] = {}
    for show_id, seat, state in rows:
        line = expected.setdefault(show_id, {"sold": 0, "refunded": 0, "gross": 0, "refunds": 0})
        line["sold"] += 1
        line["gross"] += PRICE[CATEGORY[seat]]
        line["refunded"] += state == "cancelled"
        line["refunds"] += PRICE[CATEGORY[seat]] if state == "cancelled" else 0
    for line in expected.values():
        line["net"] = line["gross"] - line["refunds"]
    total = {k: sum(line[k] for line in expected.values()) for k in ("sold", "refunded", "gross", "refunds", "net")}

    response = await api.client.get("/reports/sales/", headers=admin)  # the last 30 days, today included
    assert response.status == 200, await response.text()
    report = await response.json()
    assert {s["show_id"]: {k: s[k] for k in total} for s in report["shows"]} == expected
    assert [{k: t[k] for k in total} for t in report["totals"]] == [total] and report["totals"][0]["currency"] == "EUR"
    assert [{k: d[k] for k in total} for d in report["days"]] == [total]  # everything was sold today
    body = await (await api.client.get("/reports/sales/?format=csv", headers=admin)).text()
    table = list(csv.DictReader(io.StringIO(body)))
    assert {int(r["show_id"]): {k: int(r[k]) for k in total} for r in table if r["kind"] == "show"} == expected
    assert [{k: int(r[k]) for k in total} for r in table if r["kind"] in ("day", "total")] == [total, total]
    empty = await (await api.client.get("/reports/sales/?from=2020-01-01&to=2020-01-31", headers=admin)).json()
    assert empty["shows"] == [] and empty["totals"] == [] and empty["days"] == []
    backwards = await (await api.client.get("/reports/sales/?from=2020-02-01&to=2020-01-01", headers=admin)).json()
    assert backwards["shows"] == [] and backwards["totals"] == []
    assert (await api.client.get("/reports/sales/?from=0001-01-01&to=9999-12-31", headers=admin)).status == 200
    for query in ("from=soon", "to=2020-13-01"):
        assert (await api.client.get(f"/reports/sales/?{query}", headers=admin)).status == 400, query
    assert (await api.client.get("/reports/sales/", headers=ann["headers"])).status == 403
