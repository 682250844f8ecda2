"""Stitching again offline: files of several capture processes join up (issue 16)."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl

from agentload.capture.restitch import restitch_frames
from agentload.traceformat import schema as s
from agentload.traceformat.io import read
from tests.profiles.conftest import run_cli
from tests.profiles.tracegen import Session, agent_session, write_trace


def _two_processes(tmp_path: Path) -> tuple[list[Path], dict[int, str]]:
    """Two agents with the same system prompt and task, at the same time; their calls
    alternate between two files (two proxy processes, recorded ids per process). Returns
    the files and the true agent of each call, by request start."""
    rng = random.Random(3)
    truth: dict[int, str] = {}
    parts: list[list[Session]] = [[], []]
    for name, t0 in (("A", 10**18), ("B", 10**18 + 7_000_000)):
        agent = agent_session(
            rng, name, "w", system="you are an agent", tools=[], task="fix it", turns=5, t0_ns=t0
        )
        for i, call in enumerate(agent.calls):
            truth[call.start_ns] = name
            part = Session(f"{name}-{i}", "w", [call])  # each process saw it as a new session
            parts[i % 2].append(part)
    files = [write_trace(tmp_path / f"p{n}.arrow", p) for n, p in enumerate(parts)]
    return files, truth


def _partition(frame: pl.DataFrame) -> dict[int, str]:
    return dict(zip(frame[s.T_REQUEST_START_NS].to_list(), frame[s.SESSION_ID], strict=True))


def test_calls_split_over_two_files_join_their_sessions(tmp_path: Path) -> None:
    files, truth = _two_processes(tmp_path)
    frames = [read(f, s.Kind.TRACE).frame for f in files]
    assert sum(f[s.SESSION_ID].n_unique() for f in frames) == 12  # as recorded
    again = pl.concat(restitch_frames(frames)).sort(s.T_REQUEST_START_NS)
    sessions = _partition(again)
    for agent in "AB":
        mine = {sessions[t] for t, a in truth.items() if a == agent}
        assert len(mine) == 1, (agent, mine)
        rows = again.filter(pl.col(s.SESSION_ID) == mine.pop())
        assert rows[s.CALL_INDEX].to_list() == list(range(6))
    assert again[s.SESSION_ID].n_unique() == 2
    assert again[s.PARENT_SESSION_ID].null_count() == again.height


def test_trace_stitch_writes_one_file_and_derive_uses_it(tmp_path: Path) -> None:
    files, truth = _two_processes(tmp_path)
    out = tmp_path / "stitched.arrow"
    proc = run_cli("trace", "stitch", *map(str, files), "--out", str(out))
    assert "12 calls from 2 file(s), 2 sessions (0 with a parent); recorded: 12" in proc.stdout
    merged = read(out, s.Kind.TRACE).frame
    assert merged[s.T_REQUEST_START_NS].to_list() == sorted(truth)
    assert merged[s.SESSION_ID].n_unique() == 2
    for f in files:  # the recorded files are left as they were
        assert read(f, s.Kind.TRACE).frame[s.SESSION_ID].n_unique() == 6
    # the merged file is self-contained: deriving it alone gives the same two sessions
    derived = run_cli("profile", "derive", str(out), "--out", str(tmp_path / "a"))
    assert "2 sessions, 12 calls" in derived.stdout, derived.stdout
    joined = run_cli("profile", "derive", *map(str, files), "--out", str(tmp_path / "b"))
    assert "2 sessions, 12 calls" in joined.stdout, joined.stdout
    recorded = run_cli(
        "profile", "derive", *map(str, files), "--out", str(tmp_path / "c"), "--recorded-sessions"
    )
    assert "12 sessions, 12 calls" in recorded.stdout, recorded.stdout
    again = run_cli("trace", "stitch", str(out), "--out", str(out), check=False)
    assert again.returncode == 2 and "--out" in again.stderr
