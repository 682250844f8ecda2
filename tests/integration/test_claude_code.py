"""Claude Code (the real CLI from npm) through `agentload capture` against the sim: a run with
tool turns and two subagents, then the rest of the loop on its trace.

The sim follows an agent script: list the files, spawn a subagent, spawn another, echo, then
answer. Each subagent (its own conversation: the prompt the script gave it) lists files
four times and answers. Claude Code's small side calls: none are sent in `-p` mode with
CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 (title generation is the only one seen, and it
is non-essential traffic); so every call of the trace belongs to the main agent or to one
of the two subagents, and the test asserts exactly that.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from agentload.traceformat import schema as S
from tests.integration import realagents as R

pytestmark = [pytest.mark.agents, pytest.mark.slow]

MODEL = "claude-opus-4-8"  # Claude Code's default model; the sim serves it by that name
SCRIPT: dict[str, Any] = {  # the sim's agent script (JSON)
    "turns": [
        {"text": "Let me look.", "calls": [{"tool": "@list"}]},
        {"calls": [{"tool": "@subagent"}]},
        {"calls": [{"tool": "@subagent"}]},
        {"calls": [{"tool": "@echo"}]},
    ],
    "final": {"text": "Done: the directory is listed."},
}
MAIN_CALLS = len(SCRIPT["turns"]) + 1


def test_claude_code_with_subagents_through_capture(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    with R.scripted_capture(tmp_path, SCRIPT, "--model", MODEL) as proxy:
        run = R.claude(proxy.url, MODEL, "List the files, then ask two helpers.", tmp_path)
        proxy_output = "".join(proxy.output)
    assert run.returncode == 0, (run.stdout, run.stderr)
    result = json.loads(run.stdout)
    assert result["is_error"] is False and result["result"] == SCRIPT["final"]["text"]

    trace = R.served_exactly(tmp_path)  # exactly the calls the sim served, its usage
    assert (trace[S.HTTP_STATUS] == 200).all() and trace[S.ERROR].is_null().all()
    _check_sessions(trace)
    R.assert_no_canary(traces, tmp_path / "home")
    assert R.CANARY_KEY not in proxy_output + run.stdout + run.stderr
    R.check_loop(traces, tmp_path / "loop")


def _check_sessions(trace: pl.DataFrame) -> None:
    """One root session (the main agent) and two children, each a subagent spawned by the
    main agent's call that emitted its Agent tool call (calls 1 and 2)."""
    sessions = trace.group_by(S.SESSION_ID).agg(
        pl.len().alias("calls"),
        pl.col(S.PARENT_SESSION_ID).first(),
        pl.col(S.PARENT_CALL_INDEX).first(),
        (pl.col(S.CALL_INDEX).sort() == pl.int_range(pl.len())).all().alias("contiguous"),
    )
    roots = sessions.filter(pl.col(S.PARENT_SESSION_ID).is_null())
    assert roots.height == 1 and roots["calls"][0] == MAIN_CALLS, sessions
    children = sessions.filter(pl.col(S.PARENT_SESSION_ID).is_not_null()).sort(S.PARENT_CALL_INDEX)
    assert children.height == 2, sessions
    assert (children[S.PARENT_SESSION_ID] == roots[S.SESSION_ID][0]).all()
    assert children[S.PARENT_CALL_INDEX].to_list() == [1, 2]
    assert sessions["contiguous"].all()
    # A subagent runs the script in its own conversation: four listings, then the answer.
    assert children["calls"].to_list() == [MAIN_CALLS, MAIN_CALLS]
