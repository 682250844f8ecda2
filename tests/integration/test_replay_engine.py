"""Replay a small agentic profile against the real engine: exact output lengths, exact prompt
lengths for token-id prompts, and cached tokens close to the profile's theoretical hit."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from agentload.traceformat import schema as S
from tests.integration.agentload_cli import errors, replay
from tests.integration.cachecheck import assert_cache_close, assert_chat_cache_close
from tests.integration.engines import Engine
from tests.integration.smallprofile import SmallProfile

pytestmark = [pytest.mark.engine, pytest.mark.slow]

METRIC_PREFIX = {"llamacpp": "llamacpp:", "vllm": "vllm:"}


def _check_common(frame: pl.DataFrame, spec: SmallProfile) -> None:
    assert frame.height == spec.sessions * spec.calls, frame
    assert errors(frame).is_empty(), errors(frame)
    # Exact output lengths: the engine honours max_tokens with ignore_eos for every call.
    wrong = frame.filter(pl.col(S.COMPLETION_TOKENS) != pl.col(S.EXPECTED_OUTPUT_TOKENS))
    assert wrong.is_empty(), wrong.select(S.SESSION_ID, S.CALL_INDEX, S.COMPLETION_TOKENS)
    expected = {
        (f"s{s}", c): spec.output_tokens(s, c)
        for s in range(spec.sessions)
        for c in range(spec.calls)
    }
    got = {
        (sid, c): n
        for sid, c, n in frame.select(S.SESSION_ID, S.CALL_INDEX, S.EXPECTED_OUTPUT_TOKENS).rows()
    }
    assert got == expected
    # Turns are causal: each call is sent after the previous call of its session ended.
    ordered = frame.sort(S.SESSION_ID, S.CALL_INDEX)
    gaps = ordered.with_columns(
        (pl.col(S.T_SENT_NS) - pl.col(S.T_END_NS).shift(1).over(S.SESSION_ID)).alias("gap")
    ).filter(pl.col(S.CALL_INDEX) > 0)
    assert (gaps["gap"] >= spec.think_s * 0.9e9).all(), gaps


def test_completions_token_ids(engine: Engine, tmp_path: Path) -> None:
    spec = SmallProfile(salt=1)
    loaded = replay(
        engine, spec.write(tmp_path / "small.arrow"), tmp_path / "r.arrow",
        "--api", "completions", "--scrape-metrics",
    )  # fmt: skip
    frame = loaded.frame
    _check_common(frame, spec)
    # Token-id prompts have exact lengths: the server counts exactly what the profile says.
    wrong = frame.filter(pl.col(S.PROMPT_TOKENS) != pl.col(S.EXPECTED_INPUT_TOKENS))
    assert wrong.is_empty(), wrong.select(S.SESSION_ID, S.CALL_INDEX, S.PROMPT_TOKENS)
    assert_cache_close(frame, engine.cache_tolerance(spec.block_size))
    # The engine's own Prometheus counters were scraped during the run.
    samples = json.loads(loaded.metadata[S.META_ENGINE_METRICS.decode()])
    names = {s["name"] for s in samples}
    prefix = METRIC_PREFIX[engine.kind]
    assert any(n.startswith(prefix) for n in names), sorted(names)[:20]


def test_chat_text_prompts(engine: Engine, tmp_path: Path) -> None:
    spec = SmallProfile(salt=2)
    loaded = replay(
        engine, spec.write(tmp_path / "small.arrow"), tmp_path / "r.arrow", "--api", "chat"
    )
    frame = loaded.frame
    _check_common(frame, spec)
    # Text calibrated with /tokenize, plus the chat template's own tokens: close, not exact.
    rel = (pl.col(S.PROMPT_TOKENS) / pl.col(S.EXPECTED_INPUT_TOKENS) - 1).abs()
    off = frame.filter(rel > 0.15)
    assert off.is_empty(), off.select(S.SESSION_ID, S.CALL_INDEX, S.PROMPT_TOKENS)
    assert_chat_cache_close(frame, engine.cache_tolerance(spec.block_size))
    # The words-per-token ratio was measured on the engine's own /tokenize.
    diagnostics = json.loads(loaded.metadata[S.META_DIAGNOSTICS.decode()])
    calibration = diagnostics["calibration"]
    assert str(calibration["note"]).startswith("calibrated against"), calibration
