"""Codex (the real CLI from npm, `codex exec`, Responses API) through `agentload capture`
against the sim: shell tool turns, then `codex exec resume --last`, then the rest of the
loop on its trace.

Codex runs shell commands through its `exec_command` tool; the script's `@list` and `@echo`
turns call it with `ls` and `echo agentload`, which Codex runs in the scratch directory.
Codex sends a `session-id` header on every request (the same on resume) and resends the
whole history each turn (`store: false`, no previous_response_id).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from agentload.traceformat import schema as S
from tests.integration import realagents as R

pytestmark = [pytest.mark.agents, pytest.mark.slow]

MODEL = "agentload-sim"
SCRIPT: dict[str, Any] = {  # the sim's agent script (JSON)
    "turns": [
        {"text": "Listing.", "calls": [{"tool": "@list"}]},
        {"calls": [{"tool": "@echo"}]},
        {"calls": [{"tool": "@list"}]},
    ],
    "final": {"text": "There are two files."},
}
FIRST_RUN_CALLS = len(SCRIPT["turns"]) + 1


def test_codex_exec_and_resume_through_capture(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    with R.scripted_capture(tmp_path, SCRIPT) as proxy:
        first = R.codex(proxy.url, MODEL, "How many files are here?", tmp_path)
        resumed = R.codex(proxy.url, MODEL, "And now?", tmp_path, resume=True)
        proxy_output = "".join(proxy.output)
    for run in (first, resumed):
        assert run.returncode == 0, (run.stdout, run.stderr)
        assert run.stdout.strip() == SCRIPT["final"]["text"]
    # Codex ran the commands: their output came back as tool results.
    trace = R.served_exactly(tmp_path)
    assert trace.height == FIRST_RUN_CALLS + 1
    assert (trace[S.API] == "openai-responses").all() and (trace[S.HTTP_STATUS] == 200).all()
    # One session, every call in order, the resumed turn included.
    assert trace[S.SESSION_ID].n_unique() == 1 and trace[S.PARENT_SESSION_ID].is_null().all()
    assert trace[S.CALL_INDEX].to_list() == list(range(trace.height))
    finish = trace[S.FINISH_REASON].to_list()
    assert finish == ["tool_calls"] * len(SCRIPT["turns"]) + ["completed", "completed"]
    assert (trace[S.PROMPT_TOKENS].diff().drop_nulls() > 0).all()  # the history grows
    _check_tool_outputs(trace)
    R.assert_no_canary(traces, tmp_path / "home")
    assert R.CANARY_KEY not in proxy_output + first.stderr + resumed.stderr
    R.check_loop(traces, tmp_path / "loop")


def _check_tool_outputs(trace: pl.DataFrame) -> None:
    """The last request carries the output of every command Codex ran (from the stored
    request content: `ls` listed the scratch files, `echo` echoed)."""
    from agentload.traceformat.content import content_table, request_parts

    last = trace.tail(1)
    parts = request_parts(last, content_table(trace))[0]
    text = "".join(p or "" for p in parts)
    assert text.count("function_call_output") == len(SCRIPT["turns"])
    assert "notes.txt" in text and "agentload" in text
