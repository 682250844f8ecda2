"""Shared pieces of the peer benchmarks: the sim as a subprocess with a timing log, a CPU
sampler for a client's process tree, machine facts, and small statistics helpers.

Clock note: the sim's timing log carries wall-clock times (`*_wall_ns`); client windows and
CPU samples are taken on the same wall clock (`time.time_ns`), so they can be joined.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import psutil

from agentload.simengine import launch

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODEL = "agentload-sim"


@dataclass
class Sim:
    url: str
    timing_log: Path
    proc: subprocess.Popen[bytes]
    argv: list[str]
    cpu: CpuSampler | None = None

    def frame(self) -> pl.DataFrame:
        """The timing log (only complete once the sim has stopped)."""
        return pl.read_ipc(self.timing_log)


@contextlib.contextmanager
def running_sim(preset: str, timing_log: Path, *extra: str) -> Iterator[Sim]:
    """`agentload sim --preset PRESET --timing-log FILE` on a free port; SIGTERM on exit
    (which finishes the timing log)."""
    timing_log.parent.mkdir(parents=True, exist_ok=True)
    args = ["--preset", preset, "--timing-log", str(timing_log), *extra]
    proc = launch.start(args, argv0=[str(BIN / "agentload")], stderr=None, cwd=ROOT)
    try:
        url = launch.wait_listening(proc, 60.0)
    except launch.SimStartError:
        launch.stop(proc)
        raise
    assert isinstance(proc.args, list)
    sim = Sim(url, timing_log, proc, [str(a) for a in proc.args], CpuSampler(proc.pid, 0.5))
    assert sim.cpu is not None
    sim.cpu.start()
    try:
        yield sim
    finally:
        sim.cpu.stop()
        launch.stop(proc, timeout_s=60)


def tree_cpu_s(proc: psutil.Process) -> float:
    """User + system CPU of a process, its reaped children and its live descendants."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        t = proc.cpu_times()
        total += t.user + t.system + t.children_user + t.children_system
    with contextlib.suppress(psutil.Error):
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                c = child.cpu_times()
                total += c.user + c.system
    return total


@dataclass
class CpuSampler:
    """Samples a process tree's CPU every `interval_s` on a thread: (wall ns, cpu s)."""

    pid: int
    interval_s: float = 0.05
    samples: list[tuple[int, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        proc = psutil.Process(self.pid)
        while not self._stop.is_set():
            self.samples.append((time.time_ns(), tree_cpu_s(proc)))
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def cores(self, start_ns: int, end_ns: int) -> float | None:
        """Average cores used between two wall times."""
        cpu = self.cpu_between(start_ns, end_ns)
        return None if cpu is None or end_ns <= start_ns else cpu / ((end_ns - start_ns) / 1e9)

    def cpu_between(self, start_ns: int, end_ns: int) -> float | None:
        """CPU seconds spent between two wall times (linear interpolation of samples)."""
        if len(self.samples) < 2:
            return None
        ts = [t for t, _ in self.samples]
        cs = [c for _, c in self.samples]
        return _interp(end_ns, ts, cs) - _interp(start_ns, ts, cs)


def _interp(x: int, xs: list[int], ys: list[float]) -> float:
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    lo, hi = 0, len(xs) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xs[mid] <= x:
            lo = mid
        else:
            hi = mid
    span = xs[hi] - xs[lo]
    return ys[lo] + (ys[hi] - ys[lo]) * ((x - xs[lo]) / span if span else 0.0)


@dataclass
class ClientRun:
    """One client process: its argv, exit status, output tail, wall window and CPU."""

    argv: list[str]
    returncode: int
    start_ns: int
    end_ns: int
    stdout: str
    stderr: str
    cpu: CpuSampler

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def error_line(self) -> str:
        """The last meaningful line of stderr/stdout: the 'exact error' for the report."""
        for text in (self.stderr, self.stdout):
            lines = [x.strip() for x in text.splitlines() if x.strip()]
            for line in reversed(lines):
                if "Error" in line or "error" in line:
                    return line[:400]
        tail = (self.stderr or self.stdout).strip().splitlines()
        return tail[-1][:400] if tail else f"exit status {self.returncode}"


def run_client(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout: float,
    env: dict[str, str] | None = None,
) -> ClientRun:
    """Run a client to completion in its own process group, sampling its tree's CPU."""
    full_env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", **(env or {})}
    cwd.mkdir(parents=True, exist_ok=True)
    out_path, err_path = cwd / "client.stdout", cwd / "client.stderr"
    start = time.time_ns()
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=full_env, stdout=out, stderr=err, start_new_session=True
        )
        sampler = CpuSampler(proc.pid)
        sampler.start()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            rc = -999
        finally:
            sampler.stop()
    end = time.time_ns()
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    if rc == -999:
        stderr += f"\nerror: timed out after {timeout:.0f} s (killed)"
    return ClientRun(list(argv), rc, start, end, stdout, stderr, sampler)


def machine() -> dict[str, object]:
    """CPU model, cores, memory, OS, Python and the load average now."""
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


@functools.cache
def git_revision() -> str:
    """The repository's HEAD when first asked (other work may commit during a run)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def ols_slope(t: Sequence[float], y: Sequence[float]) -> float | None:
    """Ordinary least-squares slope of y over t (None without two distinct t)."""
    n = len(t)
    if n < 2:
        return None
    mt, my = sum(t) / n, sum(y) / n
    var = sum((a - mt) ** 2 for a in t)
    if var == 0:
        return None
    return sum((a - mt) * (b - my) for a, b in zip(t, y, strict=True)) / var
