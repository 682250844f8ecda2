"""Fixtures for replay tests: run a replay in-process against a sim and load the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from agentload.replay.config import ReplayConfig
from agentload.replay.pipeline import run_replay
from agentload.traceformat import io
from agentload.traceformat.io import Loaded
from tests.values import quantile


def replay(source: Path, target: str, out: Path, **options: Any) -> Loaded:
    """Run `run_replay` quietly and read the result file back."""
    options.setdefault("model", "agentload-sim")
    options.setdefault("quiet", True)
    config = ReplayConfig(source=source, target=target, out=out, **options)
    path = run_replay(config)
    return io.read(path)


def p99(values: pl.Series) -> float:
    return quantile(values, 0.99)
