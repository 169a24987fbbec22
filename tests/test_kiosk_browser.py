"""Pages in a real headless Chromium: the kiosk (a seat clicked on one page turns booked on another) and
Swagger UI (log in, authorize, book, list, cancel)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from scripts.server_process import ServerProcess, run_cinema

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
    for args in (["migrate"], ["seed-demo"]):
        assert run_cinema(args, url).returncode == 0
    server = ServerProcess(url)
    server.wait_ready()
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
            expect(watcher.locator('[data-seat="7"]')).to_have_class("seat free")

            kiosk = browser.new_context().new_page()
            kiosk.goto(f"{demo_server.url}/kiosk/1")
            expect(kiosk.locator('[data-seat="100"]')).to_be_visible(timeout=15_000)
            kiosk.fill("#username", "demo")
            kiosk.fill("#password", "demo-password")
            kiosk.click("#login button")
            expect(kiosk.locator("#who")).to_contain_text("demo")
            kiosk.click('[data-seat="7"]')
            expect(kiosk.locator("#message")).to_contain_text("Seat 7 is yours")
            expect(kiosk.locator('[data-seat="7"]')).to_have_class("seat mine booked")

            # the other page never clicked anything: the seat turns booked from the live events alone
            expect(watcher.locator('[data-seat="7"]')).to_have_class("seat booked", timeout=10_000)
            expect(watcher.locator("#counts")).to_have_text("99 of 100 free")

            kiosk.click('[data-seat="7"]')  # booked now: the page says so instead of asking again
            expect(kiosk.locator("#message")).to_contain_text("already yours")
            kiosk.screenshot(path=str(demo_server.log.with_suffix(".png")))
        finally:
            browser.close()


def test_swagger_ui_logs_in_books_lists_and_cancels(demo_server: ServerProcess) -> None:
    """What a new user does after the README's first command: everything through Swagger UI's own buttons."""
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

            status, tokens = call("post", "/login", {"username": "demo", "password": "demo-password"})
            assert status == "200"
            page.locator(".auth-wrapper .authorize").click()
            page.locator(".modal-ux input[type=text]").first.fill(tokens["access"])
            page.locator(".modal-ux .auth-btn-wrapper .authorize").click()
            page.locator(".modal-ux .btn-done").click()

            status, booking = call("post", "/shows/{id}/book/", {"seat_number": 12}, {"id": 1})
            assert status == "201" and booking["seat_number"] == 12
            status, mine = call("get", "/my-bookings/")
            assert status == "200" and [b["id"] for b in mine] == [booking["id"]]
            status, cancelled = call("post", "/bookings/{id}/cancel/", None, {"id": booking["id"]})
            assert status == "200" and cancelled == {"detail": "Booking cancelled.", "booking_id": booking["id"]}
        finally:
            browser.close()
