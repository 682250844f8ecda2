"""Run `agentload sim` as a subprocess on a free port and learn its URL.

The sim is started with `--port 0` and prints "agentload sim listening on URL" once it
accepts connections; `wait_listening` reads stdout until that line. `stop` sends SIGTERM
(the sim then finishes its timing log) and waits.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import IO, Final

from agentload.base.errors import AgentloadError

LISTENING: Final = re.compile(r"agentload sim listening on (http://127\.0\.0\.1:\d+)")


class SimStartError(AgentloadError):
    """The simulated engine exited or did not print its URL in time."""


def start(
    args: Sequence[str],
    *,
    argv0: Sequence[str] | None = None,
    stderr: int | IO[bytes] | None = subprocess.DEVNULL,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `agentload sim --host 127.0.0.1 --port 0 ARGS`; stdout is a pipe.

    `argv0` replaces the default `python -c "...main()"` (this interpreter) invocation.
    """
    cmd = list(argv0 or [sys.executable, "-c", "from agentload.cli import main; main()"])
    cmd += ["sim", "--host", "127.0.0.1", "--port", "0", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, cwd=cwd)


def wait_listening(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    """The sim's URL from its "listening on" line; SimStartError if it exits or times out."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout_s
    buffer = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 4096)
            buffer += chunk
            match = LISTENING.search(buffer.decode(errors="replace"))
            if match:
                return match.group(1)
            if not chunk:
                break
        elif proc.poll() is not None:
            break
    raise SimStartError(f"agentload sim did not start within {timeout_s:g} s (exit {proc.poll()})")


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM, wait up to `timeout_s`, then kill; closes stdout."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
