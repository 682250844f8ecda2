"""Run `agentload sim` as a subprocess for tests: `with running_sim("--preset", "fast") as sim:`.

The sim is started with `--port 0`; the helper waits for its "listening on" line, and on exit
sends SIGTERM and waits (the timing log, if any, is then complete).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r"^agentload sim listening on (http://127\.0\.0\.1:\d+)$")
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
    cmd = [sys.executable, "-c", "from agentload.cli import main; main()", "sim"]
    cmd += ["--host", "127.0.0.1", "--port", "0", *cli_args]
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, cwd=os.getcwd())
        try:
            url = _wait_ready(proc, stderr)
            log = _option(cli_args, "--timing-log")
            model = _option(cli_args, "--model") or "agentload-sim"
            yield Sim(url, model, Path(log) if log else None, proc.pid)
        finally:
            _stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], stderr: object) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + _START_TIMEOUT_S
    buf = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            buf += chunk
            for line in buf.decode(errors="replace").splitlines():
                m = _LINE.match(line.strip())
                if m:
                    return m.group(1)
            if not chunk and proc.poll() is not None:
                break
        elif proc.poll() is not None:
            break
    _stop(proc)
    err = b""
    if hasattr(stderr, "seek") and hasattr(stderr, "read"):
        stderr.seek(0)
        err = stderr.read()
    raise RuntimeError(
        f"agentload sim did not start (exit {proc.returncode}): {err.decode(errors='replace')}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
