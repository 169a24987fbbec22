"""Pages in a real headless Chromium: the kiosk (a seat clicked on one page turns booked on another) and
Swagger UI (log in, authorize, book, list, cancel); the kiosk's hall by rows on a desktop and a phone, with
screenshots (.pytest_cache/kiosk-*.png)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from scripts.testing import server_process
from scripts.testing.server_process import ROOT, ServerProcess

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    path = os.environ.get("CINEMA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium (.ci/run installs Debian's chromium package)")
        pytest.skip("no Chromium here: apt-get install chromium")
    return path


@pytest.fixture
def demo_server(tmp_path) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'kiosk.db'}"
    server = server_process.demo_server(url)
    yield server
    server.terminate()
    server.close()


def test_book_through_the_page_and_watch_it_on_another(demo_server: ServerProcess) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            watcher = browser.new_page()
            watcher.goto(f"{demo_server.url}/kiosk/1")
            expect(watcher.locator("#status")).to_have_text("live", timeout=15_000)
            expect(watcher.locator('[data-seat="7"]')).to_have_class("seat free cat-standard")

            kiosk = browser.new_context().new_page()
            kiosk.goto(f"{demo_server.url}/kiosk/1")
            expect(kiosk.locator('[data-seat="100"]')).to_be_visible(timeout=15_000)
            kiosk.fill("#username", "demo")
            kiosk.fill("#password", "demo-password")
            kiosk.click("#login button")
            expect(kiosk.locator("#who")).to_contain_text("demo")
            kiosk.click('[data-seat="7"]')
            expect(kiosk.locator("#message")).to_contain_text("Seat A7 is yours")
            expect(kiosk.locator('[data-seat="7"]')).to_have_class("seat mine booked cat-standard")

            # the other page never clicked anything: the seat turns booked from the live events alone
            expect(watcher.locator('[data-seat="7"]')).to_have_class("seat booked cat-standard", timeout=10_000)
            expect(watcher.locator("#counts")).to_have_text("99 of 100 free")

            kiosk.click('[data-seat="7"]')  # booked now: the page says so instead of asking again
            expect(kiosk.locator("#message")).to_contain_text("already yours")
            kiosk.screenshot(path=str(demo_server.log.with_suffix(".png")))
        finally:
            browser.close()


def test_swagger_ui_logs_in_books_lists_and_cancels(demo_server: ServerProcess) -> None:
    """What a new user does after the README's first command: everything through Swagger UI's own buttons, with
    the "Try it out" bodies as Swagger UI fills them in (the examples work on the demo data)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1400})
            page.goto(f"{demo_server.url}/swagger/")
            page.wait_for_selector(".opblock", timeout=15_000)

            def call(method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> tuple[str, Any]:
                summary = page.locator(".opblock-summary-path", has_text=re.compile("^" + re.escape(path) + "$"))
                block = page.locator(f".opblock-{method}").filter(has=summary).first
                if not block.locator(".try-out__btn").is_visible():
                    block.locator(".opblock-summary").click()
                if block.locator(".try-out__btn").inner_text().strip() == "Try it out":
                    block.locator(".try-out__btn").click()
                for name, value in (params or {}).items():
                    block.locator(f'tr[data-param-name="{name}"] input').fill(str(value))
                if body is not None:
                    block.locator("textarea.body-param__text").fill(json.dumps(body))
                block.locator(".execute").click()
                status = block.locator(".live-responses-table .response .response-col_status").first
                expect(status).to_be_visible(timeout=10_000)
                text = block.locator(".live-responses-table .response-col_description pre").first.inner_text()
                return status.inner_text().strip(), json.loads(text)

            status, tokens = call("post", "/login")  # the example body: the demo login
            assert status == "200"
            page.locator(".auth-wrapper .authorize").click()
            page.locator(".modal-ux input[type=text]").first.fill(tokens["access"])
            page.locator(".modal-ux .auth-btn-wrapper .authorize").click()
            page.locator(".modal-ux .btn-done").click()

            status, booking = call("post", "/shows/{id}/book/", None, {"id": 1})  # the example: seat 12
            assert status == "201" and booking["seat_number"] == 12
            status, hold = call("post", "/shows/{id}/hold/", None, {"id": 1})
            assert status == "201" and hold["seat_numbers"] == [20, 21]
            status, mine = call("get", "/my-bookings/")
            assert status == "200" and [b["id"] for b in mine] == [booking["id"]]
            status, cancelled = call("post", "/bookings/{id}/cancel/", None, {"id": booking["id"]})
            assert status == "200" and cancelled == {"detail": "Booking cancelled.", "booking_id": booking["id"]}
        finally:
            browser.close()


SHOTS = ROOT / ".pytest_cache"


def no_page_overflow(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"the page is {width} px wide on a {viewport} px screen"


@pytest.mark.parametrize(("device", "width", "height"), [("desktop", 1280, 900), ("phone", 390, 844)])
def test_the_kiosk_draws_rows_shows_yours_cancels_and_logs_out(
    demo_server: ServerProcess, device: str, width: int, height: int
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, is_mobile=device == "phone")
            page.goto(f"{demo_server.url}/kiosk/1")  # demo show 1: rows A to J of 3 | 4 | 3 seats, E and F premium
            expect(page.locator("#status")).to_have_text("live", timeout=15_000)
            expect(page.locator(".row")).to_have_count(10)
            expect(page.locator(".row").nth(1).locator(".row-label").first).to_have_text("B")
            seat_b3 = page.locator('[data-seat="13"]')  # seat numbers run through the rows; labels count per row
            expect(seat_b3).to_have_text("3")
            expect(seat_b3).to_have_attribute("aria-label", "Seat B3")

            page.fill("#username", "demo")
            page.fill("#password", "demo-password")
            page.click("#login button")
            expect(page.locator("#who")).to_contain_text("demo")
            expect(page.locator("#login")).to_be_hidden()
            assert page.locator("#password").input_value() == ""  # not left for the next customer

            page.click('[data-seat="45"]')
            expect(page.locator("#message")).to_contain_text("Seat E5 is yours")
            expect(page.locator('[data-seat="45"]')).to_have_class("seat mine booked cat-premium")
            expect(page.locator("#mine-list li")).to_have_text(["Seat E5 Cancel"])

            # A booking made elsewhere (here: through the API) is drawn as yours after logging in again.
            tokens = post(demo_server.url, "/login", {"username": "demo", "password": "demo-password"})
            post(demo_server.url, "/shows/1/book/", {"seat_number": 46}, tokens["access"])
            expect(page.locator('[data-seat="46"]')).to_have_class("seat booked cat-premium", timeout=10_000)
            page.click("#logout")
            expect(page.locator("#login")).to_be_visible()
            expect(page.locator('[data-seat="45"]')).to_have_class("seat booked cat-premium")
            expect(page.locator("#mine-section")).to_be_hidden()
            page.fill("#username", "demo")
            page.fill("#password", "demo-password")
            page.click("#login button")
            expect(page.locator('[data-seat="46"]')).to_have_class("seat mine booked cat-premium")
            expect(page.locator("#mine-list li")).to_have_count(2)
            no_page_overflow(page)
            page.screenshot(path=str(SHOTS / f"kiosk-{device}.png"), full_page=True)

            page.locator('[data-cancel="46"]').click()
            expect(page.locator("#message")).to_contain_text("Seat E6 is cancelled")
            expect(page.locator('[data-seat="46"]')).to_have_class("seat free cat-premium")
            expect(page.locator("#mine-list li")).to_have_count(1)
            page.locator('[data-cancel="45"]').click()
            expect(page.locator('[data-seat="45"]')).to_have_class("seat free cat-premium")
            expect(page.locator("#counts")).to_have_text("100 of 100 free")
        finally:
            browser.close()


def test_a_kiosk_for_a_show_that_does_not_exist_is_a_404_page(demo_server: ServerProcess) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            response = page.goto(f"{demo_server.url}/kiosk/999")
            assert response is not None and response.status == 404
            assert "No show 999" in page.inner_text("h1")
            assert page.locator("#status").count() == 0  # no page that reconnects forever
        finally:
            browser.close()


def test_the_kiosk_draws_a_screen_layout_with_aisles_kinds_and_prices(demo_server: ServerProcess) -> None:
    """The seat map's richer form (issue 12's screens): `positions` with aisles (null), seat kinds and categories,
    and `prices`. The server's real seat map of demo show 2 (rows A to F of 10) is given that form on its way to
    the page, so the page is held to the contract whether or not the server sends it yet."""
    from playwright.sync_api import expect, sync_playwright

    def with_positions(seat_map: dict[str, Any]) -> dict[str, Any]:
        rows = []
        for index, row in enumerate(seat_map["rows"]):
            positions: list[Any] = []
            for number in range(1, row["seats"] + 1):
                if number == 6:
                    positions.append(None)  # the aisle
                kind = (
                    "wheelchair"
                    if (index, number) == (0, 1)
                    else "companion"
                    if (index, number) == (0, 2)
                    else "standard"
                )
                category = "premium" if index >= 4 else "standard"
                seat = row["first_seat"] + number - 1
                positions.append({"seat": seat, "label": f"{row['label']}{number}", "category": category, "kind": kind})
            rows.append({**row, "positions": positions})
        prices = {"standard": {"amount": 950, "currency": "EUR"}, "premium": {"amount": 1250, "currency": "EUR"}}
        return {**seat_map, "rows": rows, "prices": prices}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            for device, viewport in (("desktop", (1280, 800)), ("phone", (390, 844))):
                page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})

                def layout(route: Any) -> None:
                    response = route.fetch()
                    route.fulfill(response=response, json=with_positions(response.json()))

                page.route("**/shows/2/seats/", layout)
                page.goto(f"{demo_server.url}/kiosk/2")
                expect(page.locator("#status")).to_have_text("live", timeout=15_000)
                expect(page.locator(".row")).to_have_count(6)
                expect(page.locator(".row").first.locator(".gap")).to_have_count(1)
                expect(page.locator('[data-seat="1"]')).to_have_class("seat free cat-standard kind-wheelchair")
                expect(page.locator('[data-seat="2"]')).to_have_class("seat free cat-standard kind-companion")
                expect(page.locator('[data-seat="41"]')).to_have_class("seat free cat-premium")
                expect(page.locator('[data-seat="47"]')).to_have_attribute("aria-label", "Seat E7")
                legend = page.locator("#legend-extra")
                expect(legend).to_contain_text("premium")
                expect(legend).to_contain_text("12.50")
                expect(legend).to_contain_text("wheelchair")
                no_page_overflow(page)
                page.screenshot(path=str(SHOTS / f"kiosk-layout-{device}.png"), full_page=True)
                page.close()
        finally:
            browser.close()


def post(url: str, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    import urllib.request

    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_the_kiosk_draws_the_demo_screen_from_the_server(demo_server: ServerProcess) -> None:
    """No stand-in this time: the server's own seat map of demo show 1 (Screen 1: rows of 3 | 4 | 3 seats with two
    aisles, premium rows E and F, wheelchair spaces with companion seats at both ends of row J), drawn in
    Chromium, with a screenshot (.pytest_cache/kiosk-layout.png). A companion seat clicked alone is refused."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{demo_server.url}/kiosk/1")
            expect(page.locator("#status")).to_have_text("live", timeout=15_000)
            expect(page.locator(".row")).to_have_count(10)
            expect(page.locator(".gap")).to_have_count(20)  # two aisles in every row
            expect(page.locator(".row").first.locator(".gap")).to_have_count(2)
            expect(page.locator('[data-seat="91"]')).to_have_class("seat free cat-standard kind-wheelchair")
            expect(page.locator('[data-seat="92"]')).to_have_class("seat free cat-standard kind-companion")
            expect(page.locator('[data-seat="100"]')).to_have_class("seat free cat-standard kind-wheelchair")
            expect(page.locator('[data-seat="45"]')).to_have_class("seat free cat-premium")
            expect(page.locator('[data-seat="91"]')).to_have_attribute("aria-label", "Seat J1")
            legend = page.locator("#legend-extra")
            expect(legend).to_contain_text("premium")
            expect(legend).to_contain_text("16.00")
            expect(legend).to_contain_text("wheelchair")
            expect(legend).to_contain_text("companion")
            page.fill("#username", "demo")
            page.fill("#password", "demo-password")
            page.click("#login button")
            expect(page.locator("#who")).to_contain_text("demo")
            page.click('[data-seat="92"]')
            expect(page.locator("#message")).to_contain_text("wheelchair space")
            expect(page.locator('[data-seat="92"]')).to_have_class("seat free cat-standard kind-companion")
            page.click('[data-seat="91"]')  # the wheelchair space itself can be booked
            expect(page.locator('[data-seat="91"]')).to_have_class("seat mine booked cat-standard kind-wheelchair")
            no_page_overflow(page)
            page.screenshot(path=str(SHOTS / "kiosk-layout.png"), full_page=True)
        finally:
            browser.close()
