"""Chart builders without a browser: counters as rates, info series left out, log axes."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

from agentload.analysis.report import charts
from agentload.analysis.report.svg.axes import log_ticks
from agentload.analysis.run_analysis import analyze_path
from tests.analysis import synth


def test_counter_rate_between_scrapes() -> None:
    # 0, 10, 30 over 0, 1, 3 s: 10/s then 10/s; a reset (30 -> 5) yields no point
    assert charts._rate([0.0, 1.0, 3.0, 4.0], [0.0, 10.0, 30.0, 5.0]) == ([1.0, 3.0], [10.0, 10.0])


def test_engine_counters_drawn_as_rates_and_info_left_out(tmp_path: Path) -> None:
    a = analyze_path(synth.write(tmp_path / "r.arrow", sessions=3, engine=False))
    t0 = a.requests["t_sent_ns"].min()
    assert isinstance(t0, int)
    samples = [
        {"t_ns": t0 + k * 1_000_000_000, "name": name, "labels": {}, "value": value}
        for k in range(4)
        for name, value in (
            ("vllm:prompt_tokens_total", 100.0 * k),
            ("vllm:cache_config_info", 1.0),
        )
    ]
    data = dataclasses.replace(a.data, engine_metrics=samples)
    drawn = charts.engine_metrics(dataclasses.replace(a, data=data))
    assert [c.key for c in drawn] == ["engine_vllm:prompt_tokens_total"]
    assert "rate per second" in drawn[0].title
    svg = drawn[0].svg or ""
    # the rate is a flat 100/s: its y ticks stop at 100, never at the running total 300
    ticks = [float(t) for t in re.findall(r'text-anchor="end">([\d.]+)</text>', svg)]
    assert max(ticks) == 100.0


def test_log_ticks() -> None:
    # 3 .. 40 ms (under three decades): 2 and 5 between decades, one tick either side
    got = [round(10**t, 6) for t in log_ticks(math.log10(3), math.log10(40))]
    assert got == [2.0, 5.0, 10.0, 20.0, 50.0]
    # 3 .. 400 ms spans three decades: decades only
    assert [round(10**t) for t in log_ticks(math.log10(3), math.log10(400))] == [1, 10, 100, 1000]
