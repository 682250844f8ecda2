"""`profile list`, `profile show NAME` and `profile stats FILE`: the figures they print are
the ones polars computes from the file, beside the reference table's."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from agentload.profiles import builtin
from agentload.traceformat import schema as s
from agentload.traceformat.io import read, write_file
from tests.profiles.conftest import run_cli
from tests.profiles.measure import measure, points
from tests.values import number

POINTS = ("mean", "p10", "p50", "p90", "p99", "max")

# ARCHITECTURE.md, "Reference statistics", agentic-coding, as the CLI prints them.
AGENTIC_REFERENCE: dict[str, tuple[str, ...]] = {
    "tool turns": ("20.2", "5", "13", "46", "97", "159"),
    "starting prompt tokens": ("6,584", "6,171", "6,448", "7,114", "8,781", "13,195"),
    "assistant tokens per tool turn": ("220", "64", "112", "542", "1,067", "1,889"),
    "tool output tokens per turn": ("647", "20", "162", "1,195", "7,877", "24,917"),
    "tool latency per turn (s)": ("1.7", "0.1", "0.4", "2.4", "29.1", "60.3"),
    "final answer tokens": ("445", "253", "416", "688", "905", "1,149"),
}
# docs/profiles.md: code-qa's reference row is our estimate.
CODE_QA_REFERENCE: dict[str, tuple[str, ...]] = {
    "tool turns": ("24", "2", "12", "60", "160", "200"),
    "final answer tokens": ("380", "120", "320", "700", "1,200", "2,000"),
}


def fmt(value: float) -> str:
    """The CLI's number format: thousands separators from 100, else 3 significant digits."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def table_rows(stdout: str) -> dict[str, list[str]]:
    """Body rows of the rich table(s) in `stdout`: first cell -> the other cells."""
    rows: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        if line.startswith("│") and line.endswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows[cells[0]] = cells[1:]
    return rows


def check_stats_output(
    stdout: str, frame: pl.DataFrame, reference: dict[str, tuple[str, ...]]
) -> None:
    """Every cell is `profile / reference`, the profile part computed here with polars."""
    rows = table_rows(stdout)
    for quantity, series in measure(frame).items():
        got = points(series)
        cells = rows[quantity]
        assert [c.split(" / ")[0] for c in cells] == [fmt(got[p]) for p in POINTS], quantity
        if quantity in reference:
            assert [c.split(" / ")[1] for c in cells] == list(reference[quantity]), quantity
    sessions = frame[s.SESSION_ID].n_unique()
    block = "—" if frame[s.HASH_IDS].is_null().all() else "64"
    assert f"sessions {sessions:,} (0 child), calls {frame.height:,}, block size {block}" in stdout
    first_latency = number(frame.filter(pl.col(s.CALL_INDEX) == 1)[s.THINK_S].mean())
    assert f"first tool latency mean: {fmt(first_latency)} s" in stdout
    inputs = number(frame[s.INPUT_TOKENS].sum())
    history = number((frame[s.INPUT_TOKENS] - frame[s.NEW_INPUT_TOKENS]).sum()) / inputs
    assert f"ideal prefix-cache hit: history {100 * history:.1f}%" in stdout
    if block == "—":
        assert "hash_ids (cross-session) —" in stdout
    else:
        assert f"hash_ids (cross-session) {100 * hash_hit(frame):.1f}%" in stdout


def hash_hit(frame: pl.DataFrame, block: int = 64) -> float:
    """Unbounded prefix cache in arrival order (ties: file order): a call hits its leading
    full blocks seen before, among those before its last token."""
    seen: set[int] = set()
    hit = 0
    first_row = pl.col("row").min().over(s.SESSION_ID)
    ordered = frame.with_row_index("row").sort(s.ARRIVAL_S, first_row, s.CALL_INDEX)
    for ids, n in ordered.select(s.HASH_IDS, s.INPUT_TOKENS).iter_rows():
        full = ids[: n // block]
        lead = next((k for k, h in enumerate(full) if h not in seen), len(full))
        hit += min(lead, (n - 1) // block) * block
        seen.update(full)
    return hit / number(frame[s.INPUT_TOKENS].sum())


def test_profile_list_shows_each_builtin_with_its_figures() -> None:
    proc = run_cli("profile", "list", columns=200)
    rows = table_rows(proc.stdout)
    assert sorted(k for k in rows if k != "name") == ["agentic-coding", "code-qa", "office-work"]
    basis = {"agentic-coding": "measured", "code-qa": "estimate", "office-work": "ranges"}
    for name in builtin.names():
        frame = read(builtin.path(name), s.Kind.PROFILE).frame
        firsts = frame.filter(pl.col(s.CALL_INDEX) == 0)
        n = 8192 if name == "agentic-coding" else 1024  # the published traces, whole
        assert firsts.height == n
        mean_start = number(firsts[s.INPUT_TOKENS].mean())
        assert rows[name] == [
            f"{n:,}",
            f"{frame.height:,}",
            f"{frame.height / n - 1:.1f}",
            f"{mean_start:,.0f}",
            "—" if name == "agentic-coding" else "64",
            basis[name],
        ]
    assert rows["agentic-coding"][1] == "173,903"  # 8,192 traces of 20.2 tool turns + 1


def test_profile_show_agentic_coding_beside_the_reference() -> None:
    proc = run_cli("profile", "show", "agentic-coding", columns=200)
    frame = read(builtin.path("agentic-coding"), s.Kind.PROFILE).frame
    assert "agentic-coding.arrow (agentic-coding)" in proc.stdout
    assert "cells: profile / reference" in proc.stdout
    check_stats_output(proc.stdout, frame, AGENTIC_REFERENCE)
    assert "sessions 8,192 (0 child)" in proc.stdout
    assert "first tool latency mean: 7.31 s / 7.3 s" in proc.stdout and "/ 7.3 s" in proc.stdout
    assert "/ reference 95.9%" in proc.stdout


def test_profile_stats_of_a_file(tmp_path: Path) -> None:
    loaded = read(builtin.path("code-qa"), s.Kind.PROFILE)
    keep = loaded.frame[s.SESSION_ID].unique().sort().head(40)
    frame = loaded.frame.filter(pl.col(s.SESSION_ID).is_in(keep.implode()))
    path = write_file(
        tmp_path / "small.arrow",
        s.Kind.PROFILE,
        frame,
        extra_metadata={s.META_BLOCK_SIZE: b"64"},
    )
    proc = run_cli("profile", "stats", str(path), columns=200)
    assert "small.arrow (code-qa)" in proc.stdout
    assert "(reference is an estimate, not measured)" in proc.stdout
    check_stats_output(proc.stdout, frame, CODE_QA_REFERENCE)
    assert "sessions 40 (0 child)" in proc.stdout
    # against another workload's reference: same profile figures, agentic-coding's column
    proc = run_cli("profile", "stats", str(path), "--reference", "agentic-coding", columns=200)
    assert "small.arrow (agentic-coding)" in proc.stdout
    check_stats_output(proc.stdout, frame, AGENTIC_REFERENCE)


def test_profile_stats_of_two_profiles_side_by_side() -> None:
    # The built-in against itself: every KS distance 0, and the correlations issue 18
    # measured on the published file (Spearman: 0.457, -0.411, -0.207, 0.302, 0.354).
    proc = run_cli("profile", "stats", "agentic-coding", "agentic-coding", columns=200)
    rows = table_rows(proc.stdout)
    for quantity in ("tool turns", "tool latency", "first tool latency", "final context"):
        assert rows[quantity][-1] == "0.000", quantity
    assert rows["final context"][3] == "73,530 / 73,530"  # p99 of the last call's input
    want = {
        "turns vs final answer": "+0.457",
        "turns vs mean tool output": "-0.411",
        "tool output vs tool latency": "-0.207",
        "tool latency vs the previous one": "+0.302",
        "assistant tokens vs tool latency": "+0.354",
    }
    for pair, value in want.items():
        assert rows[pair] == [f"{value} / {value}"], pair
    three = run_cli("profile", "stats", "agentic-coding", "code-qa", "office-work", check=False)
    assert three.returncode == 2 and "one profile, or two" in three.stderr
