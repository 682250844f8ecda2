"""Fixtures for the analysis tests: run the real `agentload` CLI as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, timeout: float = 240) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-c", "from agentload.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def run_cli() -> Callable[..., tuple[int, str, str]]:
    return _run
