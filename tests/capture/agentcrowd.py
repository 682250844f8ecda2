"""Many tool-loop agents at once against a capture proxy (and a sim run with SCRIPT), each
call on a fresh connection, as agents behind a NAT or with short-lived clients send them:
the calls of one agent land on any of `capture --workers`' processes.

Each agent's first message is its own task, so a call is known across runs by
`call_identity`: (content id of its first message, number of messages)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from agentload.traceformat import schema as S
from tests.capture.tracehelper import SECRET

TURNS = 3  # tool rounds per agent, then the final answer: TURNS + 1 calls
SCRIPT = {"turns": TURNS, "final": {"text": "done"}}
_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a thing up.",
        "parameters": {
            "type": "object",
            "properties": {"what": {"type": "string"}},
            "required": ["what"],
        },
    },
}


def write_script(folder: Path) -> Path:
    path = folder / "agent-script.json"
    path.write_text(json.dumps(SCRIPT))
    return path


async def _agent(client: httpx.AsyncClient, url: str, model: str, k: int, header: bool) -> int:
    messages: list[dict[str, Any]] = [{"role": "user", "content": f"task of agent {k}: go"}]
    headers = {"authorization": f"Bearer {SECRET}"}
    if header:
        headers["x-session-id"] = f"crowd-{k}"
    for call in range(TURNS + 2):
        body = {"model": model, "messages": messages, "tools": [_TOOL]}
        r = await client.post(url + "/v1/chat/completions", json=body, headers=headers)
        r.raise_for_status()
        message = r.json()["choices"][0]["message"]
        calls = message.get("tool_calls") or []
        if not calls:
            return call + 1
        messages.append({"role": "assistant", "content": None, "tool_calls": calls})
        for c in calls:
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": f"{k}: found"})
    raise AssertionError(f"agent {k} did not finish after {TURNS + 2} calls")


async def _crowd(url: str, model: str, agents: int, with_header: int) -> int:
    # no keep-alive: every call opens its own connection
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        done = await asyncio.gather(
            *(_agent(client, url, model, k, k < with_header) for k in range(agents))
        )
    return sum(done)


def run_crowd(url: str, model: str, agents: int, with_header: int = 0) -> int:
    """`agents` agents at once, the first `with_header` sending X-Session-ID; the number
    of calls made (each agent makes TURNS + 1)."""
    return asyncio.run(_crowd(url, model, agents, with_header))


def call_identity(ids: list[str]) -> tuple[str, int]:
    """A call by its REQUEST_CONTENT_IDS (envelope, then messages): its agent's first
    message and how many messages it sent, equal in any run of the same crowd."""
    return ids[1], len(ids) - 1


def sessions(frame: pl.DataFrame) -> set[tuple[tuple[tuple[str, int], ...], object]]:
    """The trace's sessions whatever their ids: each as its calls' identities in call order,
    with its parent as (the parent session's first call, the parent call index)."""
    by_sid: dict[str, list[tuple[int, tuple[str, int]]]] = {}
    parent_of: dict[str, tuple[str | None, int | None]] = {}
    for row in frame.iter_rows(named=True):
        sid = row[S.SESSION_ID]
        by_sid.setdefault(sid, []).append(
            (row[S.CALL_INDEX], call_identity(row[S.REQUEST_CONTENT_IDS]))
        )
        parent_of[sid] = (row[S.PARENT_SESSION_ID], row[S.PARENT_CALL_INDEX])
    calls = {sid: tuple(ident for _, ident in sorted(c)) for sid, c in by_sid.items()}
    out: set[tuple[tuple[tuple[str, int], ...], object]] = set()
    for sid, seq in calls.items():
        parent, index = parent_of[sid]
        out.add((seq, None if parent is None else (calls[parent][0], index)))
    return out
