"""Served vs asked-for lengths (analysis.lengths) and the cache rows, by hand."""

from __future__ import annotations

import pytest

from agentload.analysis.lengths import length_check, length_warnings
from agentload.analysis.sessions import cache_excess_warning, cache_summary
from agentload.traceformat import schema as s
from tests.analysis.frames import frame, request


def _asked(prompt: int, output: int) -> dict[str, object]:
    return {s.EXPECTED_INPUT_TOKENS: prompt, s.EXPECTED_OUTPUT_TOKENS: output}


def test_lengths_on_target_pass() -> None:
    rows = [
        request("a", 0, 0, 1, 2, completion=50, prompt=1000) | _asked(1000, 50),
        # 1000 asked, 1015 served: inside the 5% prompt tolerance (50 tokens)
        request("a", 1, 3, 4, 5, completion=60, prompt=1015) | _asked(1000, 60),
    ]
    got = length_check(frame(rows))
    assert got["prompt"]["off"] == 0 and got["completion"]["off"] == 0
    assert got["prompt"]["drift"] == pytest.approx(15 / 2000)
    assert not got["prompt"]["failed"] and not got["completion"]["failed"]
    assert length_warnings(got) == []


def test_early_stop_fails_the_completion_check() -> None:
    # a server that stopped after 5 tokens on 2 of 4 requests; one failed request and one
    # warmup request are not compared
    rows = [
        request("a", 0, 0, 1, 2, completion=5, prompt=100) | _asked(100, 200),
        request("a", 1, 3, 4, 5, completion=200, prompt=100) | _asked(100, 200),
        request("b", 0, 0, 1, 2, completion=5, prompt=100) | _asked(100, 100),
        request("b", 1, 3, 4, 5, completion=100, prompt=100) | _asked(100, 100),
        request("c", 0, 0, 1, 2, completion=None, status="error") | _asked(100, 100),
        request("d", 0, 0, 1, 2, completion=1, warmup=True) | _asked(100, 100),
    ]
    got = length_check(frame(rows))["completion"]
    assert (got["requests"], got["off"]) == (4, 2)
    assert got["off_share"] == pytest.approx(0.5)
    # served 310 of 600 asked: drift (310 - 600) / 600
    assert got["drift"] == pytest.approx(-290 / 600)
    assert got["failed"]
    (line,) = length_warnings(length_check(frame(rows)))
    assert line.startswith("completion lengths: 2 of 4 requests (50.0%) off")
    assert "-48.3%" in line and "min_tokens" in line


@pytest.mark.parametrize(("served", "failed"), [(2050, False), (2070, True)])
def test_prompt_drift_fails_past_3_percent(served: int, failed: bool) -> None:
    # every prompt 2.5% (3.5%) long: each within the 5% tolerance, the drift under (past) 3%
    rows = [request("a", i, i, i + 0.5, i + 1, prompt=served) | _asked(2000, 10) for i in range(3)]
    got = length_check(frame(rows))["prompt"]
    assert got["off"] == 0
    assert got["drift"] == pytest.approx(served / 2000 - 1)
    assert got["failed"] is failed


def test_prompt_tolerance_is_the_larger_of_16_tokens_and_5_percent() -> None:
    rows = [
        request("a", 0, 0, 1, 2, prompt=116) | _asked(100, 10),  # +16 of 100: within 16
        request("a", 1, 3, 4, 5, prompt=83) | _asked(100, 10),  # -17 of 100: off
        request("b", 0, 0, 1, 2, prompt=1050) | _asked(1000, 10),  # +5% of 1000: within
        request("b", 1, 3, 4, 5, prompt=1051) | _asked(1000, 10),  # +5.1%: off
    ]
    assert length_check(frame(rows))["prompt"]["off"] == 2


def test_cache_rates_over_the_same_rows() -> None:
    rows = [
        request("a", 0, 0, 1, 2, prompt=1000, cached=0)
        | {s.EXPECTED_INPUT_TOKENS: 1000, s.EXPECTED_CACHED_TOKENS: 0},
        request("a", 1, 3, 4, 5, prompt=2000, cached=1500)
        | {s.EXPECTED_INPUT_TOKENS: 2000, s.EXPECTED_CACHED_TOKENS: 1600},
        # failed: no usage; its 3000 expected with 3000 cached used to count in the
        # theoretical rate only (then 4600 / 6000 = 76.7% against observed 50%)
        request("a", 2, 6, None, 7, prompt=None, cached=None, status="error")
        | {s.EXPECTED_INPUT_TOKENS: 3000, s.EXPECTED_CACHED_TOKENS: 3000},
    ]
    got = cache_summary(frame(rows))
    assert got["cache_hit_rate"] == pytest.approx(1500 / 3000)
    assert got["theoretical_cache_hit_rate"] == pytest.approx(1600 / 3000)


def test_theoretical_without_cached_counts_uses_successful_rows() -> None:
    rows = [
        request("a", 0, 0, 1, 2, cached=None)
        | {s.EXPECTED_INPUT_TOKENS: 1000, s.EXPECTED_CACHED_TOKENS: 0},
        request("a", 1, 3, 4, 5, cached=None)
        | {s.EXPECTED_INPUT_TOKENS: 1000, s.EXPECTED_CACHED_TOKENS: 500},
    ]
    got = cache_summary(frame(rows))
    assert got["cache_hit_rate"] is None
    assert got["theoretical_cache_hit_rate"] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("observed", "ideal", "warned"),
    [(0.914, 0.875, True), (0.89, 0.875, False), (None, 0.5, False)],
)
def test_cache_excess_warning(observed: float | None, ideal: float, warned: bool) -> None:
    warning = cache_excess_warning(
        {"cache_hit_rate": observed, "theoretical_cache_hit_rate": ideal}
    )
    assert (warning is not None) is warned
    if warning is not None:
        assert "91.4% exceeds the theoretical 87.5%" in warning and "--reset-cache" in warning


@pytest.mark.parametrize(
    ("calibration", "cause"),
    [
        (None, "recorded prompts"),  # a verbatim trace
        ({"note": "...", "against": "http://e/tokenize"}, "calibrated against http://e/tokenize"),
        ({"note": "token ids ...", "exact": True}, "token-id prompts are exact"),
        ({"note": "http://e/tokenize unavailable: ..."}, "not calibrated"),
        ({"note": "calibration disabled: ..."}, "not calibrated"),
    ],
)
def test_a_prompt_drift_names_the_cause_by_how_prompts_were_built(
    calibration: dict[str, object] | None, cause: str
) -> None:
    # calibrated prompts that still come out 10% long are not "no /tokenize"
    rows = [request("a", i, i, i + 0.5, i + 1, prompt=2200) | _asked(2000, 10) for i in range(3)]
    (line,) = length_warnings(length_check(frame(rows)), calibration)
    assert line.startswith("prompt lengths:") and cause in line
    assert ("--tokenizer" in line) is (cause == "not calibrated")
