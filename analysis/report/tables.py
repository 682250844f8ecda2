"""Summary tables as plain strings, shared by the terminal and the HTML report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agentload.analysis.run_analysis import Json, RunAnalysis
from agentload.analysis.throughput import KINDS
from agentload.analysis.wallclock import iso
from agentload.traceformat import schema as s

MAX_TURN_ROWS = 30


@dataclass(frozen=True)
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    # (row, column) -> a style name of STYLES, coloured in the terminal and the HTML
    styles: dict[tuple[int, int], str] = field(default_factory=dict)


# style name -> rich style (the HTML uses the name as a CSS class)
STYLES = {"regressed": "bold red", "improved": "bold green", "noise": "dim"}


def num(value: Any, digits: int = 4) -> str:
    """A readable number: '—' for missing, thousands separators for large values."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def pct(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):.1f}%"


def _dist_row(name: str, d: Json) -> list[str]:
    return [name, num(d["count"]), *(num(v) for k, v in d.items() if k != "count")]


def overview(summary: Json) -> Table:
    req, sess, info = summary["requests"], summary["sessions"], summary["info"]
    rows = [
        ["status", summary["status"]],
        ["target", str(info.get("target", "—"))],
        ["model", str(info.get("model", "—"))],
        ["source", str(info.get("source", "—"))],
        ["started (UTC)", (summary.get("clock") or {}).get("start_utc") or "—"],
        ["ended (UTC)", (summary.get("clock") or {}).get("end_utc") or "—"],
        ["duration (s)", num(summary["throughput"]["duration_s"])],
        ["steady-state window", (summary.get("window") or {}).get("description", "—")],
        ["requests (measured / warmup)", f"{num(req['measured'])} / {num(req['warmup'])}"],
        ["requests failed", num(req["errors"])],
        ["sessions (completed / total)", f"{num(sess['completed'])} / {num(sess['total'])}"],
    ]
    return Table("Run", ["", "value"], rows)


def latency(summary: Json) -> Table:
    lat, sess = summary["latency"], summary["sessions"]
    rows = [
        _dist_row("TTFT (ms)", lat["ttft_ms"]),
        _dist_row("ITL (ms)", lat["itl_ms"]),
        _dist_row("TPOT (ms)", lat["tpot_ms"]),
        _dist_row("E2E request (ms)", lat["e2e_ms"]),
        _dist_row("session latency (s)", sess["latency_s"]),
        _dist_row("TTFAT (s)", sess["ttfat_s"]),
    ]
    shown = [k for k in lat["ttft_ms"] if k != "count"]  # the points analyzed (--percentiles)
    return Table("Latency", ["metric", "n", *shown], rows)


def throughput(summary: Json) -> Table:
    tp = summary["throughput"]
    gpus = tp["gpus"]
    headers = ["tokens/s (requests/s)", "overall", "last 30 s", "steady state"]
    if gpus:
        headers += [f"steady / GPU ({gpus})"]
    rows = []
    for kind in KINDS:
        label = "requests (req/s)" if kind == "requests" else kind
        row = [label, *(num(tp[f"{kind}_{k}"]) for k in ("tps", "tps_last30s", "tps_steady"))]
        if gpus:
            row.append(num(tp[f"{kind}_tps_steady_per_gpu"]))
        rows.append(row)
    return Table("Throughput", headers, rows)


def cache(summary: Json) -> Table:
    c = summary["cache"]
    rows = [
        ["observed (Σ cached / Σ prompt)", pct(c["cache_hit_rate"])],
        ["eligible (Σ cached / Σ eligible)¹", pct(c["eligible_cache_hit_rate"])],
        ["theoretical (profile hash_ids)", pct(c["theoretical_cache_hit_rate"])],
    ]
    rows.append(["¹ above 100% when calls hit prefixes cached by other sessions", ""])
    return Table("Prefix cache", ["", "hit rate"], rows)


def goodput(summary: Json) -> Table | None:
    g = summary["goodput"]
    if g is None:
        return None
    rows = [
        ["SLO", g["slo"]],
        ["sessions meeting SLO", f"{num(g['good_sessions'])} / {num(g['sessions'])}"],
        ["fraction", pct(g["good_fraction"])],
        ["good sessions / s", num(g["good_sessions_per_s"])],
        ["good completion tokens / s", num(g["good_completion_tps"])],
    ]
    return Table("Goodput", ["", "value"], rows)


def cpu_usage(cpu: Any) -> str:
    """Client CPU as recorded by replay: a number, {name: seconds}, or per worker
    {worker: {"cpu_s", "wall_s", "utilization"}}."""
    if not isinstance(cpu, dict):
        return num(cpu) + (" s" if cpu is not None else "")
    parts = []
    for key, value in cpu.items():
        if isinstance(value, dict) and "cpu_s" in value:
            share = value.get("utilization")
            share_text = f" ({100 * share:.0f}% of a core)" if isinstance(share, float) else ""
            parts.append(
                f"worker {key}: {num(value['cpu_s'])} s over {num(value.get('wall_s'))} s"
                + share_text
            )
        else:
            parts.append(f"{key}: {num(value)} s")
    return "; ".join(parts)


def errors(summary: Json) -> Table | None:
    """Failed requests by kind and distinct message (analysis.failures), None without any."""
    rows = [
        [kind, num(entry["count"]), entry["message"] or "(other messages)"]
        for kind, entries in summary["requests"]["error_messages"].items()
        for entry in entries
    ]
    return Table("Errors", ["kind", "count", "message"], rows) if rows else None


def diagnostics(summary: Json) -> Table:
    d = summary["diagnostics"]
    lag = d["schedule_lag_ms"]
    cpu_text = cpu_usage(d["client_cpu_s"])
    rows = [
        [
            "schedule lag p50 / p99 / max (ms)",
            " / ".join(num(lag[k]) for k in ("p50", "p99", "max")),
        ],
        ["intended rate", num(d["intended_rate"])],
        ["achieved rate", num(d["achieved_rate"])],
        ["client CPU", cpu_text or "—"],
    ]
    return Table("Self-diagnosis (client)", ["", "value"], rows)


def turns(a: RunAnalysis) -> Table:
    t = a.turns.head(MAX_TURN_ROWS)
    rows = [
        [
            num(r[s.CALL_INDEX]),
            num(r["requests"]),
            num(r["errors"]),
            num(r["ttft_p50_ms"]),
            num(r["ttft_p99_ms"]),
            num(r["tpot_p50_ms"]),
            num(r["e2e_p50_ms"]),
        ]
        for r in t.iter_rows(named=True)
    ]
    more = a.turns.height - t.height
    title = "Per turn index" + (f" (first {MAX_TURN_ROWS}; {more} more)" if more > 0 else "")
    headers = ["turn", "requests", "errors", "TTFT p50", "TTFT p99", "TPOT p50", "E2E p50"]
    return Table(title + " (ms)", headers, rows)


def info_table(summary: Json) -> Table:
    """Every META_INFO entry in full (the HTML wraps long values); start_wall_ns also as
    ISO 8601 UTC."""
    rows = [[str(k), _text(k, v)] for k, v in sorted(summary["info"].items())]
    return Table("Run metadata", ["key", "value"], rows or [["—", "no metadata recorded"]])


def _text(key: str, value: object) -> str:
    if key == "start_wall_ns" and isinstance(value, int):
        return f"{iso(value)} ({value})"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def lengths(summary: Json) -> Table:
    """Served against asked-for lengths (analysis.lengths)."""
    rows = []
    for side, got in summary["lengths"].items():
        verdict = "FAILED" if got["failed"] else ("ok" if got["requests"] else "—")
        counts = [num(got["requests"]), num(got["off"]), pct(got["off_share"])]
        rows.append([side, *counts, _signed(got), verdict])
    headers = ["tokens", "requests", "off", "share off", "drift", "check"]
    return Table("Lengths (served vs asked for)", headers, rows)


def _signed(got: Json) -> str:
    drift = got["drift"]
    return "—" if drift is None else f"{100 * drift:+.1f}%"


def all_tables(a: RunAnalysis) -> list[Table]:
    sm = a.summary
    tables = [overview(sm), latency(sm), throughput(sm), cache(sm), lengths(sm)]
    if (g := goodput(sm)) is not None:
        tables.append(g)
    if (e := errors(sm)) is not None:
        tables.append(e)
    tables.append(diagnostics(sm))
    if a.turns.height:
        tables.append(turns(a))
    return tables
