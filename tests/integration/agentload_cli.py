"""Run the `agentload` CLI as a subprocess, as a user would, with a readable failure."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Kind
from tests.integration.engines import Engine

AGENTLOAD = str(Path(sys.executable).parent / "agentload")


@dataclass(frozen=True)
class Ran:
    stdout: str
    seconds: float


def agentload(*args: str, timeout: float = 240.0) -> Ran:
    """`agentload *args`; fails the test with the command's output when it exits non-zero."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [AGENTLOAD, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"agentload {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return Ran(proc.stdout, time.monotonic() - t0)


def replay(engine: Engine, source: Path, out: Path, *extra: str) -> io.Loaded:
    """Replay `source` against the engine; return the result file, checked for completeness."""
    agentload(
        "replay", str(source), "--target", engine.url, "--model", engine.model,
        "--out", str(out), "--quiet", *extra,
    )  # fmt: skip
    loaded = io.read(out, Kind.RESULT)
    assert not loaded.truncated, f"{out}: truncated result file"
    return loaded


def errors(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col(S.STATUS) != "ok").select(
        S.SESSION_ID, S.CALL_INDEX, S.HTTP_STATUS, S.ERROR_KIND, S.ERROR
    )
