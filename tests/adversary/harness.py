"""What every attempt of the catalogue runs on: the real CLI as a subprocess, its outcome,
and the verdicts the catalogue's promises reduce to (a clean one-line error, a clean run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.adversary.warm import Pool

AGENTLOAD = str(Path(sys.executable).parent / "agentload")
# Exit statuses of a refusal (docs/exit-codes.md): bad input 2, an unfaithful run 3.
REFUSED = (2, 3)
# What a crash leaves on stderr even when the exit status looks clean.
CRASH_MARKS = ("Traceback (most recent call last)", "Task exception was never retrieved")


@dataclass(frozen=True)
class Verdict:
    held: bool
    detail: str


def held(detail: str = "") -> Verdict:
    return Verdict(True, detail)


def broke(detail: str) -> Verdict:
    return Verdict(False, detail)


@dataclass(frozen=True)
class Outcome:
    args: tuple[str, ...]
    rc: int | None  # None: killed at the timeout
    out: str
    err: str
    secs: float

    @property
    def crashed(self) -> bool:
        return any(mark in self.err + self.out for mark in CRASH_MARKS)

    def brief(self) -> str:
        last = (self.err.strip().splitlines() or [""])[-1][:160]
        return f"rc={self.rc} {self.secs:.1f}s: {last}"


# Commands that serve, sweep or spawn processes: always their own process.
OWN_PROCESS = ("sim", "capture", "sweep", "--workers", "--ray")


@dataclass
class Work:
    """The scratch folder of one run of the catalogue (inputs, outputs), and the warm CLI
    workers one-shot commands run in (None: every command is its own process)."""

    root: Path
    warm: Pool | None = None

    @property
    def files(self) -> Path:
        return self.root / "files"

    def out(self, name: str) -> Path:
        """A fresh output path under out/ (each attempt writes its own)."""
        path = self.root / "out" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def run(
    work: Work,
    args: Sequence[str],
    *,
    timeout: float = 240.0,
    signals: Sequence[tuple[float, int]] = (),
    env: dict[str, str] | None = None,
    ready: Callable[[subprocess.Popen[str]], bool] | None = None,
) -> Outcome:
    """`agentload ARGS` in `work.root`, in a warm worker when the work has them and the
    command is one-shot, else as its own process (`.venv/bin/agentload`); `signals`: (delay
    after the previous one, signal) sent to the process while it runs, counted from when
    `ready(process)` holds (a run begun, not an interpreter still importing). Killed at
    `timeout` (rc None)."""
    start = time.monotonic()
    if work.warm is not None and not signals and not env and not set(args) & set(OWN_PROCESS):
        rc, out, err = work.warm.run(list(args), work.root, timeout)
        return Outcome(tuple(args), rc, out, err, time.monotonic() - start)
    proc = subprocess.Popen(
        [AGENTLOAD, *args],
        cwd=work.root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    deadline = start + timeout / 2
    while ready is not None and not ready(proc) and proc.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for delay, sig in signals:
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=max(1.0, timeout - (time.monotonic() - start)))
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        rc = None
    return Outcome(tuple(args), rc, out, err, time.monotonic() - start)


def clean_error(o: Outcome, *needles: str) -> Verdict:
    """The promise 'error': exit 2 or 3, no traceback, and one line `error: ...` on stderr
    (or click's usage error, whose last line is `Error: ...`) containing every needle."""
    lines = o.err.strip().splitlines()
    if o.rc is None:
        return broke(f"hung (killed after {o.secs:.0f} s)")
    if o.rc not in REFUSED or o.crashed or not lines:
        return broke(o.brief())
    one_line = len(lines) == 1 and lines[0].startswith("error: ")
    usage = lines[0].startswith("Usage: ") and lines[-1].startswith("Error: ")
    if not (one_line or usage):
        return broke(f"not one line: {o.brief()}")
    missing = [n for n in needles if n not in o.err]
    return broke(f"{missing} not in: {lines[-1]}") if missing else held(lines[-1][:120])


def clean_run(o: Outcome, status: int = 0) -> Verdict:
    if o.rc != status or o.crashed:
        return broke(o.brief())
    return held(f"rc={o.rc} in {o.secs:.1f} s")


def no_strays(folder: Path, before: set[Path]) -> Verdict:
    """No part file or temp file left beside the outputs by a refused or failed command."""
    stray = [p for p in folder.iterdir() if p not in before and ".part" in p.name]
    return broke(f"stray files {[p.name for p in stray]}") if stray else held()


def both(*checks: Callable[[], Verdict]) -> Verdict:
    """The first failing check, else the first one's detail."""
    details = []
    for check in checks:
        v = check()
        if not v.held:
            return v
        details.append(v.detail)
    return held("; ".join(d for d in details if d))


SIGINT, SIGTERM, SIGKILL = signal.SIGINT, signal.SIGTERM, signal.SIGKILL
