"""Warm CLI workers: long-lived interpreters that run `agentload.cli.main` (the function the
`.venv/bin/agentload` console script calls) once per request, with fds 0, 1 and 2 bound to
the request's own files, so that a one-shot command costs its work and not the ~2 s of
imports of a fresh process. A crash in the command is what a fresh process would print
(a traceback, exit 1); a command that does not return in time loses its worker, which is
killed and replaced. Attempts that signal the process, serve (sim, capture), sweep or spawn
workers always run as their own process (harness.run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

WORKER = r"""
import json, os, sys, traceback
import polars, pyarrow  # the imports a fresh process pays for, paid once
from agentload.cli import main

ctl_in = os.fdopen(os.dup(0), "r")
ctl_out = os.fdopen(os.dup(1), "w")
saved = [os.dup(fd) for fd in (0, 1, 2)]
home = os.getcwd()
for line in ctl_in:
    req = json.loads(line)
    files = [os.open(os.devnull, os.O_RDONLY), os.open(req["out"], os.O_WRONLY),
             os.open(req["err"], os.O_WRONLY)]
    for fd, f in enumerate(files):
        os.dup2(f, fd)
        os.close(f)
    os.chdir(req["cwd"])
    sys.argv = ["agentload", *req["args"]]
    try:
        main()
        rc = 0
    except SystemExit as exc:
        code = exc.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
        rc = 0 if code is None else code if isinstance(code, int) else 1
    except BaseException:
        traceback.print_exc()
        rc = 1
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, s in enumerate(saved):
        os.dup2(s, fd)
    os.chdir(home)
    ctl_out.write(json.dumps({"rc": rc}) + "\n")
    ctl_out.flush()
"""


class Pool:
    """Idle workers, started on demand; each request takes one for its duration."""

    def __init__(self) -> None:
        self._idle: list[subprocess.Popen[str]] = []
        self._all: list[subprocess.Popen[str]] = []
        self._lock = threading.Lock()

    def _take(self) -> subprocess.Popen[str]:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        with self._lock:
            self._all.append(proc)
        return proc

    def run(self, args: list[str], cwd: Path, timeout: float) -> tuple[int | None, str, str]:
        """(exit status or None at the timeout, stdout, stderr) of `agentload ARGS`."""
        proc = self._take()
        with tempfile.TemporaryDirectory() as tmp:
            out, err = Path(tmp) / "out", Path(tmp) / "err"
            out.touch()
            err.touch()
            req = {"args": args, "cwd": str(cwd), "out": str(out), "err": str(err)}
            stdout = proc.stdout
            assert proc.stdin is not None and stdout is not None
            reply: list[str] = []
            reader = threading.Thread(target=lambda: reply.append(stdout.readline()))
            try:
                proc.stdin.write(json.dumps(req) + "\n")
                proc.stdin.flush()
            except OSError:
                reply.append("")
            else:
                reader.start()
                reader.join(timeout)
            rc: int | None
            if reply and reply[0]:
                rc = int(json.loads(reply[0])["rc"])
                with self._lock:
                    self._idle.append(proc)
            else:  # hung (None) or died (its own status, e.g. -11): this worker is gone
                hung = reader.is_alive()
                proc.kill()
                code = proc.wait()
                rc = None if hung else code
            return rc, out.read_text(errors="replace"), err.read_text(errors="replace")

    def close(self) -> None:
        with self._lock:
            for proc in self._all:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
