"""`agentload capture --workers N` (issue 16): N proxy processes behind one address.

Acceptance: two processes behind one address, 50 concurrent agents, every call on a fresh
connection: after offline stitching the sessions equal those a single process records of
the same traffic. Also: connections reach both processes, a SIGTERM stops both with every
row on disk, and a worker killed outright fails the capture with one line."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import psutil
import pytest

from agentload.base.errors import EXIT_UNFAITHFUL
from agentload.traceformat.io import read
from tests.capture.agentcrowd import TURNS, run_crowd, sessions, write_script
from tests.capture.proxyhelper import Proxy, running_capture
from tests.capture.tracehelper import load, wait_rows
from tests.simhelper import running_sim
from tests.test_cli_errors import agentload, run_fails

pytestmark = pytest.mark.slow

AGENTS = 50
WITH_HEADER = 10  # agents that send X-Session-ID; the other 40 send no session id
CALLS = AGENTS * (TURNS + 1)


@dataclass(frozen=True)
class Crowd:
    one: pl.DataFrame  # rows of `capture` (one process)
    two_dir: Path  # trace files of `capture --workers 2`
    two_output: str  # what the supervisor printed
    two_status: int | None  # its exit status after SIGTERM
    leftover: list[int]  # worker pids still alive after the supervisor exited


def _stop(proxy: Proxy) -> tuple[int | None, list[int]]:
    workers = psutil.Process(proxy.proc.pid).children()
    proxy.proc.send_signal(signal.SIGTERM)
    status = proxy.proc.wait(60)
    time.sleep(0.2)
    return status, [w.pid for w in workers if w.is_running() and w.status() != "zombie"]


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crowd]:
    tmp = tmp_path_factory.mktemp("workers")
    script = write_script(tmp)
    with running_sim("--preset", "fast", "--agent-script", str(script)) as sim:
        with running_capture(sim.url, tmp / "one") as one:
            assert run_crowd(one.url, sim.model, AGENTS, WITH_HEADER) == CALLS
            one_rows = wait_rows(tmp / "one", CALLS, timeout=60)
        with running_capture(sim.url, tmp / "two", "--workers", "2") as two:
            assert run_crowd(two.url, sim.model, AGENTS, WITH_HEADER) == CALLS
            status, leftover = _stop(two)  # before any row is read: the stop must flush
    yield Crowd(one_rows, tmp / "two", "".join(two.output), status, leftover)


def stitched(folder: Path, out: Path) -> pl.DataFrame:
    """`agentload trace stitch` over every trace file in `folder`, as a user runs it."""
    files = sorted(str(p) for p in folder.glob("trace-*.arrow"))
    proc = subprocess.run(
        [agentload(), "trace", "stitch", *files, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return read(out).frame


def test_two_processes_after_offline_stitching_equal_one_process(
    crowd: Crowd, tmp_path: Path
) -> None:
    two = load(crowd.two_dir)
    assert two.height == CALLS
    expected = sessions(crowd.one)
    assert len(expected) == AGENTS, "one process: one session per agent"
    assert sessions(stitched(crowd.two_dir, tmp_path / "stitched.arrow")) == expected
    # the online assignment of each process alone could not have joined them all
    assert len(sessions(two)) > AGENTS


def test_connections_reach_both_processes(crowd: Crowd) -> None:
    files = sorted(crowd.two_dir.glob("trace-*.arrow"))
    per_worker = {w: sum(1 for f in files if f"-w{w}-" in f.name) for w in (0, 1)}
    assert per_worker[0] and per_worker[1], [f.name for f in files]
    rows = {w: load_worker(crowd.two_dir, w).height for w in (0, 1)}
    assert rows[0] + rows[1] == CALLS
    # 200 fresh connections hashed over two sockets: far from all on one
    assert min(rows.values()) >= CALLS // 5, rows


def load_worker(folder: Path, worker: int) -> pl.DataFrame:
    frames = [read(p).frame for p in sorted(folder.glob(f"trace-*-w{worker}-*.arrow"))]
    return pl.concat(frames)


def test_sigterm_stops_both_with_every_row_on_disk(crowd: Crowd) -> None:
    assert crowd.two_status == 0, crowd.two_output
    assert crowd.leftover == []
    assert "Traceback" not in crowd.two_output
    lines = crowd.two_output.splitlines()
    assert sum("listening on" in line for line in lines) == 1, lines
    recorded = [line for line in lines if "calls recorded, 0 dropped" in line]
    assert sorted(line[:5] for line in recorded) == ["[w0] ", "[w1] "], lines


def test_a_killed_worker_fails_the_capture_with_one_line(tmp_path: Path) -> None:
    with (
        running_sim("--preset", "fast") as sim,
        running_capture(sim.url, tmp_path, "--workers", "2") as proxy,
    ):
        workers = psutil.Process(proxy.proc.pid).children()
        victim = next(w for w in workers if w.cmdline()[-1] == "1")
        victim.kill()
        status = proxy.proc.wait(60)
    assert status == EXIT_UNFAITHFUL, proxy.output
    errors = [line for line in proxy.output if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in "".join(proxy.output), proxy.output
    assert f"capture worker 1 (pid {victim.pid}) ended with signal SIGKILL" in errors[0]
    assert not any(w.is_running() and w.status() != "zombie" for w in workers)


@pytest.mark.parametrize("value", ["0", "65"])
def test_workers_out_of_range_is_one_line(tmp_path: Path, value: str) -> None:
    line = run_fails(
        "capture", "--upstream", "http://127.0.0.1:9", "--out", str(tmp_path), "--workers", value
    )
    assert line == f"error: --workers: expected 1 to 64 processes, got {value}"


def test_workers_stop_and_flush_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    script = write_script(tmp_path)
    with (
        running_sim("--preset", "fast", "--agent-script", str(script)) as sim,
        running_capture(sim.url, tmp_path / "out", "--workers", "2") as proxy,
    ):
        calls = run_crowd(proxy.url, sim.model, 5)
        workers = psutil.Process(proxy.proc.pid).children()
        proxy.kill()  # SIGKILL: no signal is forwarded, only the pipes close
        _, alive = psutil.wait_procs(workers, timeout=60)
    assert alive == []
    # each worker stopped as on SIGTERM: every row on disk
    assert load(tmp_path / "out").height == calls
