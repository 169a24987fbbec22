"""`cinema rush`'s results: the load processes' histograms merged exactly, the phases, the timeline, the
invariants read back through the API, and the summary as JSON and as a table."""

from __future__ import annotations

import base64
import os
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from hdrh.histogram import HdrHistogram

from scripts.rush.load import Shared, histogram, latency_ms
from scripts.rush.setup import RushConfig, RushError, Target, detail_of, request_json

PLOT_POINTS = 100
BUSY_CLIENT = 0.85  # a load process busier than this share of a core is likely the limit, not the server


@dataclass
class Verdict:
    seats_booked: int  # on the show, from its seat map, whoever booked them
    by_this_rush: int
    total_seats: int
    seats_twice: list[int]
    over_capacity: bool
    lost: list[int]  # answered 201 (and not cancelled) but not booked on the server
    ghost_cancels: list[int]  # answered 200 on cancel but still booked
    missing_from_map: list[int]  # seats this rush holds that the seat map does not show booked
    available_matches: bool

    @property
    def ok(self) -> bool:
        return not (
            self.seats_twice or self.over_capacity or self.lost or self.ghost_cancels or self.missing_from_map
        ) and (self.available_matches)


# -- merging and summing up ----------------------------------------------------------------------------------


def merge(encoded: list[bytes | None], digits: int = 3) -> HdrHistogram:
    merged = histogram(digits)
    for item in encoded:
        if item is not None:
            merged.add(HdrHistogram.decode(item))
    return merged


def distribution(hist: HdrHistogram) -> list[list[float]]:
    """(percentile, ms) points for the latency distribution plot, denser towards the tail."""
    if hist.get_total_count() == 0:
        return []
    points = [0.0, 10, 25, 50, 75, 90, 95, 97.5, 99, 99.5, 99.75, 99.9, 99.95, 99.99, 99.999, 100.0]
    return [[q, round(hist.get_value_at_percentile(q) / 1000, 3)] for q in points]


def timeline(results: list[dict[str, Any]], booked_before: int) -> dict[str, Any]:
    width = max(r["timeline"]["width"] for r in results)
    span = max(len(r["timeline"]["statuses"]) * r["timeline"]["width"] for r in results)
    while span / width > PLOT_POINTS:  # wider buckets for long runs: a plot needs ~100 points, not thousands
        width *= 2
    length = max(1, int(span / width + 0.999))
    statuses: list[Counter[int]] = [Counter() for _ in range(length)]
    hists: list[list[bytes | None]] = [[] for _ in range(length)]
    seats = [0] * length
    for result in results:
        line = result["timeline"]
        factor = round(width / line["width"])
        for index, counts in enumerate(line["statuses"]):
            statuses[min(length - 1, index // factor)].update(counts)
            hists[min(length - 1, index // factor)].append(line["hists"][index])
            seats[min(length - 1, index // factor)] += line["seats"][index]
    t, rates, p50, p99, booked = [], [], [], [], []
    per_status: dict[str, list[float]] = {str(s): [] for s in sorted({s for c in statuses for s in c})}
    taken = booked_before
    for index in range(length):
        merged = merge(hists[index], 2)
        t.append(round((index + 1) * width, 3))
        rates.append(round(sum(statuses[index].values()) / width, 1))
        for status, series in per_status.items():
            series.append(round(statuses[index].get(int(status), 0) / width, 1))
        count = merged.get_total_count()
        p50.append(round(merged.get_value_at_percentile(50) / 1000, 2) if count else None)
        p99.append(round(merged.get_value_at_percentile(99) / 1000, 2) if count else None)
        taken += seats[index]
        booked.append(taken)
    return {
        "width": width,
        "t": t,
        "requests_per_second": rates,
        "statuses": per_status,
        "p50_ms": p50,
        "p99_ms": p99,
        "seats_taken": booked,
        "seats_before": booked_before,
    }


def phase_figures(results: list[dict[str, Any]], phase: str, seconds: float) -> tuple[dict[str, Any], HdrHistogram]:
    hist = merge([r["phases"][phase]["hist"] for r in results])
    statuses: Counter[int] = Counter()
    for r in results:
        statuses.update({int(k): v for k, v in r["phases"][phase]["statuses"].items()})
    requests = sum(statuses.values())
    actions = sum(r["phases"][phase]["actions"] for r in results)
    figures = {
        "seconds": round(seconds, 3),
        "actions": actions,
        "requests": requests,
        "requests_per_second": round(requests / seconds, 1) if seconds > 0 else 0.0,
        "created_per_second": round(statuses.get(201, 0) / seconds, 1) if seconds > 0 else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": latency_ms(hist),
    }
    return figures, hist


async def verify(
    session: aiohttp.ClientSession,
    config: RushConfig,
    target: Target,
    headers: list[dict[str, str]],
    booked: dict[int, int],
    cancelled: set[int],
    uncertain: set[int],
    after: dict[str, Any],
) -> Verdict:
    """Read the outcome back through the API, as any client could, and check the invariants."""
    live: dict[int, int] = {}
    seats: list[int] = []
    for user_headers in headers:
        status, bookings = await request_json(session, "GET", f"{config.base_url}/my-bookings/", headers=user_headers)
        if status != 200:
            raise RushError(f"reading bookings back failed: {status} {detail_of(bookings)}")
        for booking in bookings:
            if booking["show"]["id"] == target.show_id and booking["status"] == "booked":
                live[booking["id"]] = booking["seat_number"]
                seats.append(booking["seat_number"])
    on_map = after["booked"]
    twice = sorted(
        {seat for seat, count in Counter(seats).items() if count > 1}
        | {seat for seat, count in Counter(on_map).items() if count > 1}
    )
    _, detail = await request_json(session, "GET", f"{config.base_url}/movies/{target.movie_id}/shows/")
    available = next(s["available_seats"] for s in detail["shows"] if s["id"] == target.show_id)
    taken = len(set(on_map)) + len(after["held"]) + len(after["blocked"])
    return Verdict(
        seats_booked=len(set(on_map)),
        by_this_rush=len(set(seats)),
        total_seats=target.total_seats,
        seats_twice=twice,
        over_capacity=taken > target.total_seats,
        lost=sorted(b for b in booked if b not in cancelled | uncertain and b not in live),
        ghost_cancels=sorted(b for b in cancelled if b in live),
        missing_from_map=sorted(set(seats) - set(on_map)),
        available_matches=available <= target.total_seats - len(set(on_map)),
    )


def rate_text(rate: tuple[float, float] | None) -> str:
    if not rate:
        return "-"
    low, high = rate
    return f"{low:g}" if low == high else f"{low:g} -> {high:g}"


def summarize(
    config: RushConfig,
    target: Target,
    procs: int,
    results: list[dict[str, Any]],
    shared: Shared,
    before: dict[str, Any],
    after: dict[str, Any],
    verdict: Verdict,
    setup_seconds: float,
    storm: dict[str, Any] | None,
    parent_cpu: float,
) -> dict[str, Any]:
    rush_start = results[0]["rush_start"]
    end = max([r["last_answer"] for r in results] + [rush_start])
    sold_out = shared.sold_out_at.value
    rush_end = min(sold_out, end) if sold_out else end
    phases: dict[str, Any] = {"setup": {"seconds": round(setup_seconds, 3)}}
    if storm:
        phases["login_storm"] = storm
    if config.warmup:
        phases["warmup"], _ = phase_figures(results, "warmup", config.warmup)
    phases["rush"], rush_hist = phase_figures(results, "rush", rush_end - rush_start)
    phases["tail"], tail_hist = phase_figures(results, "tail", end - rush_end if sold_out else 0.0)
    everything = histogram()
    everything.add(rush_hist)
    everything.add(tail_hist)
    statuses: Counter[int] = Counter()
    kinds: dict[str, Counter[int]] = {}
    errors: Counter[str] = Counter()
    for r in results:
        for phase in ("rush", "tail"):
            statuses.update({int(k): v for k, v in r["phases"][phase]["statuses"].items()})
        for kind, counts in r["kinds"].items():
            kinds.setdefault(kind, Counter()).update(counts)
        errors.update(r["errors"])
    fives = sum(n for status, n in statuses.items() if status >= 500 and not (status == 503 and config.allow_503))
    seat_limit = sum(r.get("seat_limit", 0) for r in results)
    cores = os.cpu_count() or 1
    busy = [round(r["cpu_seconds"] / max(1e-9, r["wall_seconds"]) * 100, 1) for r in results]
    rush_phase = phases["rush"]
    return {
        "version": 2,
        "base_url": config.base_url,
        "show_id": target.show_id,
        "mode": "open" if config.rate else "closed",
        "rate": list(config.rate) if config.rate else None,
        "duration": config.duration,
        "concurrency": config.concurrency,
        "procs": procs,
        "pattern": config.pattern,
        "mix": config.mix,
        "users": config.users,
        "retries": config.retries,
        "sold_out_after": round(sold_out - rush_start, 3) if sold_out else None,
        "phases": phases,
        # headline figures: the rush phase alone (the sold-out tail's 409s are in phases.tail)
        "requests": rush_phase["requests"] + phases["tail"]["requests"],
        "seconds": round(end - rush_start, 3),
        "requests_per_second": rush_phase["requests_per_second"],
        "created_per_second": rush_phase["created_per_second"],
        "latency_ms": rush_phase["latency_ms"],
        "latency_ms_all": latency_ms(everything),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "kinds": {kind: {str(k): v for k, v in sorted(c.items())} for kind, c in kinds.items()},
        "client_errors": dict(errors),
        # 409s apart: a lost race for a seat (or sold out) against the per-customer cap (CINEMA_MAX_SEATS_PER_USER)
        "conflicts": {"contended": statuses.get(409, 0) - seat_limit, "seat_limit": seat_limit},
        "seats_per_user": before.get("max_seats_per_user"),
        "retried": sum(r["retried"] for r in results),
        "client": {
            "procs": procs,
            "cores": cores,
            "cpu_percent_per_process": busy,
            "cpu_seconds": round(sum(r["cpu_seconds"] for r in results) + parent_cpu, 3),
            "likely_the_limit": any(b >= BUSY_CLIENT * 100 for b in busy),
        },
        "show": {
            "total_seats": target.total_seats,
            "booked_before": len(before["booked"]),
            "booked_after": len(after["booked"]),
            "held_after": len(after["held"]),
            "blocked": len(after["blocked"]),
            "rows": target.rows,
        },
        "timeline": timeline(results, len(before["booked"]) + len(before["held"]) + len(before["blocked"])),
        "distribution": distribution(everything),
        "histogram": base64.b64encode(everything.encode()).decode(),
        "invariants": {**asdict(verdict), "ok": verdict.ok},
        "server_errors": fives,
        "ok": verdict.ok and fives == 0,
    }


def render(summary: dict[str, Any]) -> str:
    phases = summary["phases"]
    rush_phase, tail = phases["rush"], phases["tail"]
    inv, show, client = summary["invariants"], summary["show"], summary["client"]

    def lat(figures: dict[str, Any]) -> str:
        lat = figures["latency_ms"]
        return f"{lat['p50']} / {lat['p90']} / {lat['p99']} / {lat['max']} ms"

    def statuses(figures: dict[str, Any]) -> str:
        return ", ".join(f"{k}: {v:,}" for k, v in figures["statuses"].items()) or "none"

    shape = (
        f"open loop at {rate_text(tuple(summary['rate']))} arrivals/s (latency from each intended start)"
        if summary["mode"] == "open"
        else f"closed loop, {summary['concurrency']} in flight"
    )
    procs = f"{summary['procs']} load process" + ("es" if summary["procs"] > 1 else "")
    rows = [("load", f"{shape}; {procs}; {summary['pattern']} seats")]
    rows.append(("setup", f"{phases['setup']['seconds']:.1f} s (not timed)"))
    if "login_storm" in phases:
        storm = phases["login_storm"]
        rows.append(
            (
                "login storm",
                f"{storm['requests']} logins in {storm['seconds']:.2f} s; {statuses(storm)}; p99 "
                f"{storm['latency_ms']['p99']} ms",
            )
        )
    if "warmup" in phases:
        warm = phases["warmup"]
        rows.append(("warm-up (seat-map reads)", f"{warm['requests']:,} in {warm['seconds']:.1f} s; {statuses(warm)}"))
    rows += [
        (
            "rush",
            f"{rush_phase['requests']:,} requests in {rush_phase['seconds']:.2f} s: "
            f"{rush_phase['requests_per_second']:,.0f} requests/s "
            f"(201s alone: {rush_phase['created_per_second']:,.0f}/s)",
        ),
        ("rush statuses", statuses(rush_phase)),
        ("rush latency p50/p90/p99/max", lat(rush_phase)),
    ]
    if summary["sold_out_after"] is not None:
        rows += [
            ("sold out after", f"{summary['sold_out_after']:.2f} s"),
            (
                "sold-out tail (not in req/s)",
                f"{tail['requests']:,} requests in {tail['seconds']:.2f} s; {statuses(tail)}; latency {lat(tail)}",
            ),
        ]
    else:
        rows.append(("sold out", "no (the show still had seats at the end)"))
    if len(summary["kinds"]) > 1:
        rows.append(
            (
                "actions by kind",
                "; ".join(
                    f"{kind} " + ", ".join(f"{k}: {v:,}" for k, v in counts.items())
                    for kind, counts in summary["kinds"].items()
                ),
            )
        )
    conflicts = summary.get("conflicts")
    if conflicts and (conflicts["contended"] or conflicts["seat_limit"]):
        cap = summary.get("seats_per_user")
        rows.append(
            (
                "409s",
                f"{conflicts['contended']:,} contended (seat taken, sold out), {conflicts['seat_limit']:,} seat_limit "
                f"(the per-customer cap{f' of {cap}' if cap else ''}: more users would have booked them)",
            )
        )
    rows += [
        ("client errors", ", ".join(f"{k}: {v}" for k, v in summary["client_errors"].items()) or "none"),
    ]
    if summary["retries"]:
        rows.append(("retries (Idempotency-Key)", f"{summary['retried']:,}"))
    busy = ", ".join(f"{b:.0f}%" for b in client["cpu_percent_per_process"])
    rows.append(
        (
            "client CPU",
            f"{busy} of a core per load process ({client['cores']} cores)"
            + (" - the CLIENT may be the limit" if client["likely_the_limit"] else ""),
        )
    )
    rows += [
        (
            "show",
            f"{summary['show_id']}: {inv['seats_booked']} of {inv['total_seats']} booked "
            f"({inv['by_this_rush']} by this rush's users, {show['booked_before']} before it), "
            f"{show['held_after']} held, {show['blocked']} blocked",
        ),
        ("any seat twice", ", ".join(map(str, inv["seats_twice"])) or "no"),
        ("over capacity", "YES" if inv["over_capacity"] else "no"),
        ("confirmed but lost", ", ".join(map(str, inv["lost"])) or "none"),
        ("verdict", "OK" if summary["ok"] else "FAILED"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
