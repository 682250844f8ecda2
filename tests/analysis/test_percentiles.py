"""report --percentiles: which points the latency distributions show."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from agentload.traceformat.distribution import percentile_points, point, summarize
from tests.analysis import synth

RunCli = Callable[..., tuple[int, str, str]]


def test_decimal_percentile_hand_worked() -> None:
    frame = pl.DataFrame({"x": [float(v) for v in range(1, 11)]})  # 1..10
    # p99.9: rank 0.999 x 9 = 8.991 -> 9 + 0.991 x (10 - 9) = 9.991
    assert frame.select(point(pl.col("x"), "p99.9")).item() == pytest.approx(9.991)
    assert percentile_points([50, 99.9]) == ("count", "mean", "p50", "p99.9", "max")
    got = summarize(frame, "x", percentile_points([50, 99.9]))
    assert got == {"count": 10, "mean": 5.5, "p50": 5.5, "p99.9": pytest.approx(9.991), "max": 10}
    for bad in ("p101", "p-1", "px", "p"):
        with pytest.raises(ValueError, match="unknown summary point"):
            point(pl.col("x"), bad)


def test_report_percentiles_option(tmp_path: Path, run_cli: RunCli) -> None:
    result = synth.write(tmp_path / "r.arrow", sessions=4, calls=3)
    out = tmp_path / "s.json"
    code, stdout, err = run_cli(
        "report", str(result), "--percentiles", "50,99.9", "--json", str(out)
    )
    assert code == 0, err
    assert list(json.loads(out.read_text())["latency"]["ttft_ms"]) == list(
        percentile_points([50, 99.9])
    )
    assert "p99.9" in stdout and "p90" not in stdout
    code, _, err = run_cli("report", str(result), "--percentiles", "50,101")
    assert code == 2 and "--percentiles" in err
