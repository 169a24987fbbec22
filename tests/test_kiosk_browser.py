"""The kiosk page in a real headless Chromium: log in, click a seat, see it turn booked on a second page."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

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
