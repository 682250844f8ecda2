"""The README's shell commands, run as written (issue 20), in order, in one scratch folder.

What this machine lacks is substituted, each substitution listed in SUBSTITUTE with its
reason: the simulated engine stands for every external URL and engine, a free port for
fixed ones (other tests run beside this one), and small bounds for hour-long loads.
Commands that cannot run here at all are listed in EXEMPT with the reason; a README
command in neither list fails the test, so a new command is either run or exempted.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.simhelper import running_sim

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODEL = "M"  # the README's placeholder model name: the sim serves it
TIMEOUT_S = 300  # per command: a bound, not a figure under test

EXEMPT = {
    "make demo": "runs `agentload demo` for ~70 s: tests/analysis/test_sweep_demo.py runs it",
    "make test": "the whole suite, this test included",
}

# README text -> what runs here instead, and why
SUBSTITUTE = {
    "https://api.openai.com": ("{sim}", "no internet: the sim serves the OpenAI API"),
    "http://127.0.0.1:8000": ("{sim}", "the engine is the sim, on a free port"),
    "--listen 127.0.0.1:8080": ("--listen 127.0.0.1:0", "8080 may be taken by another test"),
    "--duration 600": ("--duration 4", "a 10-minute load is bounded to 4 s"),
    "--concurrency 8,16,32": (
        "--concurrency 8,16,32 --max-sessions 4 --think-scale 0.01 --duration 2",
        "1,024 built-in sessions per point with real think times would run for hours",
    ),
    "ANY_FILE": ("results.arrow", "a placeholder: the replay's result file"),
}


def readme_commands() -> list[str]:
    """Every command of the README's ```sh blocks: continuations joined, comments cut."""
    text = (ROOT / "README.md").read_text()
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                out.append(re.sub(r"\s+", " ", command))
    return out


def _substituted(command: str, sim: str) -> str:
    for text, (instead, _) in SUBSTITUTE.items():
        command = command.replace(text, instead.format(sim=sim))
    return command


def _env() -> dict[str, str]:
    return {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(Path.home()), "COLUMNS": "160"}


def _run(command: str, cwd: Path) -> None:
    proc = subprocess.run(
        command,
        shell=True,
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, f"{command}: exit {proc.returncode}\n{proc.stderr[-2000:]}"


def _capture(command: str, cwd: Path) -> None:
    """The capture command until one agent call went through it, then stopped (SIGTERM),
    as a user stops it."""
    # `exec`: wait for the capture itself, not a shell that dies at the SIGTERM while the
    # capture still finishes its file (dash forks for `sh -c`; the next command, derive,
    # then found no trace file)
    proc = subprocess.Popen(
        "exec " + command,
        shell=True,
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].strip()
                break
        assert url, f"{command}: never listened"
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 8,
            "stream": True,
        }
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as r:
            assert r.status_code == 200
            r.read()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


def test_readme_commands_run_as_written(tmp_path: Path) -> None:
    commands = readme_commands()
    assert any(c.startswith("agentload compare") for c in commands)  # the parser found them
    with running_sim("--preset", "fast", "--model", MODEL) as sim:
        for command in commands:
            if command in EXEMPT:
                continue
            assert command.startswith("agentload "), f"README command not run or exempt: {command}"
            real = _substituted(command, sim.url)
            if command.startswith("agentload capture"):
                _capture(real, tmp_path)
                continue
            if command.startswith("agentload compare"):
                # the README's base and new runs: two copies of the replay's result here
                for name in ("base.arrow", "new.arrow"):
                    shutil.copy(tmp_path / "results.arrow", tmp_path / name)
            _run(real, tmp_path)
    assert (tmp_path / "profiles" / "default.arrow").exists()
    assert "<svg" in (tmp_path / "report.html").read_text()
