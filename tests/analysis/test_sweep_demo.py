"""sweep and demo end to end: the real `agentload` CLI, the real simulated engine, the real
replay; the demo's HTML report is opened in headless Chromium."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from agentload.analysis.report.run_report import html_report
from agentload.analysis.report.sweep_page import LATENCIES
from agentload.analysis.run_analysis import analyze_path
from agentload.base.errors import AgentloadError, ConfigError
from agentload.orchestration.sweep import SweepConfig
from agentload.profiles import load as profile_load
from agentload.profiles import transforms
from agentload.replay.config import ReplayConfig
from agentload.traceformat import io
from agentload.traceformat import schema as s
from tests.analysis.browser import open_page
from tests.simhelper import running_sim

RunCli = Callable[..., tuple[int, str, str]]


def _small_profile(path: Path) -> Path:
    loaded = profile_load.load("agentic-coding")
    config = transforms.TransformConfig(sample=6, max_turns=2, cap_context=8000, seed=3)
    frame = transforms.apply(loaded.frame, config)
    extra = {s.META_BLOCK_SIZE: str(loaded.block_size).encode()} if loaded.block_size else None
    io.write_file(path, s.Kind.PROFILE, frame, extra_metadata=extra)
    return path


def _sweep(run_cli: RunCli, tmp_path: Path, *points: str) -> tuple[int, str, str]:
    """`agentload sweep` of a small profile against a fresh fast sim, into tmp_path/sweep."""
    source = _small_profile(tmp_path / "small.arrow")
    with running_sim("--preset", "fast") as sim:
        return run_cli(
            "sweep",
            str(source),
            "--target",
            sim.url,
            "--model",
            sim.model,
            *points,
            "--think-scale",
            "0",
            "--out-dir",
            str(tmp_path / "sweep"),
        )


def test_sweep_against_sim(tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "sweep"
    code, stdout, stderr = _sweep(
        run_cli, tmp_path, "--concurrency", "1,3", "--sessions-per-slot", "1"
    )
    assert code == 0, stderr
    assert "Sweep points" in stdout and "Comparison" in stdout
    c1, c3 = analyze_path(out / "c1.arrow").summary, analyze_path(out / "c3.arrow").summary
    # each point ran its own load: ceil(c x 1) sessions, all completed
    assert (c1["sessions"]["total"], c3["sessions"]["total"]) == (1, 3)
    assert c1["sessions"]["completed"] == 1 and c3["sessions"]["completed"] == 3
    assert c1["info"]["options"]["concurrency"] == 1
    assert c3["info"]["options"]["concurrency"] == 3
    page = (out / "sweep.html").read_text()
    # throughput against every latency metric (the fast preset's one-chunk answers have no
    # ITL: listed as not drawn), and each point's own report, linked
    drawn, omitted = page.count('<figure class="chart"'), page.count("data-omitted=")
    assert drawn + omitted == len(LATENCIES) and omitted <= 1
    assert "<script" not in page
    for label in ("c1", "c3"):
        assert f'href="report-{label}.html"' in page
        assert "agentload report" in (out / f"report-{label}.html").read_text()


def test_sweep_session_rates_against_sim(tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "sweep"
    code, stdout, stderr = _sweep(
        run_cli, tmp_path, "--session-rates", "4,20", "--max-sessions", "4"
    )
    assert code == 0, stderr
    assert "Sweep points" in stdout and "Comparison" in stdout
    for label, rate in (("r4", 4.0), ("r20", 20.0)):
        path = out / f"{label}.arrow"
        summary = analyze_path(path).summary
        # open loop at the point's rate: 4 sessions (cycled past none), all completed
        assert summary["sessions"]["total"] == summary["sessions"]["completed"] == 4
        options = summary["info"]["options"]
        assert (options["session_rate"], options["concurrency"]) == (rate, None)
        assert summary["diagnostics"]["intended_rate"] == pytest.approx(rate)
        rows = io.read(path).frame
        starts = rows.filter(pl.col(s.CALL_INDEX) == 0).sort(s.T_SCHEDULED_NS)
        gaps = starts[s.T_SCHEDULED_NS].diff().drop_nulls()
        assert ((gaps - 1e9 / rate).abs() <= 1000).all(), gaps.to_list()  # constant rate
    page = (out / "sweep.html").read_text()
    drawn, omitted = page.count('<figure class="chart"'), page.count("data-omitted=")
    assert drawn + omitted == len(LATENCIES) and omitted <= 1
    assert "r4" in page and "r20" in page


def test_sweep_points_for_session_rates(tmp_path: Path) -> None:
    base = ReplayConfig(
        source=tmp_path,
        target="http://127.0.0.1:1",
        model="m",
        out=tmp_path / "o.arrow",
        concurrency=8,
        max_sessions=5,
    )
    config = SweepConfig(base, tmp_path / "sw", session_rates=(0.5, 2.0))
    points = config.points()
    assert [label for label, _ in points] == ["r0.5", "r2"]
    for (_, cfg), rate in zip(points, (0.5, 2.0), strict=True):
        assert (cfg.session_rate, cfg.concurrency, cfg.max_sessions) == (rate, None, 5)
        assert cfg.out == tmp_path / "sw" / f"r{rate:g}.arrow"
    for bad in ((), (1.0, 0.0)):
        with pytest.raises(ConfigError, match=r"--session-rates|exactly one"):
            SweepConfig(base, tmp_path, session_rates=bad)


@pytest.mark.slow
async def test_demo_end_to_end(tmp_path: Path, run_cli: RunCli) -> None:
    """One workload on two engines (the default preset, then a quarter of its KV cache):
    both runs, compare's verdict, and an index page linking the comparison and reports."""
    out = tmp_path / "demo"
    code, stdout, stderr = run_cli("demo", "--out", str(out), timeout=240)
    assert code == 0, stderr
    flat = " ".join(stdout.split())
    for name in ("default", "quarter-kv"):
        line = re.search(
            rf"{name}: ([0-9.]+) completion tok/s, session latency p50 ([0-9.]+) s, "
            r"TTFT p50 ([0-9.]+) ms",
            flat,
        )
        assert line, f"no headline for {name} in:\n{stdout}"
        assert float(line.group(1)) > 0 and float(line.group(2)) > 0
    assert re.search(r"regressed: [0-9]+ \(", flat) and "within noise:" in flat
    summaries = {n: analyze_path(out / f"{n}.arrow").summary for n in ("default", "quarter-kv")}
    for sm in summaries.values():
        assert sm["complete"] and sm["requests"]["errors"] == 0
        assert sm["sessions"]["total"] == 16  # ceil(16 x 1.0) sessions
        assert sm["info"]["options"]["concurrency"] == 16
    # the same workload on both; a quarter of the KV cache keeps less of it cached
    assert summaries["default"]["info"]["source"] == summaries["quarter-kv"]["info"]["source"]
    cached = {n: sm["cache"]["cache_hit_rate"] for n, sm in summaries.items()}
    assert cached["quarter-kv"] < cached["default"], cached
    # the index: the verdict, and links to the comparison and both reports
    index = out / "index.html"
    result = await open_page(index, tmp_path / "index.png", _profile(tmp_path, "index"))
    assert result.console_errors == [] and result.requests == [index.resolve().as_uri()]
    assert result.probe["title"] == "agentload demo: quarter-kv against default"
    text = index.read_text()
    for href in ("compare.html", "report-default.html", "report-quarter-kv.html"):
        assert f'href="{href}"' in text and (out / href).stat().st_size > 0
    assert '<td class="regressed">regressed</td>' in text
    # the comparison: compare's verdict table and every throughput-latency chart drawn
    page = out / "compare.html"
    result = await open_page(page, tmp_path / "compare.png", _profile(tmp_path, "compare"))
    assert result.console_errors == [] and result.requests == [page.resolve().as_uri()]
    assert "Verdict: quarter-kv against default" in page.read_text()
    assert len(result.probe["charts"]) == len(LATENCIES)
    for chart in result.probe["charts"]:
        assert chart["data"] > 0 and chart["legend"] > 0 and chart["outside"] == [], chart
    # a run's report renders fully in the browser, engine metrics included
    page = out / "report-quarter-kv.html"
    result = await open_page(page, tmp_path / "report.png", _profile(tmp_path, "report"))
    assert result.console_errors == [] and result.requests == [page.resolve().as_uri()]
    keys = {c["key"] for c in result.probe["charts"]}
    assert {"cumulative", "ttft", "itl", "lanes", "engine_vllm:kv_cache_usage_perc"} <= keys
    assert all(c["data"] > 0 and c["width"] > 100 for c in result.probe["charts"])


def _profile(tmp_path: Path, name: str) -> Path:
    """A fresh Chromium profile per page: one left by an earlier browser names its port."""
    profile = tmp_path / f"chromium-{name}"
    profile.mkdir()
    return profile


async def test_interrupted_replay_report(tmp_path: Path) -> None:
    """A real replay stopped with SIGINT mid-run: the report says partial, counts the
    cancelled requests and still draws every chart it has data for."""
    source = _small_profile(tmp_path / "small.arrow")
    out = tmp_path / "killed.arrow"
    part = out.with_name(out.name + ".part0.arrows")
    with running_sim("--preset", "default") as sim:
        cmd = [sys.executable, "-c", "from agentload.cli import main; main()", "replay"]
        cmd += [str(source), "--target", sim.url, "--model", sim.model, "--out", str(out)]
        cmd += ["--concurrency", "3", "--quiet"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _rows(part) >= 2:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert out.exists(), err
    summary = analyze_path(out).summary
    assert not summary["complete"]
    assert summary["sessions"]["completed"] < summary["sessions"]["total"]
    profile = tmp_path / "chromium"
    profile.mkdir()
    page = tmp_path / "killed.html"
    page.write_text(html_report(analyze_path(out)))
    result = await open_page(page, tmp_path / "killed.png", profile)
    assert result.console_errors == []
    assert any("Partial run" in n for n in result.probe["notes"])
    assert result.probe["charts"] and all(c["data"] > 0 for c in result.probe["charts"])


def _rows(path: Path) -> int:
    try:
        return io.read(path).frame.height
    except (OSError, AgentloadError):
        return 0
