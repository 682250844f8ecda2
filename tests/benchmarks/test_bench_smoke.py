"""The RESULTS.md generator and the pure helpers of benchmarks/ (no peer installed, no run)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.capacity import Capacity, Step, lag_ms, summarize
from benchmarks.capture_overhead import parse
from benchmarks.results_md import render


def fake_figures() -> dict[str, Any]:
    low = Step(200.0, 1000, 200.0, 0.1, 0.5, 0.5, 0, True, 0.3, True)
    ok = Step(1000.0, 5000, 999.0, 0.1, 0.9, 0.35, 0, True, 0.4, True)
    bad = Step(2000.0, 8000, 1650.0, 3.0, 40.0, 0.4, 0, False, 12.0)
    agent = summarize(
        Capacity("agentload", "abc123", steps=[low, ok, bad], commands=["agentload replay x"]),
        [1000.0, 2000.0],
    )
    peer_step = Step(100.0, 500, 99.5, 0.2, 1.5, 4.2, 0, True, None, True)
    peer_fail = Step(200.0, 1000, 150.0, 9.0, 30.0, 4.0, 0, False, None, False)
    peer = summarize(Capacity("aiperf", "0.13.0", steps=[peer_step, peer_fail]), [100.0, 200.0])
    # passes the top of the ladder it was given: a lower bound, in every column
    capped = summarize(Capacity("inference-perf", "0.7.0", steps=[peer_step]), [100.0])
    closed = Capacity("trie", "0.1.1", closed_loop_rate=265.0, cpu_s_per_1000=3.77)
    closed.steps = [Step(None, 2330, 265.0, None, None, 3.77, 0, False)]
    broken = Capacity("guidellm", "0.8.1", error="ValueError: no such option --rate")
    side = {
        "steady_tps": 500.0,
        "ttft_first_p50_ms": 2000.0,
        "ttft_p50_ms": 60.0,
        "cache_hit": 0.84,
    }
    referee = {
        "requests": 1200,
        "uncached_tps": 2736.2,
        "itl_mean_ms": 24.561,
        "steady_tps": 502.0,
        "steady_tps_two_point": 480.0,
        "ttft_p50_ms": 61.0,
        "ttft_first_p50_ms": 2010.0,
        "cache_hit": 0.84,
    }
    return {
        "command": ".venv/bin/python -m benchmarks.run_all",
        "generated": "2026-11-25 20:50",
        "runtime_s": 900.0,
        "load_average_start": [1.5, 1.2, 1.0],
        "machine": {
            "cpu": "Fake CPU 9000",
            "cores": 2,
            "memory_gib": 24.0,
            "os": "Linux",
            "python": "3.12.1",
            "load_average": [1.1, 1.0, 0.9],
        },
        "versions": {"agentload": "abc123", "aiperf (PyPI)": "0.13.0"},
        "peer_install": [
            {
                "name": "aiperf",
                "version": "0.13.0",
                "ok": True,
                "error": None,
                "commands": ["uv pip install aiperf==0.13.0"],
            },
            {
                "name": "guidellm",
                "version": "0.8.1",
                "ok": False,
                "error": "No solution found",
                "commands": [],
            },
        ],
        "capacity": {
            "ladder": [100.0, 1000.0, 2000.0],
            "step_s": 5.0,
            "lag_limit_ms": 2.0,
            "results": [
                agent.to_json(),
                closed.to_json(),
                peer.to_json(),
                capped.to_json(),
                broken.to_json(),
            ],
        },
        "agreement": {
            "config": {
                "sample": "sample64.jsonl",
                "think_scale": 0.5,
                "concurrency": 16,
                "duration_s": 150.0,
            },
            "sides": [
                {
                    "client": "trie",
                    "version": "0.1.1",
                    "command": "trie ...",
                    **side,
                    "cache_hit": None,
                    "cache_hit_trace_mean": 0.86,
                    "referee": referee,
                },
                {
                    "client": "agentload",
                    "version": "abc123",
                    "command": "agentload replay ...",
                    **side,
                    "referee": referee,
                    "client_cores": 0.312,
                    "sim_cores": 0.97,
                },
            ],
            "checks": {"default": {"agentload_vs_referee": -0.004, "agentload_vs_trie": 0.08}},
        },
        "capture": {"error": "RuntimeError: proxy did not start"},
        "storage": {
            "sessions": 4,
            "calls": 40,
            "trace_bytes": 100_000,
            "jsonl_bytes": 2_000_000,
            "jsonl_gzip_bytes": 700_000,
            "jsonl_zstd_bytes": 80_000,
            "command": "agentload capture ...",
        },
    }


def test_results_md_has_a_table_per_benchmark_with_machine_versions_and_commands() -> None:
    text = render(fake_figures())
    for heading in ("## 1. Client capacity", "## 2. Agreement", "## 3. Capture", "## 4. Storage",
                    "## 5. Replay client throughput"):  # fmt: skip
        assert heading in text
    assert "Fake CPU 9000" in text and "1.50, 1.20, 1.00" in text
    assert "| aiperf (PyPI) | 0.13.0 |" in text
    # capacity: the best passing rate stops at the first failing step; ratio vs the peer
    assert "| agentload | abc123 | 1,000 | 1,000 | 0.50 | 0.35 |" in text
    assert "| aiperf | 0.13.0 | 100 | 100 | 4.00 | 4.20 |" in text
    assert "| inference-perf | 0.7.0 | >= 100 | >= 100 | – | 4.20 |" in text
    # a lower bound on the peer's side leaves only an upper bound on the ratio
    assert (
        "agentload's highest rate (p99 lag <= 2 ms) relative to: aiperf 10.0x, "
        "inference-perf at most 10.0x." in text
    )
    # closed loop: not reported under a lag criterion it was not judged by
    assert "| trie | 0.1.1 | n/a (closed loop: 265 req/s max) | n/a (closed loop: 265" in text
    assert "| trie | – | 2,330 | 265.0 |" in text and "closed loop: not judged" in text
    assert "trie 1" not in text.split("relative to:")[1].split("\n")[0]
    assert "agentload replay x" in text
    # a peer that failed is listed with its exact error, not dropped
    assert "FAILED: `ValueError: no such option --rate`" in text
    assert "FAILED: No solution found" in text
    # agreement: 5% bound marked both ways; trie's per-trace cache hit labelled
    assert "| default | agentload vs trie | +8.00% | OVER 5% |" in text
    assert "| default | agentload vs referee | -0.40% | within 5% |" in text
    assert "| default | agentload | 1,200 | 2,736 | 24.56 | 0.31 | 0.97 |" in text
    assert "86.0% (mean of traces)" in text
    # a failed section shows its error; storage ratios against the trace
    assert "**Not run:** `RuntimeError: proxy did not start`" in text
    assert "| JSONL, gzip -6 | 700,000 | 17,500 | 7.0x |" in text


def test_ratios_follow_the_bounds() -> None:
    from benchmarks.results_md import ratio

    def client(best: float | None, rates: list[float]) -> dict[str, Any]:
        return {"best_rate": best, "steps": [{"rate": r} for r in rates]}

    top = client(3200.0, [1600.0, 3200.0])
    exact = client(400.0, [400.0, 800.0])
    capped = client(400.0, [200.0, 400.0])
    nothing = client(None, [50.0, 100.0])
    assert ratio(top, exact, "best_rate") == "at least 8.0x"
    assert ratio(top, capped, "best_rate") is None  # both lower bounds: nothing follows
    assert ratio(client(800.0, [800.0, 1600.0]), capped, "best_rate") == "at most 2.0x"
    assert ratio(top, nothing, "best_rate") == "more than 64.0x"


def test_agreement_explanation_is_computed_from_the_figures() -> None:
    from benchmarks.agreement import explain

    def side(client: str, own: float, ls: float, two: float, itl: float) -> dict[str, Any]:
        ref = {"steady_tps": ls, "steady_tps_two_point": two, "itl_mean_ms": itl}
        return {"client": client, "variant": "fixed", "steady_tps": own, "referee": ref}

    trie = side("trie", 736.3, 771.7, 738.8, 15.2)
    agent = side("agentload", 782.6, 782.6, 765.9, 15.0)
    result: dict[str, Any] = {
        "config": {"control_step_ms": 15.0},
        "sides": [trie, agent],
        "checks": {"fixed": {"agentload_vs_trie": 782.6 / 736.3 - 1}},
    }
    text = explain(result)
    assert "-0.3% from its own two-point estimator applied to the sim's log" in text
    assert "(738.8)" in text and "(771.7)" in text
    assert "comes mainly from their different estimators" in text
    assert "prefill" not in text and "ITL above" not in text
    # when the runs themselves differ, no estimator conclusion; the engine work is listed
    agent["referee"] = {"steady_tps": 900.0, "steady_tps_two_point": 880.0, "itl_mean_ms": 17.0}
    agent["steady_tps"] = 900.0
    result["checks"]["fixed"]["agentload_vs_trie"] = 900.0 / 736.3 - 1
    text = explain(result)
    assert "mainly from their different estimators" not in text
    assert "The runs themselves differ by more than 5%" in text
    assert "Mean ITL above the nominal 15 ms step by more than 5%" in text


def test_replay_section_reads_issue_4_target() -> None:
    def st(rate: float, ok: bool, workers: int = 1) -> dict[str, Any]:
        cpu = {str(w): 0.3 for w in range(workers)}
        return {"rate": rate, "requests": int(rate * 3), "achieved": rate, "lag_p50_ms": 0.1,
                "lag_p99_ms": 1.0 if ok else 5.0, "cpu": cpu, "runqueue_wait_s": cpu,
                "cpu_us_per_request": 200, "errors": {}, "ok": ok}  # fmt: skip

    figures = {
        "replay": {
            "command": ".venv/bin/python -m benchmarks.bench_replay --targets sim,zero",
            "rates": [1000.0, 2000.0],
            "duration_s": 3.0,
            "transport": "raw",
            "lag_limit_ms": 2.0,
            "ladders": [
                {"target": "sim", "workers": 1, "steps": [st(1000, True), st(2000, True)]},
                {"target": "sim", "workers": 2, "steps": [st(1000, True, 2), st(2000, False, 2)]},
                {"target": "zero", "workers": 1, "steps": [st(1000, False)]},
            ],
            "ttft_c1": {"requests": 1000, "p50_ms": 0.07, "p99_ms": 0.2},
        }
    }
    text = render(figures)
    assert "## 5. Replay client throughput" in text
    assert "| fast sim | 1 | >= 2,000 | 0.30 | 200 | 5,000 |" in text
    assert "| fast sim | 2 | 1,000 | 0.30 + 0.30 | 200 | 5,000 |" in text
    assert "| zero-latency server | 1 | none (< 1,000) |" in text
    assert "fast sim, 1 worker: highest rate on schedule >= 2,000 requests/s" in text
    assert "500 per worker (target 1,500 per worker core): **not met** in this run" in text
    assert "p50 0.070 ms, p99 0.200 ms (target p50 < 1 ms): **met**." in text
    assert "bench_replay --targets sim,zero" in text
    assert "**Not run:** `boom`" in render({"replay": {"error": "boom"}})


def test_results_md_tolerates_missing_sections() -> None:
    text = render({"machine": {}, "capacity": {"error": "boom"}})
    assert "**Not run:** `boom`" in text
    assert "## 4. Storage" in text


def test_lag_against_best_fitting_constant_schedule() -> None:
    period = 1_000_000  # 1 ms at 1000/s
    on_time = [5_000 + i * period for i in range(100)]
    assert max(lag_ms(on_time, 1000.0)) == pytest.approx(0.0)
    # the sim cannot tell requests apart: the i-th arrival is judged against the i-th slot,
    # so a 3 ms stall followed by a catch-up burst shows as lags 3, 2, 1, 0 ms
    stalled = [on_time[53] if 50 <= i <= 53 else t for i, t in enumerate(on_time)]
    lags = lag_ms(stalled, 1000.0)
    assert lags[50:54] == pytest.approx([3.0, 2.0, 1.0, 0.0]) and min(lags) == pytest.approx(0.0)
    slow = [i * 2 * period for i in range(100)]  # sending at half the rate drifts behind
    assert max(lag_ms(slow, 1000.0)) == pytest.approx(99.0)


def test_summarize_takes_the_highest_passing_step() -> None:
    steps = [Step(r, 10, r, 0.1, 0.5, r, 0, ok) for r, ok in ((1, True), (2, False), (4, True))]
    cap = summarize(Capacity("x", "1", steps=steps), [1, 2, 4, 8])
    assert cap.best_rate == 4 and cap.cpu_s_per_1000 == 4 and not cap.ladder_top
    top = summarize(Capacity("x", "1", steps=steps), [1, 2, 4])
    assert top.ladder_top
    failed = summarize(Capacity("x", "1", steps=[steps[1]]), [2])
    assert failed.best_rate is None and failed.cpu_s_per_1000 is None


def test_parse_capture_benchmark_table() -> None:
    out = """python 3.12.1, 2 cpus, load 7.5
target             conc   reqs  ttft p50  ttft p99     req/s cpu ms/req  errs
direct                1    150     0.812     1.500     900.1        -     0
mitmdump (bare)       1    150     5.100     9.000     150.2    4.100     0
agentload capture     1    150     5.300     9.500     140.0    4.400     0

added by the addon at   1 streams: TTFT p50 +0.200 ms, proxy CPU/request +7.3%
"""
    parsed = parse(out)
    assert [r["target"] for r in parsed["rows"]] == [
        "direct",
        "mitmdump (bare)",
        "agentload capture",
    ]
    assert parsed["rows"][2]["cpu_ms_req"] == "4.400" and parsed["rows"][0]["cpu_ms_req"] == "-"
    assert parsed["added"] == [
        "added by the addon at   1 streams: TTFT p50 +0.200 ms, proxy CPU/request +7.3%"
    ]
