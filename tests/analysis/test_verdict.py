"""compare's verdicts: metric values against hand-worked answers, the bootstrap's noise
interval, --fail-on thresholds, mismatch warnings and the exit code that gates CI."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from agentload.analysis.bootstrap import CATALOGUE, RunFrames, replicates, values
from agentload.analysis.identity import mismatches
from agentload.analysis.verdict import (
    IMPROVED,
    NOISE,
    REGRESSED,
    Threshold,
    judge,
    parse_fail_on,
)
from agentload.base.errors import ConfigError
from agentload.traceformat import schema as s
from tests.analysis import synth
from tests.analysis.frames import frame, request

RunCli = Callable[..., tuple[int, str, str]]


def _run() -> RunFrames:
    """Two sessions; times in s. Requests: TTFT 0.1, 0.2, 0.3, 0.4 s (one failed request
    besides); completions 10, 20, 30, 40 tokens; prompts 100 each; the run spans 0-4 s."""
    rows = [
        request("a", 0, 0.0, 0.1, 1.0, completion=10),
        request("a", 1, 1.0, 1.2, 2.0, completion=20, **{s.FINAL_CALL: True}),
        request("b", 0, 0.5, 0.8, 2.5, completion=30),
        request("b", 1, 2.5, 2.9, 4.0, completion=40, **{s.FINAL_CALL: True}),
        request(
            "b",
            2,
            3.0,
            None,
            3.5,
            completion=None,
            prompt=None,
            cached=None,
            **{s.STATUS: "error", s.ERROR_KIND: "http_5xx"},
        ),
    ]
    return RunFrames.of(frame(rows), None)


def test_values_hand_worked() -> None:
    names = [
        "ttft_p50",
        "ttft_p99",
        "ttft_mean",
        "tok_s",
        "req_s",
        "total_tok_s",
        "error_rate",
        "session_p50",
        "e2e_p50",
    ]
    got = values(_run(), [CATALOGUE[n] for n in names])
    # TTFT (ms) 100, 200, 300, 400: p50 = 250; p99 = 300 + 0.97 * 100 (linear between ranks)
    assert got["ttft_p50"] == pytest.approx(250.0)
    assert got["ttft_p99"] == pytest.approx(397.0)
    assert got["ttft_mean"] == pytest.approx(250.0)
    # 100 completion tokens, 4 successful requests, 400 + 100 tokens, over D = 4 s
    assert got["tok_s"] == pytest.approx(100 / 4)
    assert got["req_s"] == pytest.approx(4 / 4)
    assert got["total_tok_s"] == pytest.approx(500 / 4)
    assert got["error_rate"] == pytest.approx(1 / 5)
    # session a: 0 -> 2.0 s; b failed a call, so it did not complete: only a counts
    assert got["session_p50"] == pytest.approx(2.0)
    # E2E (ms) 1000, 1000, 2000, 1500: p50 = 1250
    assert got["e2e_p50"] == pytest.approx(1250.0)


def test_bootstrap_is_seeded_and_resamples_units() -> None:
    run, metrics = _run(), [CATALOGUE["ttft_p50"], CATALOGUE["tok_s"]]
    first = replicates(run, metrics, 200, seed=7)
    assert first == replicates(run, metrics, 200, seed=7)
    assert first != replicates(run, metrics, 200, seed=8)
    assert len(first["ttft_p50"]) == len(first["tok_s"]) == 200
    # a replicate's median TTFT is a median of the four TTFTs drawn with replacement
    assert all(100 <= v <= 400 for v in first["ttft_p50"] if v is not None)
    assert len(set(first["ttft_p50"])) > 3  # the draws differ


def test_bootstrap_chunks_match_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentload.analysis import bootstrap

    run, metrics = _run(), [CATALOGUE["ttft_p99"], CATALOGUE["tok_s_steady"]]
    whole = replicates(run, metrics, 150, seed=3)
    monkeypatch.setattr(bootstrap, "MAX_CHUNK_ROWS", 7)  # a few replicates per chunk
    assert replicates(run, metrics, 150, seed=3) == whole


def test_judge_hand_worked() -> None:
    ttft = CATALOGUE["ttft_p99"]
    diffs = [float(d) for d in range(1, 41)]  # 2.5th pct: 1 + 0.975 = 1.975; 97.5th: 39.025
    v = judge(ttft, 100.0, 120.0, diffs, Threshold("ttft_p99", 0.10, True))
    assert v.low == pytest.approx(1.975) and v.high == pytest.approx(39.025)
    assert v.verdict == REGRESSED and v.relative == pytest.approx(0.2) and v.breached
    # the same rise inside a threshold of +25 %: regressed, not breached
    assert not judge(ttft, 100.0, 120.0, diffs, Threshold("ttft_p99", 0.25, True)).breached
    # an interval holding 0 is noise, whatever the point change and the threshold
    noisy = judge(ttft, 100.0, 150.0, [-5.0, 0.0, 60.0], Threshold("ttft_p99", 0.1, True))
    assert noisy.verdict == NOISE and not noisy.breached
    # higher is better for throughput: a fall beyond -5 % breaches, a rise is improved
    tok = CATALOGUE["tok_s_steady"]
    fall = judge(tok, 200.0, 180.0, [-30.0, -20.0, -15.0], Threshold("tok_s_steady", -0.05, True))
    assert fall.verdict == REGRESSED and fall.breached
    assert judge(tok, 200.0, 260.0, [40.0, 60.0, 80.0]).verdict == IMPROVED
    # absolute thresholds are in the metric's unit (ms)
    assert judge(ttft, 100.0, 160.0, diffs, Threshold("ttft_p99", 50.0, False)).breached
    assert not judge(ttft, 100.0, 140.0, diffs, Threshold("ttft_p99", 50.0, False)).breached
    assert judge(ttft, None, 140.0, diffs).verdict == "n/a"


def test_parse_fail_on() -> None:
    got = parse_fail_on("ttft_p99=+10%, tok_s_steady=-5%,e2e_p95=+40")
    assert got == [
        Threshold("ttft_p99", 0.10, True),
        Threshold("tok_s_steady", -0.05, True),
        Threshold("e2e_p95", 40.0, False),
    ]
    assert parse_fail_on(None) == []
    for bad in ("ttft_p98=+10%", "ttft_p99", "ttft_p99=10%", "ttft_p99=+ten%"):
        with pytest.raises(ConfigError, match="--fail-on"):
            parse_fail_on(bad)


def test_mismatches() -> None:
    base = {
        "source": "agentic-coding",
        "model": "m",
        "options": {"concurrency": 8},
        "cache_salt_pinned": False,
        "agentload_version": "0.1",
        "target_identity": {"models": [{"id": "m"}], "server": "vllm"},
    }
    assert mismatches(["a", "b"], [base, dict(base)]) == []
    other = base | {
        "source": "code-qa",
        "options": {"session_rate": 2.0},
        "cache_salt_pinned": True,
        "target_identity": {"models": [{"id": "m"}], "server": "sglang"},
    }
    warned = mismatches(["a", "b"], [base, other])
    assert [w.split(":")[0] for w in warned] == [
        "runs differ in workload",
        "runs differ in mode",
        "runs differ in salt policy",
        "runs differ in engine",
    ]
    assert "a: agentic-coding; b: code-qa" in warned[0]

    # the same engine with a quarter of its KV cache is a different engine
    def kv(blocks: str) -> dict[str, object]:
        cache = {"block_size": "16", "num_gpu_blocks": blocks}
        return base | {"target_identity": {"models": [{"id": "m"}], "cache_config_info": cache}}

    assert mismatches(["a", "b"], [kv("8192"), kv("8192")]) == []
    (warning,) = mismatches(["a", "b"], [kv("8192"), kv("2048")])
    assert warning.startswith("runs differ in engine") and '"num_gpu_blocks": "2048"' in warning


def test_compare_gates_on_ttft_p99(tmp_path: Path, run_cli: RunCli) -> None:
    info = {"source": "agentic-coding"}
    base = synth.write(tmp_path / "base.arrow", sessions=30, seed=1, info=info)
    same = tmp_path / "same.arrow"
    shutil.copy(base, same)
    slow = synth.write(tmp_path / "slow.arrow", sessions=30, seed=1, slower_ms=150, info=info)
    gate = "ttft_p99=+10%,tok_s_steady=-5%"
    code, out, err = run_cli("compare", str(base), str(same), "--fail-on", gate)
    assert code == 0, err
    assert "within noise" in out and "ttft_p99=+10%: pass" in out and "warning" not in out
    code, out, err = run_cli(
        "compare", str(base), str(slow), "--fail-on", gate, "--json", str(tmp_path / "v.json")
    )
    assert code == 1, err
    assert "error: compare --fail-on: slow: ttft_p99 +38" in err and "ttft_p99=+10%: FAIL" in out
    doc = json.loads((tmp_path / "v.json").read_text())
    by_name = {v["metric"]: v for v in doc["comparisons"][0]["verdicts"]}
    assert by_name["ttft_p99"]["verdict"] == "regressed" and by_name["ttft_p99"]["breached"]
    assert by_name["tok_s_steady"]["breached"] is False and doc["failed"] is True
    # a 150 ms rise is past +10 % but not past +60 %: the gate passes
    code, _, err = run_cli("compare", str(base), str(slow), "--fail-on", "ttft_p99=+60%")
    assert code == 0, err


def test_compare_warns_on_mismatched_workloads(tmp_path: Path, run_cli: RunCli) -> None:
    a = synth.write(tmp_path / "a.arrow", sessions=6, seed=1, info={"source": "agentic-coding"})
    b = synth.write(tmp_path / "b.arrow", sessions=6, seed=1, info={"source": "code-qa"})
    code, out, err = run_cli("compare", str(a), str(b), "--resamples", "100")
    assert code == 0, err
    assert "warning: runs differ in workload: a: agentic-coding; b: code-qa" in out
    code, _, err = run_cli("compare", str(a), str(b), "--fail-on", "ttft_p98=+1%")
    assert code == 2 and "--fail-on" in err and "Traceback" not in err
