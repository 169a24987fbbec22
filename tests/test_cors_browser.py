"""A page on another origin books a seat with fetch() in a real headless Chromium: through CORS when the service
lists the page's origin (CINEMA_CORS_ORIGINS), blocked by the browser when it does not."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from scripts.testing.server_process import ServerProcess, free_port, run_cinema
from tests.test_kiosk_browser import CHROMIUM_FLAGS, chromium

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Another origin</title></head><body>
<p id="out">not yet</p>
<script>
async function book(api, seat) {
  try {
    const login = await fetch(api + "/login", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({username: "demo", password: "demo-password"}),
    });
    const tokens = await login.json();
    const answers = [];
    for (const key of ["first-try", "second-try"]) {  // the second asks for the same seat again: a 409
      const booked = await fetch(api + "/shows/1/book/", {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "Authorization": "Bearer " + tokens.access,
          "Idempotency-Key": key,
          "X-Request-ID": "page-" + key,
        },
        body: JSON.stringify({seat_number: seat}),
      });
      answers.push({status: booked.status, body: await booked.json(),
                    requestId: booked.headers.get("X-Request-ID")});
    }
    return {answers};
  } catch (error) {
    return {error: String(error)};
  }
}
</script></body></html>
"""


class StaticSite:
    """The other origin: a tiny aiohttp server with the page, on its own port, in a thread of the test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: web.AppRunner | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()

        async def page(_: web.Request) -> web.Response:
            return web.Response(text=PAGE, content_type="text/html")

        app.router.add_get("/", page)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> StaticSite:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def site() -> Iterator[StaticSite]:
    with StaticSite() as running:
        yield running


@pytest.fixture
def demo_database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cors.db'}"
    for args in (["migrate"], ["seed-demo"]):
        done = run_cinema(args, url)
        assert done.returncode == 0, done.stderr
    return url


def book_from_page(browser: Any, site: StaticSite, api: ServerProcess, seat: int) -> dict[str, Any]:
    page = browser.new_context().new_page()
    page.goto(site.url)
    return page.evaluate("([api, seat]) => book(api, seat)", [api.url, seat])


def serve(database_url: str, **env: str) -> ServerProcess:
    server = ServerProcess(database_url, **env)
    server.wait_ready()
    return server


def test_a_page_on_another_origin_books_through_cors_and_is_blocked_without_it(
    site: StaticSite, demo_database: str
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            closed = serve(demo_database)  # no CINEMA_CORS_ORIGINS: the browser refuses to send the login
            try:
                blocked = book_from_page(browser, site, closed, 7)
            finally:
                closed.terminate()
                closed.close()
            assert "Failed to fetch" in blocked.get("error", ""), blocked

            opened = serve(demo_database, CINEMA_CORS_ORIGINS=site.url)
            try:
                result = book_from_page(browser, site, opened, 7)
            finally:
                opened.terminate()
                opened.close()
        finally:
            browser.close()
    assert "error" not in result, result
    first, second = result["answers"]
    assert first["status"] == 201 and first["body"]["seat_number"] == 7, first
    assert first["requestId"] == "page-first-try"  # an exposed header the page can read
    assert second["status"] == 409 and second["body"]["code"] in ("seat_taken", "already_yours"), second
