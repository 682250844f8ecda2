"""Issue 21 through the real CLI: unsafe or unwritable outputs and non-regular or damaged
inputs are refused before any work, as one line on stderr and exit status 2 (H3, H4, L1,
L2, L6, L8, L9, M1, M5). Runs as root here, so devices would really be replaced."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import polars as pl
import pytest

from agentload.traceformat.io import write_file
from agentload.traceformat.schema import Kind
from tests.test_cli_errors import ROW, agentload, run_fails
from tests.traceformat.test_integrity import multi_batch_profile

TRIE = Path(__file__).parent / "data" / "trie_agentic_coding_sample64.jsonl"
REPLAY = ("--target", "http://127.0.0.1:9", "--model", "m", "--quiet")  # never contacted


@pytest.fixture
def prof(tmp_path: Path) -> Path:
    return write_file(tmp_path / "p.arrow", Kind.PROFILE, pl.DataFrame([ROW] * 3))


def commands_writing(target: str, prof: Path) -> list[tuple[str, ...]]:
    """Every command that writes a file or folder, with `target` as the output (L1: 13)."""
    p = str(prof)
    return [
        ("replay", p, *REPLAY, "--out", target),
        ("profile", "transform", p, "--out", target),
        ("profile", "import", "trie", str(TRIE), "--out", target),
        ("profile", "export", "mooncake", p, "--out", target),
        ("profile", "derive", p, "--out", target),
        ("report", p, "--quiet", "--html", target),
        ("report", p, "--quiet", "--json", target),
        ("report", p, "--quiet", "--csv", target),
        ("report", p, "--quiet", "--parquet", target),
        ("compare", p, p, "--html", target),
        ("compare", p, p, "--json", target),
        ("sweep", p, *REPLAY[:4], "--concurrency", "1", "--out-dir", target),
        ("sim", "--port", "0", "--timing-log", target),
    ]


@pytest.mark.parametrize("device", ["/dev/full", "/dev/null"])
def test_H4_devices_are_refused_and_stay_devices(prof: Path, device: str) -> None:
    for args in commands_writing(device, prof):
        line = run_fails(*args, status=2)
        assert device in line and ("character device" in line or "folder" in line), (args, line)
        assert stat.S_ISCHR(os.stat(device).st_mode), (args, "device replaced")


@pytest.mark.parametrize("where", ["/proc/agentload-x/r.arrow", "{prof}/r.arrow", ""])
def test_L1_unwritable_outputs_are_one_line_errors(prof: Path, where: str) -> None:
    target = where.format(prof=prof)
    folders = ("derive", "--csv", "--parquet", "--out-dir")  # '' is the current folder there
    for args in commands_writing(target, prof):
        if not target and any(flag in args for flag in folders):
            continue
        line = run_fails(*args, status=2)
        assert line.startswith("error: "), (args, line)


def test_M5_output_directory_refused_before_the_run(prof: Path, tmp_path: Path) -> None:
    out = tmp_path / "outdir"
    out.mkdir()
    line = run_fails("replay", str(prof), *REPLAY, "--out", str(out), status=2)
    assert "is a directory" in line and "--out" in line
    assert not list(tmp_path.glob("*.part*")) and not list(out.iterdir())


def test_L8_output_equal_to_an_input_is_refused(prof: Path) -> None:
    before = prof.read_bytes()
    for args in [
        ("replay", str(prof), *REPLAY, "--out", str(prof), "--force"),
        ("report", str(prof), "--quiet", "--json", str(prof), "--force"),
        ("report", str(prof), "--quiet", "--html", str(prof)),
        ("profile", "transform", str(prof), "--out", str(prof), "--force"),
    ]:
        assert "is also an input" in run_fails(*args, status=2), args
    assert prof.read_bytes() == before


def test_existing_output_needs_force(prof: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.arrow"
    out.write_bytes(b"keep")
    line = run_fails("profile", "transform", str(prof), "--out", str(out), status=2)
    assert "already exists; pass --force" in line and out.read_bytes() == b"keep"
    args = [agentload(), "profile", "transform", str(prof), "--out", str(out), "--force"]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    assert out.read_bytes() != b"keep"


def test_sweep_refuses_to_replace_an_earlier_sweeps_points(prof: Path, tmp_path: Path) -> None:
    """A point's result and its report are outputs too, checked before the first point."""
    out = tmp_path / "sweep"
    out.mkdir()
    for name in ("c1.arrow", "report-c2.html"):
        (out / name).write_bytes(b"keep")
        line = run_fails(
            "sweep", str(prof), *REPLAY[:4], "--concurrency", "1,2", "--out-dir", str(out),
            status=2,
        )  # fmt: skip
        assert f"{out / name}" in line and "already exists; pass --force" in line, line
        assert (out / name).read_bytes() == b"keep"
        (out / name).unlink()
    # with --force the checks pass and the run starts (the target is not there: exit 3)
    (out / "c1.arrow").write_bytes(b"keep")
    run_fails(
        "sweep", str(prof), *REPLAY[:4], "--concurrency", "1", "--out-dir", str(out), "--force",
        status=3,
    )  # fmt: skip


def test_L9_fifo_inputs_do_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.arrow"
    os.mkfifo(fifo)
    for args in [("inspect", str(fifo)), ("report", str(fifo)), ("replay", str(fifo), *REPLAY)]:
        assert "is a FIFO" in run_fails(*args, status=2), args


@pytest.mark.parametrize("content", [b"hi\n", b"ARROW1"])
def test_L2_tiny_inputs(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tiny.arrow"
    path.write_bytes(content)
    for args in [("inspect", str(path)), ("report", str(path)), ("profile", "stats", str(path))]:
        assert "tiny.arrow" in run_fails(*args, status=2), args


def test_H3_and_L6_damaged_profile_fails_every_command(tmp_path: Path) -> None:
    path, _ = multi_batch_profile(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(data)
    cut = tmp_path / "cut.arrow"
    cut.write_bytes(path.read_bytes()[: len(data) // 5])
    for damaged in (path, cut):
        for args in [
            ("profile", "stats", str(damaged)),
            ("profile", "export", "mooncake", str(damaged), "--out", str(tmp_path / "x.jsonl")),
            ("profile", "transform", str(damaged), "--out", str(tmp_path / "t.arrow")),
        ]:
            assert damaged.name in run_fails(*args, status=2), args
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "t.arrow").exists()


def test_H3_a_finished_profile_cut_short_fails_every_command(tmp_path: Path) -> None:
    """A footer'd multi-batch profile cut at 60% (an interrupted copy) was read as a
    crash-truncated stream: `profile stats` showed 38% of the workload, exit 0."""
    path, _ = multi_batch_profile(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 5])
    for args in [
        ("profile", "stats", str(path)),
        ("inspect", str(path)),
        ("profile", "export", "mooncake", str(path), "--out", str(tmp_path / "x.jsonl")),
    ]:
        line = run_fails(*args, status=2)
        assert "multi.arrow: corrupt file: cut short" in line, (args, line)
    assert not (tmp_path / "x.jsonl").exists()


def test_M1_derive_skips_empty_trace_files_with_a_note(tmp_path: Path) -> None:
    import random

    from tests.profiles.tracegen import agent_session, words, write_trace

    rng = random.Random(3)
    session = agent_session(
        rng, "A", "w", system="sys", tools=[], task=words(rng, 20), turns=2, t0_ns=10**18
    )
    traces = tmp_path / "traces"
    traces.mkdir()
    write_trace(traces / "trace-0000.arrow", [session])
    (traces / "trace-0001.arrow").write_bytes(b"")  # what a full disk leaves
    args = [agentload(), "profile", "derive", *map(str, sorted(traces.glob("*.arrow")))]
    proc = subprocess.run(
        [*args, "--out", str(tmp_path / "p")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "trace-0001.arrow: empty file (0 bytes), skipped" in proc.stderr
    assert (tmp_path / "p" / "w.arrow").exists()
    only_empty = [str(traces / "trace-0001.arrow"), "--out", str(tmp_path / "q")]
    assert "every trace file given is empty" in run_fails("profile", "derive", *only_empty)
