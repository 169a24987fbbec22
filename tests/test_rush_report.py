"""`cinema rush --report` and `--compare`: one self-contained HTML file, rendered in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.testing.server_process import ROOT, ServerProcess, run_cinema
from tests.test_kiosk_browser import CHROMIUM_FLAGS, chromium

SHOTS = ROOT / ".pytest_cache"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two real rushes (closed loop, then an open-loop ramp with the whole mix), each with --json and --report."""
    folder = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{folder / 'report.db'}"
    for args in (["migrate"], ["create-admin", "boss", "--password", "boss-password"]):
        assert run_cinema(args, url).returncode == 0
    server = ServerProcess(url)
    server.wait_ready()
    common = ["--url", server.url, "--admin-user", "boss", "--admin-password", "boss-password", "--users", "8"]
    try:
        for name, extra in (
            ("old", ["--seats", "300", "--requests", "1500", "--concurrency", "50", "--warmup", "0.3s"]),
            ("new", ["--seats", "300", "--rate", "100:900", "--duration", "2s", "--login-storm",
                     "--mix", "single=5,multi=2,best=1,hold=1,cancel=1", "--warmup", "0.3s"]),
        ):  # fmt: skip
            result = subprocess.run(
                [sys.executable, "-m", "scripts.cli", "rush", *common, *extra, "--json", str(folder / f"{name}.json"),
                 "--report", str(folder / f"{name}.html")],
                cwd=ROOT, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert result.returncode == 0, result.stdout + result.stderr
    finally:
        server.terminate()
        server.close()
    yield folder


def test_report_is_one_self_contained_file(runs: Path) -> None:
    page = (runs / "new.html").read_text()
    assert page.count("<svg") == 5 and "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from anywhere
    assert "@import" not in page and "url(" not in page


def test_report_renders_in_chromium(runs: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            for name in ("new", "compare"):
                if name == "compare":
                    result = subprocess.run(
                        [sys.executable, "-m", "scripts.cli", "rush", "--compare", str(runs / "old.json"),
                         str(runs / "new.json"), "--report", str(runs / "compare.html")],
                        cwd=ROOT, capture_output=True, text=True, timeout=60,
                    )  # fmt: skip
                    assert result.returncode == 0, result.stderr
                    for words in ("rush requests/s", "rush latency p99", "old.json", "new.json", "verdict"):
                        assert words in result.stdout
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                requested: list[str] = []
                page.on("request", lambda request, seen=requested: seen.append(request.url))
                page.goto((runs / f"{name}.html").as_uri())
                assert all(url.startswith("file://") for url in requested), requested
                figures = page.locator("figure")
                assert figures.count() == 6  # five plots and the invariants
                for index in range(5):
                    box = figures.nth(index).locator("svg").bounding_box()
                    assert box and box["width"] > 300 and box["height"] > 100
                    # every plot drew something: a line or (for a single bucket) a point
                    assert figures.nth(index).locator("polyline, circle").count() >= (2 if name == "compare" else 1)
                assert page.locator(".verdict b").first.inner_text() == "OK"
                assert page.locator("ul.checks li.pass").count() == 7 * (2 if name == "compare" else 1)
                assert "sold-out tail" in page.inner_text("body")
                if name == "new":
                    assert "login storm" in page.inner_text("body") and "warm-up" in page.inner_text("body")
                page.screenshot(path=str(SHOTS / f"rush-report-{name}.png"), full_page=True)
                assert (SHOTS / f"rush-report-{name}.png").stat().st_size > 20_000
        finally:
            browser.close()


def test_compare_refuses_what_is_not_a_rush_file(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    result = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "rush", "--compare", str(other), str(tmp_path / "missing.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "not a `cinema rush --json` file" in result.stderr
    assert "Traceback" not in result.stderr
