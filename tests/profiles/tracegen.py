"""Build trace files the way capture writes them (StreamWriter + ContentStore)."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentload.traceformat import schema as s
from agentload.traceformat.content import ContentStore, canonical_json
from agentload.traceformat.io import StreamWriter
from agentload.traceformat.prompt import PartTokens


@dataclass
class Call:
    envelope: dict[str, Any]
    messages: list[dict[str, Any]]
    response: dict[str, Any]
    start_ns: int
    end_ns: int
    prompt_tokens: int | None = None  # None: count with the offline tokenizer x usage_scale
    completion_tokens: int | None = 50
    error: str | None = None
    status: int | None = 200
    no_usage: bool = False


@dataclass
class Session:
    session_id: str
    workload: str
    calls: list[Call] = field(default_factory=list)
    parent: tuple[str, int] | None = None


def words(rng: random.Random, n: int) -> str:
    """n random lowercase pseudo-words (never schema names or other fixed strings)."""
    letters = "bcdfghjklmnpqrstvwxz"
    return " ".join(
        "".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(n)
    )


def canary(rng: random.Random) -> str:
    return "CANARY" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(24))


def offline_count(envelope: dict[str, Any], messages: list[dict[str, Any]]) -> int:
    """What `traceformat.prompt` counts for these parts (a provider using the same tokenizer)."""
    parts = [canonical_json(envelope)] + [canonical_json(m) for m in messages]
    ids = [str(i) for i in range(len(parts))]
    counter = PartTokens(dict(zip(ids, parts, strict=True)), {})
    return counter.prompt(ids)[1][-1]


def write_trace(
    path: Path,
    sessions: list[Session],
    info: dict[str, object] | None = None,
    usage_scale: float = 1.0,
) -> Path:
    store = ContentStore()
    rows: list[dict[str, Any]] = []
    for sess in sessions:
        for i, call in enumerate(sess.calls):
            parts = [store.add(canonical_json(call.envelope))]
            parts += [store.add(canonical_json(m)) for m in call.messages]
            response_id = store.add(canonical_json(call.response))
            prompt = call.prompt_tokens
            if prompt is None:
                prompt = round(offline_count(call.envelope, call.messages) * usage_scale)
            rows.append(
                {
                    s.SESSION_ID: sess.session_id,
                    s.CALL_INDEX: i,
                    s.PARENT_SESSION_ID: sess.parent[0] if sess.parent else None,
                    s.PARENT_CALL_INDEX: sess.parent[1] if sess.parent else None,
                    s.WORKLOAD: sess.workload,
                    s.API: s.Api.OPENAI_CHAT.value,
                    s.ENDPOINT: "/v1/chat/completions",
                    s.MODEL: call.envelope.get("model"),
                    s.STREAM: True,
                    s.T_REQUEST_START_NS: call.start_ns,
                    s.T_RESPONSE_HEADERS_NS: call.start_ns + 1_000_000,
                    s.T_FIRST_TOKEN_NS: call.start_ns + 2_000_000,
                    s.T_RESPONSE_END_NS: call.end_ns,
                    s.CHUNK_OFFSETS_NS: [2_000_000, call.end_ns - call.start_ns],
                    s.PROMPT_TOKENS: None if call.no_usage else prompt,
                    s.COMPLETION_TOKENS: None if call.no_usage else call.completion_tokens,
                    s.CACHED_TOKENS: None,
                    s.REASONING_TOKENS: None,
                    s.HTTP_STATUS: call.status,
                    s.ERROR: call.error,
                    s.FINISH_REASON: "stop",
                    s.PARTIAL: False,
                    s.STITCH: "header",
                    s.REQUEST_CONTENT_IDS: parts,
                    s.RESPONSE_CONTENT_ID: response_id,
                    s.NEW_CONTENT: store.take_new(),
                }
            )
    with StreamWriter(path, s.Kind.TRACE, info, flush_rows=7) as writer:
        writer.write(rows)
    return path


def agent_session(
    rng: random.Random,
    session_id: str,
    workload: str,
    *,
    system: str,
    tools: list[dict[str, Any]],
    task: str,
    turns: int,
    t0_ns: int,
    parent: tuple[str, int] | None = None,
) -> Session:
    """A tool-calling session: each call appends the assistant reply and a tool result."""
    envelope = {"model": "m-1", "temperature": 0.2, "tools": tools, "stream": True}
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": task},
    ]
    sess = Session(session_id, workload, parent=parent)
    t = t0_ns
    for i in range(turns + 1):
        reply = {"role": "assistant", "content": words(rng, 20)}
        end = t + rng.randint(200, 900) * 1_000_000
        sess.calls.append(Call(dict(envelope), list(messages), reply, t, end))
        messages += [reply, {"role": "tool", "tool_call_id": f"c{i}", "content": words(rng, 60)}]
        t = end + rng.randint(100, 3000) * 1_000_000
    return sess
