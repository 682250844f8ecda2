"""`agentload replay` end to end: built-in profiles, traces, workers, metrics, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from agentload.traceformat import io
from agentload.traceformat import schema as S
from tests.replay.conftest import replay
from tests.replay.traces import write_trace
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import Sim, read_timing_log, running_sim
from tests.timing import Measured, Noise, within_noise

CLI = [sys.executable, "-c", "from agentload.cli import main; main()", "replay"]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _to_sim(source: str | Path, sim: Sim, out: Path) -> list[str]:
    """SOURCE --target/--model of the running sim --out OUT."""
    return [str(source), "--target", sim.url, "--model", sim.model, "--out", str(out)]


def test_builtin_profile_by_name(tmp_path: Path) -> None:
    out = tmp_path / "r.arrow"
    with running_sim("--preset", "fast") as sim:
        proc = run_cli(
            *_to_sim("code-qa", sim, out),
            "--concurrency",
            "4",
            "--max-sessions",
            "4",
            "--think-scale",
            "0.001",
            "--max-think",
            "0.01",
            "--scrape-metrics",
        )
    assert proc.returncode == 0, proc.stderr
    assert "replay complete" in proc.stderr and "schedule lag" in proc.stderr
    loaded = io.read(out)
    assert loaded.info["source"] == "builtin:code-qa"
    frame = loaded.frame
    assert frame[S.SESSION_ID].n_unique() >= 4
    assert (frame[S.STATUS] == "ok").all()
    assert (frame[S.COMPLETION_TOKENS] == frame[S.EXPECTED_OUTPUT_TOKENS]).all()
    samples = json.loads(loaded.metadata[S.META_ENGINE_METRICS.decode()])
    names = {s["name"] for s in samples}
    assert {"vllm:num_requests_running", "vllm:kv_cache_usage_perc"} <= names, names


def test_bad_source_is_one_line(tmp_path: Path) -> None:
    proc = run_cli("no-such-profile", "--target", "http://127.0.0.1:9", "--model", "m")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no-such-profile" in proc.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"num_turns": "x"}\n')
    # --no-preflight: the preflight's first contact comes before the source loads (an engine
    # that is down is reported in seconds, exit 3), and nothing listens at this target
    proc = run_cli(str(bad), "--target", "http://127.0.0.1:9", "--model", "m", "--no-preflight")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    proc = run_cli(str(bad), "--target", "ftp://x", "--model", "m")
    assert proc.returncode == 2 and "--target" in proc.stderr


TRACE_GAP_MS = 80  # the recorded think time between the trace's two calls


def _verbatim_run(run_dir: Path) -> tuple[pl.DataFrame, Path]:
    """One replay of the trace beside `run_dir`: its rows and the sim's timing log."""
    run_dir.mkdir()
    log = run_dir / "timing.arrow"
    with running_sim("--preset", "fast", "--timing-log", str(log)) as sim:
        result = replay(run_dir.parent / "trace.arrow", sim.url, run_dir / "o.arrow")
    return result.frame.sort(S.SESSION_ID, S.CALL_INDEX), log


def _worst_gap_error_ms(run: tuple[pl.DataFrame, Path], noise: Noise) -> float:
    """How far each session's think gap is from the recorded one; a late send counted beyond
    the run-queue wait of its window (tests/timing.py), an early one as it is."""
    rows = run[0]
    ends = rows.filter(pl.col(S.CALL_INDEX) == 0)[S.T_END_NS].to_list()
    sends = rows.filter(pl.col(S.CALL_INDEX) == 1)[S.T_SENT_NS].to_list()
    return max(
        abs(noise.late_ms(end + TRACE_GAP_MS * 1_000_000, sent))
        for end, sent in zip(ends, sends, strict=True)
    )


def test_trace_replays_verbatim(tmp_path: Path) -> None:
    recorded = write_trace(tmp_path / "trace.arrow")
    runs = iter(range(1, 10))
    measured = Measured(lambda: _verbatim_run(tmp_path / f"run{next(runs)}"))
    rows, log = measured.first
    assert (rows[S.STATUS] == "ok").all(), rows[S.ERROR].to_list()  # the sim checks the model
    assert rows[S.COMPLETION_TOKENS].to_list() == [r[S.COMPLETION_TOKENS] for r in recorded]
    within_noise(measured, _worst_gap_error_ms, 5.0, "think gap")
    prompts = read_timing_log(log).sort("session_id", "arrival_ns")["prompt_tokens"].to_list()
    assert prompts[1] > prompts[0] and prompts[3] > prompts[2]  # history grows as recorded


def test_two_workers_share_one_schedule(tmp_path: Path) -> None:
    profile = write_profile(tmp_path / "p.arrow", Shape(sessions=8, calls=3))
    with running_sim("--preset", "fast") as sim:
        result = replay(
            tmp_path / "p.arrow", sim.url, tmp_path / "o.arrow", workers=2, think_scale=0.2
        )
    rows = result.frame
    assert rows.height == profile.height
    assert set(rows[S.WORKER].unique()) == {0, 1}
    family = pl.col(S.SESSION_ID).str.replace("-child", "")
    assert rows.group_by(family).agg(pl.col(S.WORKER).n_unique())[S.WORKER].max() == 1
    starts = rows.filter((pl.col(S.CALL_INDEX) == 0) & pl.col(S.PARENT_SESSION_ID).is_null())
    offsets = (starts[S.T_SCHEDULED_NS] - starts[S.T_SCHEDULED_NS].min()).sort() / 1e8
    assert [round(x) for x in offsets] == list(range(8))  # one epoch for both workers
    assert set(json.loads(result.metadata[S.META_DIAGNOSTICS.decode()])["client_cpu_s"]) == {
        "0",
        "1",
    }


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_leaves_partial_file(tmp_path: Path, workers: str) -> None:
    write_profile(tmp_path / "p.arrow", Shape(sessions=4, calls=3, outputs=(2000,), child=False))
    out = tmp_path / "r.arrow"
    with running_sim("--preset", "fast", "--token-interval-ms", "5") as sim:
        proc = subprocess.Popen(
            [*CLI, *_to_sim(tmp_path / "p.arrow", sim, out), "--workers", workers],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Signal once every worker is writing (its part file exists), then a little later.
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("*.part*"))) < int(workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: partial result" in err
    loaded = io.read(out)
    assert loaded.metadata[S.META_COMPLETE.decode()] == "false"
    cancelled = loaded.frame.filter(pl.col(S.ERROR_KIND) == S.ErrorKind.CANCELLED)
    assert cancelled.height >= 1
    assert "PARTIAL" in err
    assert not list(tmp_path.glob("*.part*"))


def test_summary_counts_errors(tmp_path: Path) -> None:
    write_profile(tmp_path / "p.arrow", Shape(sessions=2, calls=2, child=False, think_s=(0.01,)))
    out = tmp_path / "r.arrow"
    with running_sim("--preset", "fast", "--allow-faults") as sim:
        # --no-preflight: its probe would meet the fault first and stop the run (exit 3)
        fault = ("--header", "X-Sim-Fault: http500", "--no-preflight")
        proc = run_cli(*_to_sim(tmp_path / "p.arrow", sim, out), *fault)
    assert proc.returncode == 3, proc.stderr  # nothing succeeded: not a measurement
    assert "replay FAILED (no request succeeded): 4 requests, 0 ok" in proc.stderr
    assert "errors: http_5xx 4" in proc.stderr
    assert io.read(out).metadata[S.META_COMPLETE.decode()] == "true"
