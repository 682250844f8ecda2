"""Were the lengths the workload asked for the lengths the engine served?

Per successful, measured request: the prompt tokens the server reported against the
source's ``expected_input_tokens``, and the completion tokens against
``expected_output_tokens``. A request is *off* when they differ by more than the tolerance
(completions: ``COMPLETION_TOLERANCE`` tokens, as lengths are forced exactly; prompts: the
larger of ``PROMPT_TOLERANCE_TOKENS`` and ``PROMPT_TOLERANCE`` of the expected count, as
text prompts are calibrated, not exact). Drift = Σ(actual − expected) / Σ expected.

A length check *fails* when more than ``OFF_SHARE_LIMIT`` (1%) of the requests are off or
the drift passes ``DRIFT_LIMIT`` either way (completions 1%, prompts 3%): a server that
stops after a few tokens (ignoring ``min_tokens``/``ignore_eos``) or a prompt 39% longer
than asked (no ``/tokenize``) then says so in the replay summary and the report, and fails
the run with ``--strict-lengths``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from agentload.analysis.requests import is_ok
from agentload.traceformat import schema as s

COMPLETION_TOLERANCE = 0
# Text prompts are sized in whole words, so one prompt is off by a few words either way
# (calibrated chat prompts of ~300 tokens on the sim: -16 to +19 tokens) while their sum
# stays within 0.3%: the per-request tolerance is wide, the drift limit narrow.
PROMPT_TOLERANCE = 0.05
PROMPT_TOLERANCE_TOKENS = 16
OFF_SHARE_LIMIT = 0.01
# Completions are forced to their length: 1% of drift is a server cutting them short. Text
# prompts drift by up to ~2% run to run (the words change with each run's cache salt; short
# prompts on the sim: -0.1% to +2.4% over 26 requests): 3% is past that noise and far
# below an uncalibrated prompt (+39% without /tokenize).
DRIFT_LIMIT = {"prompt": 0.03, "completion": 0.01}

# (name, actual column, expected column)
SIDES = (
    ("prompt", s.PROMPT_TOKENS, s.EXPECTED_INPUT_TOKENS),
    ("completion", s.COMPLETION_TOKENS, s.EXPECTED_OUTPUT_TOKENS),
)


def _tolerance(side: str, expected: pl.Expr) -> pl.Expr:
    if side == "completion":
        return pl.lit(COMPLETION_TOLERANCE, pl.Float64)
    return pl.max_horizontal(
        pl.lit(float(PROMPT_TOLERANCE_TOKENS)), expected.cast(pl.Float64) * PROMPT_TOLERANCE
    )


def _side(frame: pl.DataFrame, side: str, actual: str, expected: str) -> dict[str, Any]:
    rows = frame.filter(
        ~pl.col(s.WARMUP) & is_ok() & pl.col(actual).is_not_null() & pl.col(expected).is_not_null()
    )
    diff = (pl.col(actual) - pl.col(expected)).cast(pl.Float64)
    got = rows.select(
        pl.len().alias("requests"),
        (diff.abs() > _tolerance(side, pl.col(expected))).sum().alias("off"),
        diff.sum().alias("diff"),
        pl.col(expected).sum().cast(pl.Float64).alias("expected"),
        pl.col(expected).sum().alias("expected_tokens"),
        pl.col(actual).sum().alias("actual_tokens"),
    ).row(0, named=True)
    n, off = int(got["requests"]), int(got["off"] or 0)
    drift = got["diff"] / got["expected"] if n and got["expected"] else None
    share = off / n if n else None
    failed = bool(n) and (
        (share or 0.0) > OFF_SHARE_LIMIT or (drift is not None and abs(drift) > DRIFT_LIMIT[side])
    )
    return {
        "requests": n,
        "off": off,
        "off_share": share,
        "drift": drift,
        "expected_tokens": int(got["expected_tokens"] or 0),
        "actual_tokens": int(got["actual_tokens"] or 0),
        "failed": failed,
    }


def length_check(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """Per side ("prompt", "completion"): requests compared, how many were off, the share
    off, the drift, and whether the check failed (module docstring)."""
    return {side: _side(frame, side, actual, expected) for side, actual, expected in SIDES}


def prompt_cause(calibration: Mapping[str, Any] | None) -> str:
    """Why prompts may come out another length than asked, by how they were built: the
    calibration record replay keeps (None for a verbatim trace's recorded prompts)."""
    if calibration is None:
        return (
            "the target tokenizes the recorded prompts differently (another model or "
            "tokenizer than the recording's)"
        )
    if calibration.get("against"):
        return (
            f"text prompts were calibrated against {calibration['against']}, yet the server "
            "counted otherwise: its chat template or tokenizer differs from what was measured"
        )
    if calibration.get("exact"):
        return "token-id prompts are exact: the server added tokens of its own (BOS, template)"
    return (
        "text prompts are not calibrated to the target's tokenizer (no /tokenize: try --tokenizer)"
    )


def length_warnings(
    check: dict[str, dict[str, Any]], calibration: Mapping[str, Any] | None = None
) -> list[str]:
    """One line per failed side, e.g. 'completion lengths: 13 of 13 requests (100.0%) off
    the requested length, drift -95.0% ...'; `calibration` (replay's record) names the
    likely cause for prompts."""
    out = []
    for side, got in check.items():
        if not got.get("failed"):
            continue
        why = (
            "the server may ignore min_tokens/ignore_eos (or the length field sent)"
            if side == "completion"
            else prompt_cause(calibration)
        )
        out.append(
            f"{side} lengths: {got['off']} of {got['requests']} requests "
            f"({100 * (got['off_share'] or 0):.1f}%) off the length asked for, drift "
            f"{100 * (got['drift'] or 0):+.1f}% ({got['actual_tokens']:,} tokens served for "
            f"{got['expected_tokens']:,} asked): {why}"
        )
    return out
