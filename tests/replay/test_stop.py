"""Stopping a run: one stop event inside the pipeline, signals translated at process edges.

Subprocess tests send SIGINT/SIGTERM at the moments that used to lose the run: while the
spawned workers of `--workers 2` still start up, and in the middle of a sweep.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from agentload.replay.config import ReplayConfig
from agentload.replay.pipeline import RunResult, replay
from agentload.traceformat import io
from agentload.traceformat import schema as S
from tests.procinfo import catches, children
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim

CLI = [sys.executable, "-c", "from agentload.cli import main; main()"]
STOP_WITHIN_S = 20.0  # from the signal to the exit, on a loaded 2-core host
SLOW = Shape(sessions=4, calls=3, outputs=(2000,), child=False)  # ~10 s per call at 5 ms/token


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("sig", ["SIGTERM to the parent", "SIGINT to the group"])
def test_workers_stopped_while_starting_keep_an_empty_partial_file(
    tmp_path: Path, sig: str
) -> None:
    write_profile(tmp_path / "p.arrow", SLOW)
    out = tmp_path / "r.arrow"
    with running_sim("--preset", "fast", "--token-interval-ms", "5") as sim:
        proc = subprocess.Popen(
            [*CLI, "replay", str(tmp_path / "p.arrow"), "--target", sim.url,
             "--model", sim.model, "--out", str(out), "--workers", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        # The spawned workers exist but cannot be ready yet: they are still importing.
        _wait_for(lambda: len(children(proc.pid)) >= 2, "the worker processes")
        assert not list(tmp_path.glob("*.part*"))
        if sig.startswith("SIGTERM"):
            os.kill(proc.pid, signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)  # a Ctrl-C reaches the workers too
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert took < STOP_WITHIN_S, took
    assert "Traceback" not in err and "aborted" not in err, err
    assert "PARTIAL" in err and "interrupted: partial result (0 requests)" in err, err
    loaded = io.read(out)
    assert loaded.metadata[S.META_COMPLETE.decode()] == "false"
    assert loaded.frame.height == 0
    assert not list(tmp_path.glob("*.part*"))


def test_stop_event_ends_the_pipeline_with_a_partial_file(tmp_path: Path) -> None:
    """The pipeline's one stop mechanism, without any signal: an event set mid-run."""
    write_profile(tmp_path / "p.arrow", SLOW)

    async def stop_once_sending(config: ReplayConfig) -> RunResult:
        stop = asyncio.Event()

        async def stopper() -> None:
            while not list(tmp_path.glob("*.part*")):
                await asyncio.sleep(0.02)
            await asyncio.sleep(1.0)
            stop.set()

        task = asyncio.create_task(stopper())
        try:
            result = await replay(config, stop)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return result

    with running_sim("--preset", "fast", "--token-interval-ms", "5") as sim:
        out = tmp_path / "r.arrow"
        config = ReplayConfig(tmp_path / "p.arrow", sim.url, sim.model, out, quiet=True)
        result = asyncio.run(stop_once_sending(config))
    assert result.interrupted and not result.complete
    loaded = io.read(tmp_path / "r.arrow")
    assert loaded.metadata[S.META_COMPLETE.decode()] == "false"
    cancelled = loaded.frame.filter(pl.col(S.ERROR_KIND) == S.ErrorKind.CANCELLED)
    assert cancelled.height >= 1


def test_ctrl_c_stops_the_whole_sweep(tmp_path: Path) -> None:
    write_profile(tmp_path / "p.arrow", SLOW)
    out_dir = tmp_path / "sweep"
    with running_sim("--preset", "fast", "--token-interval-ms", "5") as sim:
        proc = subprocess.Popen(
            [*CLI, "sweep", str(tmp_path / "p.arrow"), "--target", sim.url,
             "--model", sim.model, "--concurrency", "2,4", "--out-dir", str(out_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        _wait_for(lambda: list(out_dir.glob("c2.arrow.part*")), "point c2 to start")
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)
        t0 = time.monotonic()
        stdout, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert took < STOP_WITHIN_S, took
    assert "sweep interrupted during point c2" in stdout.replace("\n", " "), stdout
    assert io.read(out_dir / "c2.arrow").metadata[S.META_COMPLETE.decode()] == "false"
    assert sorted(p.name for p in out_dir.iterdir()) == ["c2.arrow"]  # c4 never started


@pytest.mark.parametrize("delay_s", [0.0, 0.5])
def test_ctrl_c_while_the_console_script_imports_keeps_a_partial_file(
    tmp_path: Path, delay_s: float
) -> None:
    """Catalogue rows 102-103: a SIGINT in the console script's first second (still
    importing) used to print a KeyboardInterrupt traceback and leave no result file; it is
    held (base.held_signals) and becomes the run's stop request."""
    write_profile(tmp_path / "p.arrow", SLOW)
    out = tmp_path / "r.arrow"
    script = Path(sys.executable).parent / "agentload"  # the console script, agentload.entry
    with running_sim("--preset", "fast") as sim:
        proc = subprocess.Popen(
            [str(script), "replay", str(tmp_path / "p.arrow"), "--target", sim.url,
             "--model", sim.model, "--out", str(out), "--concurrency", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        # From the moment it holds signals (SIGTERM caught, /proc's SigCgt) plus the delay:
        # still importing, on any machine, however slowly the interpreter starts.
        _wait_for(lambda: catches(proc.pid, signal.SIGTERM), "the held signals")
        time.sleep(delay_s)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "aborted" not in err, err
    loaded = io.read(out)
    assert loaded.metadata[S.META_COMPLETE.decode()] == "false"
    assert not list(tmp_path.glob("*.part*"))
