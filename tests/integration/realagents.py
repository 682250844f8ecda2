"""Run real coding agents (Claude Code, Codex; installed by `make agents`) non-interactively
against an engine URL, offline: a scratch HOME and working directory, telemetry, updates
and every other outside connection off, tools allowed only in the scratch directory.

The settings come from running both CLIs against a logging server (docs/capture.md, "Real
agents"): Claude Code reaches only 127.0.0.1 with CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC
and DISABLE_AUTOUPDATER (without the latter it installs a newer version of itself from npm);
Codex with `features.plugins = false` and `analytics.enabled = false`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from agentload.simengine import timinglog as T
from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.schema import Kind
from tests.capture.proxyhelper import Proxy, running_capture
from tests.integration.agentload_cli import agentload, errors
from tests.simhelper import running_sim

CANARY_KEY = "sk-agentload-canary-7f3e9b2c4d1a"  # must appear in no output
_PATH = "/usr/local/bin:/usr/bin:/bin"


def agent_bin(name: str) -> Path:
    """The CLI from `make agents`; a missing one fails the test (never a skip)."""
    cache = Path(os.environ.get("AGENTLOAD_AGENT_CACHE", "~/.cache/agentload/agents"))
    path = cache.expanduser() / "node_modules" / ".bin" / name
    if not path.exists():
        pytest.fail(f"{path} not found: run `make agents`", pytrace=False)
    return path


@dataclass(frozen=True)
class AgentRun:
    returncode: int
    stdout: str
    stderr: str


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float) -> AgentRun:
    # Own process group: a timeout kills the agent's children (shells, git) too.
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,  # Codex reads a prompt from stdin unless it is closed
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"{cmd[0]} timed out after {timeout} s:\n{out}\n{err}") from None
    return AgentRun(proc.returncode, out, err)


def scratch(root: Path) -> tuple[Path, Path]:
    """(HOME, working directory) for one agent run; the directory holds two small files."""
    home, work = root / "home", root / "work"
    home.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    for name in ("notes.txt", "main.py"):
        (work / name).write_text(f"{name}\n")
    return home, work


def claude(
    base_url: str,
    model: str,
    prompt: str,
    root: Path,
    timeout: float = 180,
    extra_env: dict[str, str] | None = None,
) -> AgentRun:
    """`claude -p PROMPT` against `base_url` (an Anthropic Messages API without /v1), with
    `extra_env` added (e.g. HTTPS_PROXY, NODE_EXTRA_CA_CERTS)."""
    home, work = scratch(root)
    env = {
        "PATH": _PATH,
        "HOME": str(home),
        "IS_SANDBOX": "1",  # as root, skipping permission prompts needs this
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": CANARY_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    } | (extra_env or {})
    cmd = [str(agent_bin("claude")), "-p", prompt, "--model", model, "--output-format", "json"]
    return _run([*cmd, "--dangerously-skip-permissions"], env, work, timeout)


def _codex_config(home: Path, base_url: str, model: str) -> Path:
    codex_home = home / "codex"
    codex_home.mkdir(exist_ok=True)
    (codex_home / "config.toml").write_text(
        f'model = "{model}"\n'
        'model_provider = "sim"\n'
        "check_for_update_on_startup = false\n\n"
        "[model_providers.sim]\n"
        'name = "sim"\n'
        f'base_url = "{base_url}/v1"\n'
        'wire_api = "responses"\n'
        'env_key = "AGENTLOAD_TEST_KEY"\n\n'
        "[analytics]\nenabled = false\n\n"
        "[features]\nplugins = false\nremote_plugin = false\napps = false\n"
    )
    return codex_home


def codex(
    base_url: str,
    model: str,
    prompt: str,
    root: Path,
    resume: bool = False,
    timeout: float = 180,
    extra_env: dict[str, str] | None = None,
) -> AgentRun:
    """`codex exec PROMPT` (or `codex exec resume --last PROMPT`) against `base_url`, with
    `extra_env` added."""
    home, work = scratch(root)
    env = {
        "PATH": _PATH,
        "HOME": str(home),
        "CODEX_HOME": str(_codex_config(home, base_url, model)),
        "AGENTLOAD_TEST_KEY": CANARY_KEY,
    } | (extra_env or {})
    cmd = [str(agent_bin("codex")), "exec", *(["resume", "--last"] if resume else [])]
    flags = ["--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"]
    return _run([*cmd, *flags, prompt], env, work, timeout)


def trace_frame(trace_dir: Path) -> pl.DataFrame:
    """Every row of every (non-empty) trace file in `trace_dir`, in request order."""
    files = sorted(p for p in trace_dir.glob("*.arrow") if p.stat().st_size)
    frame = pl.concat([io.read(p).frame for p in files], how="diagonal_relaxed")
    return frame.sort("t_request_start_ns")


def sim_log(path: Path) -> pl.DataFrame:
    """The sim's timing log (complete once the sim has stopped), in arrival order."""
    return pl.read_ipc(path).sort(T.ARRIVAL_NS)


@contextmanager
def scripted_capture(tmp: Path, script: dict[str, Any], *sim_args: str) -> Iterator[Proxy]:
    """A fast sim following `script`, with its timing log at tmp/timing.arrow, behind
    `agentload capture` writing to tmp/traces."""
    path = tmp / "script.json"
    path.write_text(json.dumps(script))
    args = ["--preset", "fast", "--agent-script", str(path), *sim_args]
    with (
        running_sim(*args, "--timing-log", str(tmp / "timing.arrow")) as sim,
        running_capture(sim.url, tmp / "traces") as proxy,
    ):
        yield proxy


def served_exactly(tmp: Path) -> pl.DataFrame:
    """The trace (of `scripted_capture(tmp, ...)`) holds exactly the calls the sim served,
    with the usage the sim reported; returns it in request order."""
    trace, served = trace_frame(tmp / "traces"), sim_log(tmp / "timing.arrow")
    assert trace.height == served.height, (trace.height, served.height)
    assert usage_rows(trace, S.PROMPT_TOKENS, S.COMPLETION_TOKENS, S.CACHED_TOKENS) == (
        usage_rows(served, T.PROMPT_TOKENS, T.COMPLETION_TOKENS, T.CACHED_TOKENS)
    )
    return trace


def usage_rows(
    frame: pl.DataFrame, prompt: str, completion: str, cached: str
) -> list[tuple[int, ...]]:
    """(prompt, completion, cached) of every row, sorted: a multiset to compare."""
    return sorted(frame.select(prompt, completion, cached).iter_rows())


def assert_no_canary(*roots: Path) -> None:
    """The canary key is in no file below `roots` (trace files decoded: content is zstd)."""
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            if path.suffix == ".arrow":  # agentload files: content is zstd, search it decoded
                with contextlib.suppress(Exception):  # not one of ours: its bytes as they are
                    data = json.dumps(io.read(path).frame.to_dicts(), default=str).encode()
            assert CANARY_KEY.encode() not in data, f"the canary key leaked into {path}"


def check_loop(trace_dir: Path, tmp: Path) -> None:
    """The rest of the loop on a captured trace: `profile derive`, then replay of the trace
    verbatim and of the profile against a fresh sim, each with 0 errors and every call's
    completion tokens equal to the recorded ones."""
    files = sorted(p for p in trace_dir.glob("*.arrow") if p.stat().st_size)
    assert len(files) == 1, files
    trace = trace_frame(trace_dir)
    recorded = sorted(trace.select(S.SESSION_ID, S.CALL_INDEX, S.COMPLETION_TOKENS).iter_rows())
    agentload("profile", "derive", str(files[0]), "--out", str(tmp / "profiles"))
    (profile,) = sorted((tmp / "profiles").glob("*.arrow"))
    with running_sim("--preset", "fast") as sim:
        verbatim = _replay(sim.url, files[0], tmp / "verbatim.arrow")
        synthetic = _replay(sim.url, profile, tmp / "profile.arrow")
    got = sorted(verbatim.select(S.SESSION_ID, S.CALL_INDEX, S.COMPLETION_TOKENS).iter_rows())
    assert got == recorded
    assert sorted(synthetic[S.COMPLETION_TOKENS].to_list()) == sorted(t[2] for t in recorded)
    assert (synthetic[S.COMPLETION_TOKENS] == synthetic[S.EXPECTED_OUTPUT_TOKENS]).all()


def _replay(url: str, source: Path, out: Path) -> pl.DataFrame:
    agentload(
        "replay", str(source), "--target", url, "--model", "agentload-sim", "--out", str(out),
        "--quiet", "--think-scale", "0.1",
    )  # fmt: skip
    frame = io.read(out, Kind.RESULT).frame
    assert errors(frame).height == 0, errors(frame)
    return frame
