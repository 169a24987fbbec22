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
            kiosk.click("#confirm-book")  # after the seat and its price are shown
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
            page.click("#confirm-book")
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
            page.click("#confirm-book")
            expect(page.locator("#message")).to_contain_text("wheelchair space")
            expect(page.locator('[data-seat="92"]')).to_have_class("seat free cat-standard kind-companion")
            page.click('[data-seat="91"]')  # the wheelchair space itself can be booked
            page.click("#confirm-book")
            expect(page.locator('[data-seat="91"]')).to_have_class("seat mine booked cat-standard kind-wheelchair")
            no_page_overflow(page)
            page.screenshot(path=str(SHOTS / "kiosk-layout.png"), full_page=True)
        finally:
            browser.close()


# --- issue 24: the kiosk names its show, confirms the price, shows the ticket, signs up, and a shared kiosk forgets
IDLE_SECONDS = 4  # the shared kiosk's idle logout (60 s by default), short for the test
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def kiosk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo with an admin, a short idle time, and a wide hall (three rows of 40 seats) showing at the same
    time as demo show 1, so that each kiosk lists the other among the day's shows."""
    url = f"sqlite:///{tmp_path_factory.mktemp('kiosk') / 'kiosk.db'}"
    admin_password = {"CINEMA_ADMIN_PASSWORD": "boss-password"}
    for args, extra in ((["migrate"], {}), (["seed-demo"], {}), (["create-admin", "boss"], admin_password)):
        done = server_process.run_cinema(args, url, **extra)
        assert done.returncode == 0, done.stdout + done.stderr
    server = ServerProcess(url, CINEMA_KIOSK_IDLE_SECONDS=str(IDLE_SECONDS))
    server.wait_ready()
    admin = post(server.url, "/login", {"username": "boss", "password": "boss-password"})["access"]
    rows = [{"label": label, "positions": [{"label": f"{label}{n}"} for n in range(1, 41)]} for label in "ABC"]
    screen = post(server.url, "/screens/", {"name": "Wide", "rows": rows}, admin)
    movie = post(server.url, "/movies/", {"title": "Panorama", "duration_minutes": 90}, admin)
    show_1 = get(server.url, "/shows/1/")
    body = {"screen_id": screen["id"], "date_time": show_1["date_time"], "prices": {"standard": 900}, "currency": "EUR"}
    wide = post(server.url, f"/movies/{movie['id']}/shows/", body, admin)
    yield {"url": server.url, "wide": wide["id"], "show_1": show_1}
    server.terminate()
    server.close()


def get(url: str, path: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(url + path, timeout=10) as response:
        return json.loads(response.read())


def wait_until(condition: Any, seconds: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)


def log_in(page: Any, username: str = "demo", password: str = "demo-password") -> None:
    from playwright.sync_api import expect

    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login button[type=submit]")
    expect(page.locator("#who")).to_contain_text(username)


def test_the_kiosk_names_its_show_confirms_the_price_and_shows_the_ticket(kiosk_server: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = kiosk_server["url"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{url}/kiosk/1")
            expect(page.locator("#film")).to_have_text("The Grand Premiere")
            expect(page.locator("#screen-name")).to_have_text("Screen 1")
            start = page.evaluate(
                "iso => new Date(iso).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', hour12: false})",
                kiosk_server["show_1"]["date_time"],
            )
            expect(page.locator("#when")).to_contain_text(start)
            other = page.locator(f'#other-list a[data-show="{kiosk_server["wide"]}"]')  # the same day's other show
            expect(other).to_contain_text("Panorama")
            expect(other).to_have_attribute("href", f"/kiosk/{kiosk_server['wide']}")

            log_in(page)
            page.click('[data-seat="55"]')  # F5, premium: the seat, its category and price before anything is booked
            expect(page.locator("#confirm")).to_be_visible()
            expect(page.locator("#confirm-seat")).to_have_text("Seat F5")
            expect(page.locator("#confirm-price")).to_contain_text("16.00")
            expect(page.locator('[data-seat="55"]')).to_have_class("seat free cat-premium chosen")
            page.click("#confirm-cancel")
            expect(page.locator("#confirm")).to_be_hidden()
            expect(page.locator('[data-seat="55"]')).to_have_class("seat free cat-premium")

            page.click('[data-seat="54"]')
            expect(page.locator("#confirm-price")).to_contain_text("16.00")
            page.click("#confirm-book")
            expect(page.locator("#message")).to_contain_text("Seat F4 is yours")
            expect(page.locator("#ticket-text")).to_contain_text("Seat F4 · Adult · ")
            expect(page.locator("#ticket-code")).to_have_text(re.compile(r"^\d+-[A-Z2-7]+$"))
            qr = page.locator("#ticket-qr")
            expect(qr).to_have_attribute("src", re.compile(r"^/tickets/\d+-[A-Z2-7]+/qr\.svg$"))
            wait_until(lambda: qr.evaluate("img => img.complete && img.naturalWidth > 0"))  # the QR image loaded
            page.screenshot(path=str(SHOTS / "kiosk-ticket.png"), full_page=True)

            other.click()  # the other show, one tap away
            expect(page.locator("#film")).to_have_text("Panorama")
        finally:
            browser.close()


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param({"prices": {"standard": {"adult": 1200, "child": 800}}, "currency": "EUR"}, id="numbers"),
        pytest.param(
            {
                "prices": {
                    "standard": {
                        "amount": 1200,
                        "currency": "EUR",
                        "types": {
                            "adult": {"amount": 1200, "currency": "EUR"},
                            "child": {"amount": 800, "currency": "EUR"},
                        },
                    }
                }
            },
            id="seat-map",
        ),
        pytest.param(
            {"prices": {"standard": {"adult": {"amount": 1200, "currency": "EUR"}, "child": {"amount": 800}}}},
            id="amounts",
        ),
    ],
)
def test_the_kiosk_offers_ticket_types_when_the_prices_give_them(
    kiosk_server: dict[str, Any], shape: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    """Prices per ticket type, in either shape, are given to the page's seat map of demo show 2 on its way: the page
    offers the types with their prices and books with `ticket_types`. The request reaches the real server as sent
    (the demo's shows are priced per ticket type too), so the booking and its type are real."""
    from playwright.sync_api import expect, sync_playwright

    url = kiosk_server["url"]
    sent: list[dict[str, Any]] = []

    def typed_prices(route: Any) -> None:
        response = route.fetch()
        seat_map = {k: v for k, v in response.json().items() if k not in ("prices", "currency")}
        route.fulfill(response=response, json={**seat_map, **shape})

    def book(route: Any) -> None:
        body = json.loads(route.request.post_data)
        sent.append(body)
        route.continue_()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.route("**/shows/2/seats/", typed_prices)
            page.route("**/shows/2/book/", book)
            page.goto(f"{url}/kiosk/2")
            expect(page.locator("#legend-extra")).to_contain_text("child")
            log_in(page)
            seat = {"numbers": 3, "seat-map": 5}.get(request.node.callspec.id, 4)
            page.click(f'[data-seat="{seat}"]')
            options = [re.compile("^Adult — .*12.00"), re.compile("^Child — .*8.00")]
            expect(page.locator("#confirm-type option")).to_have_text(options)
            expect(page.locator("#confirm-price")).to_contain_text("12.00")
            page.select_option("#confirm-type", "child")
            expect(page.locator("#confirm-price")).to_contain_text("8.00")
            page.click("#confirm-book")
            expect(page.locator("#message")).to_contain_text(f"Seat A{seat} is yours")
            assert sent == [{"seat_numbers": [seat], "ticket_types": ["child"]}]
            expect(page.locator("#ticket-text")).to_contain_text(f"Seat A{seat} · Child")
        finally:
            browser.close()


def test_a_customer_signs_up_on_the_kiosk(kiosk_server: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
            page.goto(f"{kiosk_server['url']}/kiosk/1")
            page.click("#signup-open")
            page.fill("#signup-username", "newcomer")
            page.fill("#signup-email", "newcomer@example.com")
            page.fill("#signup-password", "password")  # the policy refuses it, and the page says why
            page.click("#signup button[type=submit]")
            expect(page.locator("#message")).to_contain_text("common")
            page.fill("#signup-password", "a-long-kiosk-password")
            page.click("#signup button[type=submit]")
            expect(page.locator("#who")).to_contain_text("newcomer")
            expect(page.locator("#signup")).to_be_hidden()
            expect(page.locator("#message")).to_contain_text("Welcome, newcomer")
        finally:
            browser.close()


def test_a_shared_kiosk_forgets_the_customer_on_reload_and_when_idle(kiosk_server: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = kiosk_server["url"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{url}/kiosk/1?shared=1")
            expect(page.locator('[data-seat="61"]')).to_be_visible()
            log_in(page)
            idle = page.locator("#idle")
            expect(idle).to_contain_text(re.compile(rf"logging out in [1-{IDLE_SECONDS}] s"))
            page.click('[data-seat="61"]')
            page.click("#confirm-book")
            expect(page.locator("#ticket")).to_be_visible()
            stored = "[sessionStorage.length, localStorage.length]"
            assert page.evaluate(stored) == [0, 0]  # nothing written for the next customer to find

            page.reload()  # the next customer reloads: logged out, nothing of the last one left
            expect(page.locator("#login")).to_be_visible()
            expect(page.locator("#session")).to_be_hidden()
            expect(page.locator("#ticket")).to_be_hidden()
            expect(page.locator('[data-seat="61"]')).to_have_class("seat booked cat-standard")  # no longer "yours"
            assert page.evaluate(stored) == [0, 0]

            log_in(page)
            expect(idle).to_be_visible()
            page.wait_for_timeout(1500)
            left = int(idle.get_attribute("data-left") or 0)
            assert left < IDLE_SECONDS, left  # counting down
            page.mouse.click(5, 5)  # a touch starts the count again
            expect(idle).to_have_attribute("data-left", str(IDLE_SECONDS))
            expect(page.locator("#login")).to_be_visible(timeout=(IDLE_SECONDS + 3) * 1000)
            expect(page.locator("#message")).to_contain_text(f"Logged out after {IDLE_SECONDS} s")
            expect(idle).to_be_hidden()
            expect(page.locator("#mine-section")).to_be_hidden()
            assert page.input_value("#username") == ""
        finally:
            browser.close()


def seat_sizes(page: Any) -> list[tuple[float, float]]:
    return page.eval_on_selector_all(
        "#seats .seat", "seats => seats.map(s => { const r = s.getBoundingClientRect(); return [r.width, r.height]; })"
    )


@pytest.mark.parametrize(("device", "width", "height"), [("desktop", 1280, 800), ("phone", 390, 844)])
def test_seats_are_finger_sized_and_a_wide_hall_scrolls_with_a_hint(
    kiosk_server: dict[str, Any], device: str, width: int, height: int
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = kiosk_server["url"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, is_mobile=device == "phone")
            page.goto(f"{url}/kiosk/1")
            expect(page.locator("#film")).to_have_text("The Grand Premiere")
            expect(page.locator(".row")).to_have_count(10)
            sizes = seat_sizes(page)
            assert len(sizes) == 100 and min(min(s) for s in sizes) >= 40, min(sizes)
            no_page_overflow(page)
            if device == "phone":
                expect(page.locator("#scroll-hint")).to_be_visible()  # 3 | 4 | 3 seats of 40 px: wider than 390
            else:
                expect(page.locator("#scroll-hint")).to_be_hidden()
            page.screenshot(path=str((DOCS / "kiosk-phone.png") if device == "phone" else SHOTS / "kiosk-desktop.png"))

            page.goto(f"{url}/kiosk/{kiosk_server['wide']}")  # 40 seats a row
            expect(page.locator(".row")).to_have_count(3)
            expect(page.locator("#scroll-hint")).to_be_visible()
            sizes = seat_sizes(page)
            assert len(sizes) == 120 and min(min(s) for s in sizes) >= 40
            no_page_overflow(page)  # the hall scrolls inside its box, never the page
            hall = page.locator("#hall")
            assert hall.evaluate("h => h.scrollWidth > h.clientWidth")
            first, last = page.locator('[data-seat="1"]'), page.locator('[data-seat="40"]')
            assert 0 <= first.bounding_box()["x"] and last.bounding_box()["x"] > width  # A1 in view, A40 beyond
            page.screenshot(path=str(SHOTS / f"kiosk-wide-{device}.png"))
            hall.evaluate("h => { h.scrollLeft = h.scrollWidth; }")
            expect(hall).to_have_class(re.compile(r"(^|\s)at-end(\s|$)"))  # (the page's CSP forbids eval'd waits)
            box = last.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, box  # every seat can be reached
            assert first.bounding_box()["x"] < 0
        finally:
            browser.close()
