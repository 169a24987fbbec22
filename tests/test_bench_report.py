"""`cinema bench` rewrites only the sections of the benchmarks it ran; the rest of docs/BENCHMARKS.md stays."""

from __future__ import annotations

import subprocess
import sys

from scripts.bench.http_path import Pairs, Spread, WrkFigure
from scripts.bench.main import BENCHES, ROOT, update_report

DOC = """# Benchmarks

<!-- bench:engine -->
old engine
<!-- /bench:engine -->

<!-- bench:http -->
old http
<!-- /bench:http -->

## Hand-written notes
kept
"""


def test_a_section_is_replaced_in_place_and_the_others_stay() -> None:
    text = update_report(DOC, "http", "## 2. HTTP\nnew http")
    assert "old http" not in text and "## 2. HTTP\nnew http\n<!-- /bench:http -->" in text
    assert "old engine" in text and text.endswith("## Hand-written notes\nkept\n")
    assert update_report(text, "http", "## 2. HTTP\nnew http") == text  # rerunning is stable


def test_a_new_section_goes_after_the_last_one_before_the_notes() -> None:
    text = update_report(DOC, "attacks", "## 5. Attacks\nfigures")
    assert text.index("<!-- /bench:http -->") < text.index("<!-- bench:attacks -->") < text.index("## Hand-written")
    assert text.count("kept") == 1
    assert (
        update_report("# Benchmarks\n", "engine", "x")
        == "# Benchmarks\n\n<!-- bench:engine -->\nx\n<!-- /bench:engine -->\n"
    )


def test_pairs_report_ratio_spread_per_pair() -> None:
    def figure(rate: float, p99: float) -> WrkFigure:
        return WrkFigure("x", int(rate * 10), 10.0, 1.0, 2.0, p99, 9.0, 0, 0)

    pairs = Pairs(
        100, [figure(1000, 5), figure(2000, 6), figure(1000, 7)], [figure(700, 9), figure(1000, 8), figure(600, 40)]
    )
    assert pairs.ratios == Spread(0.5, 0.6, 0.7)
    assert pairs.p99(pairs.b) == Spread(8, 9, 40)
    assert pairs.ratios.format(".2f") == "0.60 (0.50-0.70)"


def test_unknown_benchmark_is_one_clear_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "bench", "--only", "nope"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"cinema bench: unknown benchmark nope; choose from {', '.join(BENCHES)}"
