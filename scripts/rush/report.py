"""`cinema rush --report`: one self-contained HTML file (inline SVG drawn here, no script, no CDN, no network),
and `--compare OLD NEW`: two runs side by side, in the terminal and in the same plots."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Run = tuple[str, dict[str, Any]]
COLORS = {"201": "#1a9850", "200": "#66bd63", "409": "#f39c12", "404": "#8e7cc3", "0": "#111111"}
OTHER = ["#d73027", "#4575b4", "#984ea3", "#a6761d", "#e7298a"]
WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 58, 26, 14, 34


def load(path: str) -> Run:
    try:
        summary = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path}: {error}") from error
    if not isinstance(summary, dict) or summary.get("version") != 2:
        raise ValueError(f"{path} is not a `cinema rush --json` file of this version")
    return Path(path).name, summary


# -- terminal ------------------------------------------------------------------------------------------------


def compare_text(runs: Sequence[Run]) -> str:
    (old_name, old), (new_name, new) = runs

    def row(label: str, a: float, b: float, unit: str = "", better: str = "higher") -> list[str]:
        ratio = f"{b / a:.2f}x" if a else "-"
        if a and b != a:
            ratio += " (better)" if (b > a) == (better == "higher") else " (worse)"
        return [label, f"{a:,.2f}{unit}", f"{b:,.2f}{unit}", ratio]

    rows = [["", old_name, new_name, "new / old"]]
    rows.append(["load", _shape(old), _shape(new), ""])
    rows.append(row("rush requests/s", old["requests_per_second"], new["requests_per_second"]))
    rows.append(row("rush 201/s", old["created_per_second"], new["created_per_second"]))
    for q in ("p50", "p90", "p99", "max"):
        rows.append(row(f"rush latency {q}", old["latency_ms"][q], new["latency_ms"][q], " ms", "lower"))
    rows.append(row("sold-out tail requests", old["phases"]["tail"]["requests"], new["phases"]["tail"]["requests"]))
    rows.append(
        row(
            "client CPU (s)",
            old["client"]["cpu_seconds"],
            new["client"]["cpu_seconds"],
            "",
            "lower",
        )
    )
    rows.append(["verdict", _verdict(old), _verdict(new), ""])
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows)


def _shape(summary: dict[str, Any]) -> str:
    if summary["mode"] == "open":
        low, high = summary["rate"]
        rate = f"{low:g}/s" if low == high else f"{low:g}->{high:g}/s"
        return f"open {rate}, {summary['procs']} procs"
    return f"closed {summary['concurrency']}, {summary['procs']} procs"


def _verdict(summary: dict[str, Any]) -> str:
    return "OK" if summary["ok"] else "FAILED"


# -- SVG -----------------------------------------------------------------------------------------------------


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _fmt(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:,.0f}k"
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2g}" if value < 1 else f"{value:.1f}"


def chart(
    title: str,
    series: list[dict[str, Any]],
    x_label: str,
    y_label: str,
    x_max: float | None = None,
    y_max: float | None = None,
    x_ticks: list[tuple[float, str]] | None = None,
    marks: list[tuple[float, str]] | None = None,
    hline: tuple[float, str] | None = None,
) -> str:
    """A line chart: series are {name, color, points [(x, y|None)], dash?, fill?}; marks are vertical lines."""
    points = [(x, y) for s in series for x, y in s["points"] if y is not None]
    x_top = x_max or max([x for x, _ in points] + [1e-9])
    y_top = y_max or _nice_max(max([y for _, y in points] + [hline[0] if hline else 0.0] + [1e-9]) * 1.05)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + inner_w * min(1.0, max(0.0, x / x_top))

    def sy(y: float) -> float:
        return TOP + inner_h * (1 - min(1.0, max(0.0, y / y_top)))

    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">',
        f'<rect x="{LEFT}" y="{TOP}" width="{inner_w}" height="{inner_h}" class="plot"/>',
    ]
    for i in range(5):
        value = y_top * i / 4
        y = sy(value)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + inner_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_fmt(value)}</text>')
    step = _nice_max(x_top / 6)
    ticks = x_ticks or [(step * i, _fmt(step * i)) for i in range(int(x_top / step + 1e-9) + 1)]
    for x, label in ticks:
        parts.append(
            f'<text x="{sx(x):.1f}" y="{TOP + inner_h + 15}" class="tick" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )
    for x, label in marks or []:
        parts.append(f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{TOP}" y2="{TOP + inner_h}" class="mark"/>')
        parts.append(f'<text x="{sx(x) + 4:.1f}" y="{TOP + 12}" class="marklabel">{html.escape(label)}</text>')
    if hline:
        y = sy(hline[0])
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + inner_w}" y1="{y:.1f}" y2="{y:.1f}" class="mark"/>')
        parts.append(f'<text x="{LEFT + 4}" y="{y - 4:.1f}" class="marklabel">{html.escape(hline[1])}</text>')
    for s in series:
        runs: list[list[tuple[float, float]]] = [[]]
        for x, y in s["points"]:
            if y is None:
                runs.append([])
            else:
                runs[-1].append((sx(x), sy(y)))
        dash = ' stroke-dasharray="6 4"' if s.get("dash") else ""
        for run in runs:
            if not run:
                continue
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            if s.get("fill") and len(run) > 1:
                area = f"{run[0][0]:.1f},{sy(0):.1f} {path} {run[-1][0]:.1f},{sy(0):.1f}"
                parts.append(f'<polygon points="{area}" fill="{s["color"]}" fill-opacity="0.12" stroke="none"/>')
            if len(run) == 1:
                x, y = run[0]
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{s["color"]}"/>')
            else:
                parts.append(
                    f'<polyline points="{path}" fill="none" stroke="{s["color"]}" stroke-width="2"{dash}'
                    ' stroke-linejoin="round"/>'
                )
    parts.append(
        f'<text x="{LEFT + inner_w / 2}" y="{HEIGHT - 4}" class="axis" text-anchor="middle">'
        f"{html.escape(x_label)}</text>"
    )
    parts.append(
        f'<text x="12" y="{TOP + inner_h / 2}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 12 {TOP + inner_h / 2})">{html.escape(y_label)}</text>'
    )
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key"><i style="background:{s["color"]}{";opacity:.55" if s.get("dash") else ""}"></i>'
        f"{html.escape(s['name'])}</span>"
        for s in series
    )
    caption = f"<figcaption>{html.escape(title)}</figcaption>"
    return f'<figure>{caption}{"".join(parts)}<div class="legend">{legend}</div></figure>'


def _status_color(status: str, index: int) -> str:
    return COLORS.get(status) or (OTHER[index % len(OTHER)] if not status.startswith("5") else "#d73027")


def _percentile_x(q: float) -> float:
    """The HdrHistogram plot's x axis: 1 / (1 - q), logarithmic, so the tail gets the room."""
    return math.log10(1 / max(1e-5, 1 - q / 100))


def plots(runs: Sequence[Run]) -> list[str]:
    many = len(runs) > 1
    rate, latency, statuses, fill, dist = [], [], [], [], []
    marks: list[tuple[float, str]] = []
    x_max = max(max(s["timeline"]["t"] or [1]) for _, s in runs)
    capacity = max(s["show"]["total_seats"] for _, s in runs)
    for number, (name, summary) in enumerate(runs):
        line = summary["timeline"]
        t = [0.0, *line["t"]]
        dash = number == 1
        suffix = f" ({name})" if many else ""
        rate.append(
            {
                "name": "requests/s" + suffix,
                "color": "#2c7fb8" if not dash else "#7b3294",
                "points": list(zip(t, [None, *line["requests_per_second"]], strict=True))[1:],
                "dash": dash,
                "fill": not many,
            }
        )
        latency.append(
            {
                "name": "p50" + suffix,
                "color": "#2c7fb8" if not dash else "#7b3294",
                "points": list(zip(line["t"], line["p50_ms"], strict=True)),
                "dash": dash,
            }
        )
        latency.append(
            {
                "name": "p99" + suffix,
                "color": "#d7301f" if not dash else "#e08214",
                "points": list(zip(line["t"], line["p99_ms"], strict=True)),
                "dash": dash,
            }
        )
        for index, (status, series) in enumerate(line["statuses"].items()):
            statuses.append(
                {
                    "name": (status if status != "0" else "no answer") + suffix,
                    "color": _status_color(status, index),
                    "points": list(zip(line["t"], series, strict=True)),
                    "dash": dash,
                }
            )
        fill.append(
            {
                "name": "seats taken" + suffix,
                "color": "#1a9850" if not dash else "#7b3294",
                "points": [(0.0, line["seats_before"]), *zip(line["t"], line["seats_taken"], strict=True)],
                "dash": dash,
                "fill": not many,
            }
        )
        dist.append(
            {
                "name": "latency" + suffix,
                "color": "#d7301f" if not dash else "#7b3294",
                "points": [(_percentile_x(q), ms) for q, ms in summary["distribution"]],
                "dash": dash,
            }
        )
        if summary["sold_out_after"] is not None:
            marks.append((summary["sold_out_after"], "sold out" + suffix))
    per_tick = [(x, _fmt(x)) for x in (0, 1, 2, 3, 4, 5)]
    labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
    return [
        chart("Requests per second (all answers)", rate, "seconds since the rush began", "req/s", x_max, marks=marks),
        chart("Latency over time: p50 and p99", latency, "seconds since the rush began", "ms", x_max, marks=marks),
        chart(
            "Answers by status over time", statuses, "seconds since the rush began", "per second", x_max, marks=marks
        ),
        chart(
            "The show filling up",
            fill,
            "seconds since the rush began",
            "seats taken",
            x_max,
            y_max=_nice_max(capacity * 1.05),
            marks=marks,
            hline=(capacity, f"capacity {capacity:,}"),
        ),
        chart(
            "Latency distribution (whole rush, merged HDR histogram)",
            dist,
            "percentile",
            "ms",
            5.0,
            x_ticks=[(x, label) for (x, _), label in zip(per_tick, labels, strict=True)],
        ),
    ]


# -- page ----------------------------------------------------------------------------------------------------

STYLE = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f4f5f7;
       color: #1d232a; }
header { background: #1d232a; color: #fff; padding: 18px 28px; }
header h1 { margin: 0; font-size: 20px; font-weight: 600; }
header p { margin: 4px 0 0; color: #b8c1cc; }
main { padding: 20px 28px 40px; max-width: 1200px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 18px; }
.card { background: #fff; border-radius: 10px; padding: 12px 16px; min-width: 150px; box-shadow: 0 1px 2px #0001; }
.card b { display: block; font-size: 22px; font-weight: 650; }
.card span { color: #5b6673; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.verdict { border-left: 6px solid; }
.verdict.ok { border-color: #1a9850; } .verdict.ok b { color: #1a9850; }
.verdict.bad { border-color: #d73027; } .verdict.bad b { color: #d73027; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
figure { margin: 0; background: #fff; border-radius: 10px; padding: 12px 14px 10px; box-shadow: 0 1px 2px #0001; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg { width: 100%; height: auto; display: block; }
svg .plot { fill: #fbfbfc; stroke: #d9dde2; }
svg .grid { stroke: #e6e9ed; }
svg .tick { font-size: 10px; fill: #5b6673; }
svg .axis { font-size: 11px; fill: #3a434d; }
svg .mark { stroke: #8a94a0; stroke-dasharray: 3 3; }
svg .marklabel { font-size: 10px; fill: #5b6673; }
.legend { display: flex; flex-wrap: wrap; gap: 12px; font-size: 12px; color: #3a434d; margin-top: 2px; }
.key i { display: inline-block; width: 12px; height: 3px; margin-right: 5px; vertical-align: middle; }
table { border-collapse: collapse; background: #fff; border-radius: 10px; overflow: hidden; box-shadow: 0 1px 2px #0001;
        margin: 18px 0; width: 100%; }
th, td { text-align: left; padding: 7px 12px; border-bottom: 1px solid #eef0f2; vertical-align: top; }
th { background: #fafbfc; font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; }
h2 { font-size: 16px; margin: 26px 0 8px; }
h3 { font-size: 13px; margin: 10px 0 2px; color: #3a434d; }
ul.checks { list-style: none; padding: 0; margin: 8px 0; }
ul.checks li { padding: 6px 2px; border-bottom: 1px solid #eef0f2; }
ul.checks li b { display: inline-block; width: 22px; }
ul.checks li.pass b { color: #1a9850; } ul.checks li.fail { color: #d73027; font-weight: 600; }
p.note { color: #5b6673; margin: 6px 0 0; }
"""


def _card(label: str, value: str, extra: str = "") -> str:
    return f'<div class="card {extra}"><span>{html.escape(label)}</span><b>{html.escape(value)}</b></div>'


def _phase_rows(summary: dict[str, Any]) -> list[list[str]]:
    names = {
        "setup": "setup (not timed)",
        "login_storm": "login storm",
        "warmup": "warm-up (seat-map reads)",
        "rush": "rush (until sold out)",
        "tail": "sold-out tail",
    }
    rows = []
    for key, label in names.items():
        phase = summary["phases"].get(key)
        if phase is None:
            continue
        if key == "setup":
            rows.append([label, f"{phase['seconds']:.2f} s", "", "", "", ""])
            continue
        lat = phase["latency_ms"]
        statuses = ", ".join(f"{k}: {v:,}" for k, v in phase["statuses"].items()) or "-"
        rows.append(
            [
                label,
                f"{phase['seconds']:.2f} s",
                f"{phase['requests']:,}",
                f"{phase['requests_per_second']:,.0f}",
                f"{lat['p50']} / {lat['p99']} / {lat['max']} ms",
                statuses,
            ]
        )
    return rows


def _table(head: list[str], rows: list[list[str]]) -> str:
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f'<td class="num">{html.escape(c)}</td>' for c in row) + "</tr>" for row in rows)
    return f"<table>{f'<tr>{header}</tr>' if any(head) else ''}{body}</table>"


def _checks(summary: dict[str, Any]) -> list[list[str]]:
    inv = summary["invariants"]
    return [
        ["no seat booked twice", "yes" if not inv["seats_twice"] else "NO: " + ", ".join(map(str, inv["seats_twice"]))],
        ["not over capacity", "yes" if not inv["over_capacity"] else "NO"],
        ["every 201 still booked (none lost)", "yes" if not inv["lost"] else f"NO: {len(inv['lost'])} lost"],
        ["every 200 cancel really cancelled", "yes" if not inv["ghost_cancels"] else "NO"],
        ["seat map shows every seat the rush holds", "yes" if not inv["missing_from_map"] else "NO"],
        ["available_seats agrees with the seat map", "yes" if inv["available_matches"] else "NO"],
        ["no 5xx", "yes" if not summary["server_errors"] else f"NO: {summary['server_errors']}"],
    ]


def verdict_panel(runs: Sequence[Run]) -> str:
    """The invariants, read back through the API after the rush, as the sixth tile beside the plots."""
    parts = []
    for name, summary in runs:
        inv = summary["invariants"]
        head = f"<h3>{html.escape(name)}</h3>" if len(runs) > 1 else ""
        items = "".join(
            f'<li class="{"pass" if result == "yes" else "fail"}"><b>{"✓" if result == "yes" else "✗"}</b>'
            f"{html.escape(check)}{'' if result == 'yes' else ': ' + html.escape(result)}</li>"
            for check, result in _checks(summary)
        )
        show = (
            f"Show {summary['show_id']}: {inv['seats_booked']} of {inv['total_seats']} seats booked at the end, "
            f"{inv['by_this_rush']} of them by this rush's users."
        )
        parts.append(f'{head}<ul class="checks">{items}</ul><p class="note">{html.escape(show)}</p>')
    return f"<figure><figcaption>Invariants (read back through the API)</figcaption>{''.join(parts)}</figure>"


def _run_section(name: str, summary: dict[str, Any], many: bool) -> str:
    inv, client, show = summary["invariants"], summary["client"], summary["show"]
    busy = ", ".join(f"{b:.0f}%" for b in client["cpu_percent_per_process"])
    details = [
        [
            "load",
            _shape(summary)
            + f", pattern {summary['pattern']}, mix "
            + ", ".join(f"{k}={v:g}" for k, v in summary["mix"].items()),
        ],
        ["service", summary["base_url"]],
        [
            "show",
            f"{summary['show_id']}: {inv['seats_booked']} of {inv['total_seats']} booked at the end "
            f"({inv['by_this_rush']} by this rush's users, {show['booked_before']} before), {show['held_after']} held, "
            f"{show['blocked']} blocked",
        ],
        [
            "client CPU",
            f"{busy} of a core per load process, {client['cores']} cores"
            + (" - the client may be the limit" if client["likely_the_limit"] else ""),
        ],
        ["client errors", ", ".join(f"{k}: {v}" for k, v in summary["client_errors"].items()) or "none"],
    ]
    conflicts = summary.get("conflicts")  # runs recorded before the split have none
    if conflicts:
        cap = summary.get("seats_per_user")
        details.append(
            [
                "409s",
                f"{conflicts['contended']:,} contended (seat taken, sold out), {conflicts['seat_limit']:,} seat_limit "
                f"(the per-customer cap{f' of {cap}' if cap else ''})",
            ]
        )
    title = f"<h2>{html.escape(name)}</h2>" if many else ""
    return (
        title
        + "<h2>Phases</h2>"
        + _table(["phase", "time", "requests", "req/s", "p50 / p99 / max", "statuses"], _phase_rows(summary))
        + "<h2>Run</h2>"
        + _table(["", ""], details)
    )


def page(runs: Sequence[Run]) -> str:
    many = len(runs) > 1
    cards = []
    for name, summary in runs:
        suffix = f" · {name}" if many else ""
        ok = summary["ok"]
        cards.append(_card("verdict" + suffix, "OK" if ok else "FAILED", "verdict " + ("ok" if ok else "bad")))
        cards.append(_card("rush requests/s" + suffix, f"{summary['requests_per_second']:,.0f}"))
        cards.append(_card("201/s" + suffix, f"{summary['created_per_second']:,.0f}"))
        cards.append(_card("p99" + suffix, f"{summary['latency_ms']['p99']:,} ms"))
        sold = summary["sold_out_after"]
        cards.append(_card("sold out after" + suffix, f"{sold:.2f} s" if sold is not None else "not sold out"))
    first = runs[0][1]
    subtitle = (
        "compare: " + " vs ".join(html.escape(name) for name, _ in runs)
        if many
        else f"{html.escape(_shape(first))} against {html.escape(first['base_url'])}, show {first['show_id']}"
    )
    latency_note = (
        "Open loop: each latency runs from the request's intended start (no coordinated omission)."
        if any(s["mode"] == "open" for _, s in runs)
        else "Closed loop: each latency runs from the moment the request was sent."
    )
    sections = "".join(_run_section(name, summary, many) for name, summary in runs)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>cinema rush report</title><style>{STYLE}</style></head>
<body><header><h1>cinema rush</h1><p>{subtitle}</p></header>
<main><div class="cards">{"".join(cards)}</div>
<p>{latency_note} Requests/s and latency figures are the rush phase's; the sold-out tail (after the last seat was
taken) is counted apart.</p>
<div class="grid2">{"".join(plots(runs))}{verdict_panel(runs)}</div>
{sections}
</main></body></html>
"""


def write(path: str, runs: Sequence[Run]) -> None:
    Path(path).write_text(page(runs))
