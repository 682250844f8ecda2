"""Everything computed from one result file: frames for charts and a JSON-able summary."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from agentload.analysis.failures import error_messages
from agentload.analysis.goodput import Slo, goodput
from agentload.analysis.lengths import length_check, length_warnings
from agentload.analysis.requests import itl_samples, measured, request_metrics
from agentload.analysis.sessions import (
    cache_excess_warning,
    cache_summary,
    session_metrics,
    turn_metrics,
)
from agentload.analysis.throughput import KINDS, cumulative_completion, throughput
from agentload.analysis.timeseries import bin_width, binned, concurrency
from agentload.analysis.wallclock import iso, offset_ns, utc_columns
from agentload.analysis.window import duration_option, run_window
from agentload.base.errors import FormatError
from agentload.providers.api import shown_headers
from agentload.traceformat import io
from agentload.traceformat import schema as s
from agentload.traceformat.distribution import POINTS, summarize

type Json = dict[str, Any]


@dataclass(frozen=True)
class RunData:
    """A result file's rows and the metadata the analysis needs."""

    path: str
    frame: pl.DataFrame
    info: dict[str, object] = field(default_factory=dict)
    complete: bool = True
    truncated: bool = False
    engine_metrics: list[dict[str, Any]] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)


def _json_meta(path: str, metadata: dict[str, str], key: bytes, default: Any) -> Any:
    raw = metadata.get(key.decode())
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise FormatError(f"{path}: metadata {key.decode()} is not valid JSON") from None


def load(path: str | os.PathLike[str]) -> RunData:
    """Read a result file (stream or file format, possibly partial)."""
    loaded = io.read(path, s.Kind.RESULT)
    where = str(path)
    engine = _json_meta(where, loaded.metadata, s.META_ENGINE_METRICS, [])
    diag = _json_meta(where, loaded.metadata, s.META_DIAGNOSTICS, {})
    complete = loaded.metadata.get(s.META_COMPLETE.decode(), "false").lower() == "true"
    return RunData(
        path=where,
        frame=loaded.frame,
        info=_without_credentials(loaded.info),
        complete=complete and not loaded.truncated,
        truncated=loaded.truncated,
        engine_metrics=engine if isinstance(engine, list) else [],
        diagnostics=diag if isinstance(diag, dict) else {},
    )


def _without_credentials(info: dict[str, object]) -> dict[str, object]:
    """`info` with credential header values masked: files written before replay masked
    them (issue 14) hold `--header 'Authorization: ...'` in clear, and a report must not
    show it. Other header values are left as they were recorded."""
    options = info.get("options")
    headers = options.get("headers") if isinstance(options, dict) else None
    if not isinstance(options, dict) or not isinstance(headers, list):
        return info
    pairs = [h for h in headers if isinstance(h, list) and len(h) == 2]
    shown = shown_headers(pairs, public=[str(name) for name, _ in pairs])
    return info | {"options": options | {"headers": shown}}


def gpus_of(info: dict[str, object]) -> int | None:
    """GPU count recorded by replay (``info["gpus"]`` or ``info["options"]["gpus"]``)."""
    options = info.get("options")
    for source in (info, options if isinstance(options, dict) else {}):
        value = source.get("gpus")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return int(value)
    return None


@dataclass(frozen=True)
class RunAnalysis:
    data: RunData
    summary: Json
    requests: pl.DataFrame
    sessions: pl.DataFrame
    turns: pl.DataFrame
    itl: pl.DataFrame
    cumulative: pl.DataFrame
    bins: pl.DataFrame
    concurrency: pl.DataFrame
    bin_width_s: float


def analyze(
    data: RunData,
    slo: Slo | None = None,
    gpus: int | None = None,
    points: Sequence[str] = POINTS,
) -> RunAnalysis:
    """Compute every metric of docs/analysis.md for one run; latency distributions as
    `points` (traceformat.distribution: count, mean, pNN..., max)."""
    frame = data.frame
    offset = offset_ns(data.info, frame)
    requests = request_metrics(frame).with_columns(utc_columns(offset))
    sessions = session_metrics(frame)
    window = run_window(frame, duration_option(data.info))
    tput = throughput(frame, window).row(0, named=True)
    duration = float(tput["duration_s"] or 0.0)
    width = bin_width(duration)
    gpu_count = gpus if gpus is not None else gpus_of(data.info)
    summary: Json = {
        "file": data.path,
        "complete": data.complete,
        "truncated": data.truncated,
        "info": data.info,
        "clock": _clock(requests, offset),
        "requests": _request_counts(frame),
        "sessions": _session_summary(sessions, points),
        "latency": {
            "ttft_ms": summarize(requests, "ttft_ms", points),
            "tpot_ms": summarize(requests, "tpot_ms", points),
            "itl_ms": summarize(itl := itl_samples(frame), "itl_ms", points),
            "e2e_ms": summarize(requests, "e2e_ms", points),
        },
        "throughput": _throughput(tput, gpu_count),
        "window": None if window is None else window.as_json(),
        "cache": cache_summary(frame),
        "lengths": length_check(frame),
        "goodput": _goodput(sessions, slo, duration),
        "diagnostics": _diagnostics(requests, data.diagnostics),
    }
    summary["status"] = run_status(summary)
    summary["notes"] = notes(summary)
    return RunAnalysis(
        data=data,
        summary=summary,
        requests=requests,
        sessions=sessions,
        turns=turn_metrics(frame),
        itl=itl,
        cumulative=cumulative_completion(frame),
        bins=binned(frame, width),
        concurrency=concurrency(frame, width, duration),
        bin_width_s=width,
    )


def _clock(requests: pl.DataFrame, offset: int | None) -> Json:
    """The run's first send and last end as ISO 8601 UTC (analysis.wallclock)."""
    first, last = requests.select(pl.col(s.T_SENT_NS).min(), pl.col(s.T_END_NS).max()).row(0)

    def at(ns: int | None) -> str | None:
        return None if offset is None or ns is None else iso(ns + offset)

    return {"offset_ns": offset, "start_utc": at(first), "end_utc": at(last)}


def _request_counts(frame: pl.DataFrame) -> Json:
    rows = measured(frame)
    errors = rows.filter(pl.col(s.STATUS) != "ok")
    kinds = errors.group_by(pl.col(s.ERROR_KIND).fill_null("unknown")).len().sort(s.ERROR_KIND)
    return {
        "total": frame.height,
        "warmup": frame.height - rows.height,
        "measured": rows.height,
        "ok": rows.height - errors.height,
        "errors": errors.height,
        "errors_by_kind": dict(zip(kinds[s.ERROR_KIND], kinds["len"], strict=True)),
        "error_messages": error_messages(rows),
    }


def _session_summary(sessions: pl.DataFrame, points: Sequence[str]) -> Json:
    return {
        "total": sessions.height,
        "completed": int(sessions["completed"].sum()),
        "with_errors": int((sessions["errors"] > 0).sum()),
        "latency_s": summarize(sessions, "latency_s", points),
        "ttfat_s": summarize(sessions, "ttfat_s", points),
    }


def _throughput(row: dict[str, Any], gpus: int | None) -> Json:
    out: Json = {
        "duration_s": row["duration_s"],
        "gpus": gpus,
        "steady_from_s": row["steady_from_s"],
        "steady_to_s": row["steady_to_s"],
    }
    for kind in KINDS:
        for suffix in ("tps", "tps_last30s", "tps_steady"):
            value = row[f"{kind}_{suffix}"]
            out[f"{kind}_{suffix}"] = value
            if gpus:
                per_gpu = None if value is None else value / gpus
                out[f"{kind}_{suffix}_per_gpu"] = per_gpu
    return out


def _goodput(sessions: pl.DataFrame, slo: Slo | None, duration: float) -> Json | None:
    if slo is None or slo.empty:
        return None
    row = goodput(sessions, slo, duration).row(0, named=True)
    return {"slo": slo.describe(), **row}


def _diagnostics(requests: pl.DataFrame, recorded: dict[str, Any]) -> Json:
    return {
        "schedule_lag_ms": summarize(requests, "schedule_lag_ms"),
        "intended_rate": recorded.get("intended_rate"),
        "achieved_rate": recorded.get("achieved_rate"),
        "client_cpu_s": recorded.get("client_cpu_s"),
        "outcome": recorded.get("outcome"),  # replay.outcome, over every row (warmup too)
        "calibration": recorded.get("calibration"),  # how text prompts were sized
        "warnings": list(recorded.get("warnings") or []),
    }


def run_status(summary: Json) -> str:
    """The run's state as the report opens with it: complete, PARTIAL, or FAILED when no
    request succeeded, the start failed, or more failed than the run's --max-error-rate."""
    outcome = summary["diagnostics"].get("outcome") or {}
    req = summary["requests"]
    ok, failed, total = (
        (outcome["ok"], outcome["failed"], outcome["requests"])
        if outcome
        else (req["ok"], req["errors"], req["measured"])
    )
    if outcome.get("stopped_early"):
        return f"FAILED: {ok} of {total} ok (stopped early: the first requests all failed)"
    state = "complete" if summary["complete"] else "PARTIAL"
    if total and not ok and failed:  # an interrupted run of cancelled rows only: PARTIAL
        return ("FAILED" if summary["complete"] else "PARTIAL, FAILED") + f": 0 of {total} ok"
    options = summary["info"].get("options")
    limit = options.get("max_error_rate") if isinstance(options, dict) else None
    share = outcome.get("error_share")
    if isinstance(limit, int | float) and isinstance(share, int | float) and share > limit:
        return f"{state}, FAILED: {share:.1%} of requests failed (--max-error-rate {limit:g})"
    return state


def notes(summary: Json) -> list[str]:
    """Plain-language caveats shown at the top of every report."""
    out: list[str] = []
    if summary["truncated"]:
        out.append("Partial run: the result file ends mid-stream (the replay was killed).")
    elif (summary["diagnostics"].get("outcome") or {}).get("stopped_early"):
        out.append("Stopped early: the run's first requests all failed (see Errors).")
    elif not summary["complete"]:
        out.append("Partial run: the replay did not finish normally (not marked complete).")
    req = summary["requests"]
    if req["errors"]:
        kinds = ", ".join(f"{k}: {v}" for k, v in req["errors_by_kind"].items())
        out.append(
            f"{req['errors']} of {req['measured']} requests failed ({kinds}); failed requests "
            "are counted here and excluded from latency metrics."
        )
    sess = summary["sessions"]
    if sess["total"] == 1:
        out.append("Single session: distributions and concurrency describe one session only.")
    if sess["total"] and sess["completed"] < sess["total"]:
        out.append(
            f"{sess['total'] - sess['completed']} of {sess['total']} sessions did not complete "
            "(failed call, warmup, or run ended first): no session latency for them."
        )
    if req["measured"] == 0:
        out.append("No measured requests: nothing to analyse.")
    checks = length_warnings(summary["lengths"], summary["diagnostics"].get("calibration"))
    if (excess := cache_excess_warning(summary["cache"])) is not None:
        checks.append(excess)
    out.extend(checks)
    # what replay recorded, less what was just computed again from the same rows
    recorded = summary["diagnostics"]["warnings"]
    out.extend(f"Replay warning: {w}" for w in recorded if w not in checks)
    return out


def analyze_path(
    path: str | os.PathLike[str],
    slo: Slo | None = None,
    gpus: int | None = None,
    points: Sequence[str] = POINTS,
) -> RunAnalysis:
    return analyze(load(Path(path)), slo=slo, gpus=gpus, points=points)
