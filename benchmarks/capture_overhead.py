"""Capture overhead: runs benchmarks/bench_capture.py (owned by the capture area) as a
subprocess and parses its table, so its method stays in one place."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT

COLUMNS = ("conc", "reqs", "ttft_p50", "ttft_p99", "req_s", "cpu_ms_req", "errs", "load")
NAME_WIDTH = 18
# the comparison lines printed under the table (bench_capture._added)
SUMMARY_PREFIXES = ("added by the addon", "added over direct", "req/s of ")


def parse(stdout: str) -> dict[str, Any]:
    """Rows of the table (the target name is the first 18 characters; older tables lack the
    load column) and the comparison lines, kept as 'added'."""
    rows: list[dict[str, str]] = []
    added: list[str] = []
    in_table = False
    for line in stdout.splitlines():
        if line.startswith("target "):
            in_table = True
            continue
        if line.startswith(SUMMARY_PREFIXES):
            added.append(line.strip())
            continue
        if in_table and line.strip():
            cells = line[NAME_WIDTH:].split()
            if len(cells) in (len(COLUMNS) - 1, len(COLUMNS)):
                named = dict(zip(COLUMNS, cells, strict=False))
                rows.append({"target": line[:NAME_WIDTH].strip(), **named})
        elif in_table:
            in_table = False
    return {"rows": rows, "added": added}


def run(quick: bool, work: Path) -> dict[str, Any]:
    argv = [sys.executable, str(ROOT / "benchmarks" / "bench_capture.py")]
    if quick:
        argv += ["--requests", "40", "--rounds", "1", "--concurrency", "1,16"]
    else:
        # Six alternating rounds, not bench_capture's default three: the addon's cost is a few
        # percent of the proxy's, and with three rounds one run read +10.6% CPU at 1 stream
        # where six rounds right after read +2.7%.
        argv += ["--rounds", "6"]
        # issue 16: one process against N = cores behind one address, up to 400 streams, and
        # the open-loop 100 req/s whose TTFT is compared with direct calls
        argv += ["--concurrency", "1,16,100,400", "--workers", str(os.cpu_count() or 2)]
        argv += ["--open-loop", "100"]
    work.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=2400)
    (work / "bench_capture.stdout").write_text(proc.stdout)
    (work / "bench_capture.stderr").write_text(proc.stderr)
    command = shlex.join([".venv/bin/python", *argv[1:]]).replace(str(ROOT) + "/", "")
    result = {"command": command, **parse(proc.stdout)}
    if proc.returncode != 0 or not result["rows"]:
        tail = [x for x in proc.stderr.splitlines() if x.strip()]
        result["error"] = tail[-1] if tail else f"exit status {proc.returncode}"
    return result
