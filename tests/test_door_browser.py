"""The door page in Debian's Chromium against a real `cinema serve`: staff log in, pick today's show, and a ticket
is admitted once and refused the second time, typed and through the camera (Chromium's fake capture device fed
a y4m video of the ticket's QR code, made here). A screenshot goes to docs/door.png."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.testing.fake_camera import empty_frame, qr_frame, write_y4m
from scripts.testing.server_process import ROOT, ServerProcess, run_cinema
from tests.test_kiosk_browser import CHROMIUM_FLAGS, chromium

RESCAN_SECONDS = 1  # the API's window for the same scanner's second read (5 s by default), short for the test
DOOR_SHOW = 3  # demo show 3 starts 40 minutes after seeding: its door is open


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    url = f"sqlite:///{tmp_path_factory.mktemp('door') / 'door.db'}"
    for args in (["migrate"], ["seed-demo"]):
        done = run_cinema(args, url)
        assert done.returncode == 0, done.stdout + done.stderr
    process = ServerProcess(url, CINEMA_DOOR_RESCAN_SECONDS=str(RESCAN_SECONDS))
    process.wait_ready()
    yield process
    process.terminate()
    process.close()


def call(url: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    request = urllib.request.Request(url + path, method=method)
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def ticket(url: str, show_id: int, seat: int) -> str:
    tokens = call(url, "POST", "/login", {"username": "demo", "password": "demo-password"})
    return call(url, "POST", f"/shows/{show_id}/book/", {"seat_number": seat}, tokens["access"])["ticket"]


def open_door(page: Any, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/door/")
    page.fill("#username", "door")
    page.fill("#password", "door-password")
    page.click("#login button")
    expect(page.locator(f'[data-show="{DOOR_SHOW}"]')).to_contain_text("Midnight Matinee")
    page.click(f'[data-show="{DOOR_SHOW}"]')
    expect(page.locator("#show-title")).to_contain_text("Midnight Matinee")
    expect(page.locator("#count")).to_have_text(re.compile(r"^\d+ admitted / \d+ sold$"))


def count(page: Any) -> tuple[int, int]:
    admitted, sold = re.findall(r"\d+", page.inner_text("#count"))
    return int(admitted), int(sold)


def test_a_typed_ticket_is_admitted_once_then_refused(server: ServerProcess) -> None:
    from playwright.sync_api import expect, sync_playwright

    code = ticket(server.url, DOOR_SHOW, 21)
    elsewhere = ticket(server.url, 1, 7)  # demo show 1: tomorrow
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            open_door(page, server.url)
            before = count(page)
            verdict = page.locator("#verdict")

            page.fill("#code", code.lower())  # typed by hand: the case does not matter
            page.press("#code", "Enter")
            expect(verdict).to_have_attribute("data-verdict", "admitted")
            expect(page.locator("#verdict-title")).to_have_text("ADMITTED")
            expect(page.locator("#verdict-detail")).to_have_text("demo · C5 · Adult")
            expect(page.locator("#count")).to_have_text(f"{before[0] + 1} admitted / {before[1]} sold")
            page.screenshot(path=str(ROOT / "docs" / "door.png"))

            # pressed twice at once: the same admission, not "used" (the API's re-scan window for this scanner)
            page.fill("#code", code)
            page.press("#code", "Enter")
            expect(page.locator("#log li")).to_have_count(2)
            expect(verdict).to_have_attribute("data-verdict", "admitted")
            expect(page.locator("#count")).to_have_text(f"{before[0] + 1} admitted / {before[1]} sold")

            page.wait_for_timeout(RESCAN_SECONDS * 1000 + 200)
            page.fill("#code", code)
            page.press("#code", "Enter")
            expect(verdict).to_have_attribute("data-verdict", "refused")
            expect(page.locator("#verdict-title")).to_have_text("REFUSED")
            expect(page.locator("#verdict-detail")).to_have_text(re.compile(r"^Used at \d\d:\d\d · C5$"))
            expect(page.locator("#count")).to_have_text(f"{before[0] + 1} admitted / {before[1]} sold")

            page.fill("#code", elsewhere)
            page.press("#code", "Enter")
            expect(page.locator("#verdict-detail")).to_have_text(
                re.compile(r"^For another show: Screen 1 · \d\d:\d\d$")
            )
            page.fill("#code", code.split("-")[0] + "-AAAAAAAAAAAAAAAAAAAAAAAA")
            page.press("#code", "Enter")
            expect(verdict).to_have_attribute("data-reason", "Unknown")
            expect(page.locator("#log li")).to_have_count(5)
        finally:
            browser.close()


def test_the_camera_admits_a_ticket_once_and_refuses_it_when_shown_again(server: ServerProcess, tmp_path: Path) -> None:
    """The fake camera plays the QR for a second (five frames: the page reads it many times and sends it once),
    then an empty view for two, then the QR again: a new scan, past the API's window, so REFUSED (used)."""
    from playwright.sync_api import expect, sync_playwright

    code = ticket(server.url, DOOR_SHOW, 22)
    width, height, fps = 320, 240, 5
    shown, empty = qr_frame(code, width, height), empty_frame(width, height)
    video = write_y4m(tmp_path / "ticket.y4m", [shown] * fps + [empty] * 2 * fps, width, height, fps)
    flags = [
        *CHROMIUM_FLAGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=flags)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.grant_permissions(["camera"], origin=server.url)
            page = context.new_page()
            open_door(page, server.url)
            before = count(page)
            page.click("#camera-toggle")
            expect(page.locator("#camera-status")).to_contain_text("Camera on")
            if not page.evaluate("'BarcodeDetector' in window"):  # Chromium on Linux: the vendored jsQR decodes
                assert page.get_attribute("#camera-status", "data-decoder") == "jsqr"
            verdict = page.locator("#verdict")
            expect(verdict).to_have_attribute("data-verdict", "admitted", timeout=10_000)
            expect(page.locator("#verdict-detail")).to_have_text("demo · C6 · Adult")
            expect(verdict).to_have_attribute("data-verdict", "refused", timeout=10_000)
            expect(page.locator("#verdict-detail")).to_have_text(re.compile(r"^Used at \d\d:\d\d · C6$"))
            log = page.locator("#log li")
            verdicts = log.evaluate_all("items => items.map(item => item.dataset.verdict)")
            assert verdicts[-1] == "admitted" and verdicts.count("admitted") == 1, verdicts  # one admission only
            assert count(page) == (before[0] + 1, before[1])
            page.click("#camera-toggle")
            expect(page.locator("#video")).to_be_hidden()
        finally:
            browser.close()
