"""The HTML report opened from disk by a real headless Chromium with networking off."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from agentload.analysis.report.run_report import html_report
from agentload.analysis.report.sweep_page import LATENCIES, sweep_page
from agentload.analysis.run_analysis import analyze_path
from agentload.traceformat import io
from agentload.traceformat import schema as s
from tests.analysis import synth
from tests.analysis.browser import PageResult, find_chromium, open_page

RunCli = Callable[..., tuple[int, str, str]]

BASE_CHARTS = {
    "cumulative",
    "throughput",
    "throughput_prompt",
    "throughput_requests",
    "concurrency",
    "ttft",
    "itl",
    "tpot",
    "e2e",
    "session",
    "ttft_turn",
    "cache",
    "lanes",
}
ENGINE_CHARTS = {"engine_vllm:kv_cache_usage_perc", "engine_vllm:num_requests_waiting"}


async def _render(result: Path, tmp_path: Path) -> PageResult:
    page = tmp_path / "report.html"
    page.write_text(html_report(analyze_path(result)), encoding="utf-8")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    out = await open_page(page, tmp_path / "screenshot.png", profile)
    assert out.screenshot is not None and out.screenshot.stat().st_size > 10_000
    assert out.console_errors == []
    # the page loads nothing but itself: no CDN, no fonts, no scripts
    assert out.requests == [page.resolve().as_uri()]
    assert out.probe["scripts"] == 0
    assert out.probe["title"] == "agentload report"
    check_charts(out)
    return out


def check_charts(out: PageResult) -> None:
    """Every chart drawn, with data, a legend, and every text inside its SVG's box."""
    for chart in out.probe["charts"]:
        assert chart["width"] > 100 and chart["height"] > 50, chart
        assert chart["data"] > 0, f"chart {chart['key']} has no data element"
        assert chart["outside"] == [], f"chart {chart['key']}: text outside its box"
        assert chart["legend"] > 0, f"chart {chart['key']} has no legend"


def _keys(out: PageResult) -> set[str]:
    return {c["key"] for c in out.probe["charts"]}


def test_chromium_is_installed() -> None:
    assert find_chromium()


async def test_full_report_renders(tmp_path: Path) -> None:
    result = synth.write(tmp_path / "r.arrow", sessions=10, calls=5, error_every=9)
    out = await _render(result, tmp_path)
    assert _keys(out) == BASE_CHARTS | ENGINE_CHARTS
    assert out.probe["omitted"] == []
    assert any("requests failed" in n for n in out.probe["notes"])


async def test_single_session_report(tmp_path: Path) -> None:
    result = synth.write(tmp_path / "r.arrow", sessions=1, calls=6, engine=False)
    out = await _render(result, tmp_path)
    assert _keys(out) == BASE_CHARTS
    assert any("Single session" in n for n in out.probe["notes"])


async def test_partial_run_report(tmp_path: Path) -> None:
    result = synth.write_partial(tmp_path / "r.arrow")
    assert io.read(result).truncated
    out = await _render(result, tmp_path)
    assert _keys(out) == BASE_CHARTS
    notes = " ".join(out.probe["notes"])
    assert "Partial run" in notes and "did not complete" in notes


def _all_failed(path: Path) -> Path:
    data = synth.rows(3, 2, seed=5)
    for row in data:
        synth._fail(row)
    table = pa.Table.from_pylist(data, schema=s.RESULT_SCHEMA)
    io.write_file(path, s.Kind.RESULT, table, extra_metadata={s.META_COMPLETE: b"true"})
    return path


async def test_all_failed_report_omits_empty_charts(tmp_path: Path) -> None:
    out = await _render(_all_failed(tmp_path / "r.arrow"), tmp_path)
    # latency and token charts have nothing to show: they are named as omitted, not drawn
    assert _keys(out) == {"concurrency", "lanes"}
    omitted = " ".join(out.probe["omitted"])
    for title in ("Cumulative", "TTFT distribution", "ITL", "TPOT", "E2E", "Session", "Prefix"):
        assert title in omitted
    assert any("6 of 6 requests failed" in n for n in out.probe["notes"])


def test_exports(tmp_path: Path, run_cli: Callable[..., tuple[int, str, str]]) -> None:
    result = synth.write(tmp_path / "r.arrow", sessions=4, calls=3)
    code, stdout, _ = run_cli(
        "report",
        str(result),
        "--json",
        str(tmp_path / "s.json"),
        "--parquet",
        str(tmp_path / "pq"),
        "--csv",
        str(tmp_path / "csv"),
        "--html",
        str(tmp_path / "r.html"),
        "--slo",
        "ttft=10s",
    )
    assert code == 0, stdout
    assert "Throughput" in stdout and "Goodput" in stdout
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["requests"]["measured"] == 12
    assert summary["sessions"]["completed"] == 4
    assert summary["goodput"]["good_sessions"] == 4
    assert summary["throughput"]["gpus"] == 2
    tp = summary["throughput"]
    assert tp["completion_tps_steady_per_gpu"] == pytest.approx(tp["completion_tps_steady"] / 2)
    for name in ("requests", "sessions", "turns", "itl"):
        assert (tmp_path / "pq" / f"{name}.parquet").stat().st_size > 0
        assert (tmp_path / "csv" / f"{name}.csv").read_text().count("\n") > 1
    assert "<svg" in (tmp_path / "r.html").read_text()


def test_bad_input_is_one_line(
    tmp_path: Path, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    bogus = tmp_path / "x.arrow"
    bogus.write_text("not arrow")
    code, _, stderr = run_cli("report", str(bogus))
    assert code == 2 and stderr.count("\n") == 1 and str(bogus) in stderr
    code, _, stderr = run_cli("report", str(synth.write(tmp_path / "r.arrow")), "--slo", "x=1")
    assert code == 2 and "--slo" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("case", ["empty", "all-warmup"])
async def test_nothing_measured_report(case: str, tmp_path: Path) -> None:
    data = [] if case == "empty" else synth.rows(2, 2, seed=4)
    for row in data:
        row[s.WARMUP] = True
    path = tmp_path / "r.arrow"
    table = pa.Table.from_pylist(data, schema=s.RESULT_SCHEMA)
    io.write_file(path, s.Kind.RESULT, table, extra_metadata={s.META_COMPLETE: b"true"})
    out = await _render(path, tmp_path)
    assert _keys(out) == set()
    assert len(out.probe["omitted"]) == len(BASE_CHARTS)
    assert any("No measured requests" in n for n in out.probe["notes"])


async def test_compare_and_sweep_pages_render(tmp_path: Path, run_cli: RunCli) -> None:
    """compare's page (the sweep page plus verdicts): every throughput-latency chart drawn,
    texts inside their boxes, legends, the verdict coloured, nothing loaded."""
    info = {"source": "agentic-coding"}
    base = synth.write(tmp_path / "base.arrow", sessions=12, seed=1, info=info)
    slow = synth.write(tmp_path / "slow.arrow", sessions=12, seed=1, slower_ms=150, info=info)
    page = tmp_path / "compare.html"
    code, _, err = run_cli("compare", str(base), str(slow), "--html", str(page))
    assert code == 0, err
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    out = await open_page(page, tmp_path / "compare.png", profile)
    assert out.console_errors == [] and out.requests == [page.resolve().as_uri()]
    check_charts(out)
    assert _keys(out) == {"pareto_" + "_".join(path[1:]) for path, _, _ in LATENCIES}
    assert '<td class="regressed">regressed</td>' in page.read_text()


async def test_lanes_keep_long_session_ids(tmp_path: Path) -> None:
    """Session ids of 36 characters: the lane labels are whole and inside the chart."""
    result = synth.write(tmp_path / "r.arrow", sessions=3, calls=2, engine=False)
    frame = io.read(result).frame.with_columns(
        (pl.lit("0b8f6c1e-4a4e-4c7e-9d55-") + pl.col(s.SESSION_ID)).alias(s.SESSION_ID)
    )
    io.write_file(
        result, s.Kind.RESULT, frame.to_arrow(), extra_metadata={s.META_COMPLETE: b"true"}
    )
    out = await _render(result, tmp_path)
    assert "lanes" in _keys(out)


async def test_sweep_page_renders(tmp_path: Path) -> None:
    """The page `sweep --html` writes (orchestration.sweep: sweep_page with a report per
    point, linked): every throughput-latency chart drawn with data and a legend, texts
    inside their boxes, nothing loaded; each point's report opens the same way."""
    labels, summaries, reports = [], [], {}
    for n, slower in enumerate((0, 80, 200)):
        result = synth.write(tmp_path / f"c{n}.arrow", sessions=6 + 3 * n, seed=n, slower_ms=slower)
        analysis = analyze_path(result)
        labels.append(f"c{n}")
        summaries.append(analysis.summary)
        reports[f"c{n}"] = f"report-c{n}.html"
        (tmp_path / reports[f"c{n}"]).write_text(html_report(analysis), encoding="utf-8")
    page = tmp_path / "sweep.html"
    page.write_text(sweep_page(labels, summaries, "sweep", reports=reports), encoding="utf-8")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    out = await open_page(page, tmp_path / "sweep.png", profile)
    assert out.console_errors == [] and out.requests == [page.resolve().as_uri()]
    check_charts(out)
    assert _keys(out) == {"pareto_" + "_".join(path[1:]) for path, _, _ in LATENCIES}
    for href in reports.values():
        assert f'href="{href}"' in page.read_text()
    second = tmp_path / "chromium-profile-2"  # one browser per profile folder
    second.mkdir()
    linked = await open_page(tmp_path / "report-c1.html", tmp_path / "c1.png", second)
    assert linked.console_errors == [] and linked.probe["title"] == "agentload report"
    check_charts(linked)
