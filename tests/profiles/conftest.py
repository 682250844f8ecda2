"""Fixtures for the profiles tests: the CLI as a subprocess and the public trie sample."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# The first 64 rows of the public agentic-coding file (a copy of shared/data/...).
SAMPLE = REPO_ROOT / "tests" / "data" / "trie_agentic_coding_sample64.jsonl"


def run_cli(
    *args: str, check: bool = True, columns: int | None = None
) -> subprocess.CompletedProcess[str]:
    """`agentload ARGS` in a fresh interpreter (as a user runs it); `columns` sets the
    terminal width rich lays its tables out for (so wide tables do not wrap)."""
    env = None if columns is None else {**os.environ, "COLUMNS": str(columns)}
    proc = subprocess.run(
        [sys.executable, "-c", "from agentload.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=240,
        env=env,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"agentload {' '.join(args)} failed:\n{proc.stderr}")
    return proc


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, no traceback, one line on stderr that contains every needle."""
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stdout, err)
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.fixture(scope="session")
def trie_sample() -> Path:
    if not SAMPLE.exists():
        pytest.fail(f"missing test data {SAMPLE} (the shared 64-row trie sample)")
    return SAMPLE
