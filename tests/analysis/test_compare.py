"""compare: deltas and ratios; Pareto fronts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from agentload.analysis.report.compare import comparison, delta_ratio, run_names
from agentload.analysis.report.pareto import Point, front
from agentload.analysis.run_analysis import analyze_path
from tests.analysis import synth

RunCli = Callable[..., tuple[int, str, str]]


def test_delta_ratio() -> None:
    assert delta_ratio(200.0, 300.0) == (100.0, 1.5)
    assert delta_ratio(0, 5) == (5.0, None)
    assert delta_ratio(None, 5) == (None, None)
    assert delta_ratio(True, 5) == (None, None)


def test_comparison_rows(tmp_path: Path) -> None:
    a = analyze_path(synth.write(tmp_path / "a.arrow", sessions=6, seed=1)).summary
    b = analyze_path(synth.write(tmp_path / "b.arrow", sessions=9, seed=2)).summary
    table = comparison(["a", "b"], [a, b])
    assert table.headers == ["metric", "a", "b", "Δ", "ratio"]
    rows = {r[0]: r[1:] for r in table.rows}
    base = a["throughput"]["completion_tps"]
    other = b["throughput"]["completion_tps"]
    cells = rows["completion tok/s (overall) ↑"]
    assert cells[3] == f"{other / base:.3g}×"
    assert cells[2].startswith("+" if other >= base else "−")
    assert rows["sessions completed"] == ["6", "9", "+3", "1.5×"]
    # goodput was not asked for: its row is left out rather than shown empty
    assert "good sessions / s ↑" not in rows


def test_pareto_front() -> None:
    pts = [
        Point("a", 100.0, 5.0),
        Point("b", 200.0, 8.0),
        Point("c", 150.0, 9.0),  # dominated by b (less throughput, more latency)
        Point("d", 300.0, 20.0),
        Point("e", 100.0, 6.0),  # dominated by a (same throughput, more latency)
        Point("f", None, 1.0),  # incomplete: ignored
    ]
    assert [p.label for p in front(pts)] == ["a", "b", "d"]


def test_run_names() -> None:
    assert run_names([Path("x/a.arrow"), Path("y/b.arrow")]) == ["a", "b"]
    assert run_names([Path("x/r.arrow"), Path("y/r.arrow")]) == ["x/r", "y/r"]


def test_compare_cli(tmp_path: Path, run_cli: RunCli) -> None:
    a = synth.write(tmp_path / "a.arrow", sessions=5, seed=3)
    b = tmp_path / "same.arrow"
    shutil.copy(a, b)
    code, out, err = run_cli(
        "compare",
        str(a),
        str(b),
        "--html",
        str(tmp_path / "c.html"),
        "--json",
        str(tmp_path / "c.json"),
    )
    assert code == 0, err
    assert "Comparison" in out and "TTFT p50 (ms)" in out
    # a run compared with itself: every ratio 1, every delta 0
    assert "1×" in out and "−" not in out.split("Comparison", 1)[1].split("Verdict", 1)[0]
    doc = json.loads((tmp_path / "c.json").read_text())
    summaries = doc["summaries"]
    assert summaries["a"]["throughput"] == summaries["same"]["throughput"]
    verdicts = doc["comparisons"][0]["verdicts"]
    assert {v["verdict"] for v in verdicts} == {"within noise"} and doc["failed"] is False
    assert 'data-chart="pareto_latency_s_p50"' in (tmp_path / "c.html").read_text()
    code, _, err = run_cli("compare", str(a))
    assert code == 2 and "at least two" in err


@pytest.mark.parametrize("bad", ["x", "0", "0,4", "4,8,16"])
def test_demo_rejects_bad_concurrency(bad: str, run_cli: RunCli, tmp_path: Path) -> None:
    code, _, err = run_cli("demo", "--concurrency", bad, "--out", str(tmp_path / "d"))
    assert code == 2 and "--concurrency" in err and "Traceback" not in err


@pytest.mark.parametrize("bad", ["0", "1", "1.5", "1e-9"])
def test_demo_rejects_bad_kv_fraction(bad: str, run_cli: RunCli, tmp_path: Path) -> None:
    code, _, err = run_cli("demo", "--kv-fraction", bad, "--out", str(tmp_path / "d"))
    assert code == 2 and "--kv-fraction" in err and "Traceback" not in err


def test_demo_two_concurrencies_deprecated(run_cli: RunCli, tmp_path: Path) -> None:
    """The old demo's '4,16' still parses, with a warning naming the one concurrency used
    (a bad --kv-fraction then stops the demo before it runs anything)."""
    out = tmp_path / "d"
    code, _, err = run_cli("demo", "--concurrency", "4,16", "--kv-fraction", "2", "--out", str(out))
    assert code == 2 and "deprecated" in err and "running both at 16" in err
    assert list(out.iterdir()) == []
