"""Run `agentload sim` as a subprocess for tests: `with running_sim("--preset", "fast") as sim:`.

The sim is started with `--port 0`; the helper waits for its "listening on" line, and on exit
sends SIGTERM and waits (the timing log, if any, is then complete).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import polars as pl

from agentload.simengine import launch

_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Sim:
    url: str  # "http://127.0.0.1:PORT"
    model: str
    timing_log: Path | None
    pid: int


def _option(args: tuple[str, ...], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


@contextlib.contextmanager
def running_sim(*cli_args: str) -> Iterator[Sim]:
    """Start `agentload sim --host 127.0.0.1 --port 0 *cli_args`; stop it on exit."""
    with tempfile.TemporaryFile() as stderr:
        proc = launch.start(cli_args, stderr=stderr, cwd=os.getcwd())
        try:
            url = _wait_ready(proc, stderr)
            log = _option(cli_args, "--timing-log")
            model = _option(cli_args, "--model") or "agentload-sim"
            yield Sim(url, model, Path(log) if log else None, proc.pid)
        finally:
            launch.stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], stderr: IO[bytes]) -> str:
    try:
        return launch.wait_listening(proc, _START_TIMEOUT_S)
    except launch.SimStartError:
        launch.stop(proc)
        stderr.seek(0)
        err = stderr.read().decode(errors="replace")
        raise RuntimeError(f"agentload sim did not start (exit {proc.returncode}): {err}") from None


def read_timing_log(path: Path) -> pl.DataFrame:
    """The sim's timing log of a replay's own requests: without the preflight's probes
    (sent before the clock starts, under the session id `PREFLIGHT_SESSION`)."""
    from agentload.replay.preflight import PREFLIGHT_SESSION

    log = pl.read_ipc(path)
    return log.filter(pl.col("session_id").ne_missing(PREFLIGHT_SESSION))
