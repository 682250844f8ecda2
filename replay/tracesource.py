"""Plans from traces: the recorded requests, verbatim, with the model name rewritten.

A trace row lists its request parts (part 0 the envelope: the body without its messages;
then one part per message); the body is rebuilt by putting the messages back under the key
its API uses. Think times come from the recorded wall clock: request start minus the end of
the previous call of the session (or of the parent call, for a child session).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import polars as pl

from agentload.base.errors import FormatError
from agentload.providers import requests
from agentload.providers.api import Api, classify
from agentload.replay.plan import CallPlan, Plan, SessionPlan, assemble
from agentload.traceformat import schema as S
from agentload.traceformat.content import content_table, request_parts
from agentload.traceformat.estimate import fill_usage


def rebuild_body(
    api: str, parts: list[str | None], model: str, where: str, output_tokens: int | None = None
) -> dict[str, object]:
    """The request body of one call from its content parts, with `model` and streaming set,
    and the output length forced to `output_tokens` (the recorded or estimated count; the
    target's model would otherwise stop wherever its own EOS falls). 0 or None: not forced."""
    if not parts or any(p is None for p in parts):
        raise FormatError(f"{where}: request content is redacted or missing; cannot replay")
    try:
        kind = Api(api)
    except ValueError:
        raise FormatError(f"{where}: field {S.API}: unknown API kind {api!r}") from None
    envelope = json.loads(parts[0])  # type: ignore[arg-type]
    if not isinstance(envelope, dict):
        raise FormatError(f"{where}: request envelope is not a JSON object")
    body = requests.rebuild(kind, envelope, [json.loads(p) for p in parts[1:]])  # type: ignore[arg-type]
    body["model"] = model
    requests.stream_usage(kind, body)
    if output_tokens:
        requests.force_output_length(kind, body, output_tokens, extensions=True)
    return body


_TRACE_COLUMNS = (
    S.SESSION_ID,
    S.CALL_INDEX,
    S.PARENT_SESSION_ID,
    S.PARENT_CALL_INDEX,
    S.API,
    S.ENDPOINT,
    S.T_REQUEST_START_NS,
    S.T_RESPONSE_END_NS,
    S.PROMPT_TOKENS,
    S.COMPLETION_TOKENS,
    S.USAGE_SOURCE,
)


def plan_from_trace(path: Path, frame: pl.DataFrame, model: str) -> Plan:
    """Build a verbatim plan from a trace frame (rows of successful and failed calls).
    Expected token counts are the provider's usage, or `traceformat.estimate`'s where the
    call was recorded without it; either way the output length is forced to them."""
    frame = fill_usage(frame).sort(S.SESSION_ID, S.CALL_INDEX)
    parts = request_parts(frame, content_table(frame))
    rows = frame.select(_TRACE_COLUMNS).to_dicts()
    ends = {
        (r[S.SESSION_ID], r[S.CALL_INDEX]): r[S.T_RESPONSE_END_NS] or r[S.T_REQUEST_START_NS]
        for r in rows
    }
    by_session: dict[str, list[CallPlan]] = {}
    first: dict[str, dict[str, Any]] = {}
    prev_end: dict[str, int] = {}
    for i, r in enumerate(rows):
        sid = r[S.SESSION_ID]
        start = r[S.T_REQUEST_START_NS]
        if sid not in by_session:
            first[sid] = r
            anchor = ends.get((r[S.PARENT_SESSION_ID], r[S.PARENT_CALL_INDEX]), start)
        else:
            anchor = prev_end[sid]
        where = f"{path}: session {sid} call {r[S.CALL_INDEX]}"
        by_session.setdefault(sid, []).append(_call(r, parts[i], model, where, start - anchor))
        prev_end[sid] = r[S.T_RESPONSE_END_NS] or start
    t0 = min((r[S.T_REQUEST_START_NS] for r in rows), default=0)
    sessions = [
        SessionPlan(
            session_id=sid,
            arrival_s=(first[sid][S.T_REQUEST_START_NS] - t0) / 1e9,
            calls=(*calls[:-1], dataclasses.replace(calls[-1], final=True)),
            parent=first[sid][S.PARENT_SESSION_ID],
            parent_call=first[sid][S.PARENT_CALL_INDEX],
        )
        for sid, calls in by_session.items()
    ]
    return assemble(sessions, block_size=None, has_hash_ids=False, verbatim=True, where=str(path))


def _call(
    r: dict[str, Any], parts: list[str | None], model: str, where: str, gap_ns: int
) -> CallPlan:
    body = rebuild_body(r[S.API], parts, model, where, r[S.COMPLETION_TOKENS])
    return CallPlan(
        index=r[S.CALL_INDEX],
        think_s=max(gap_ns, 0) / 1e9,
        input_tokens=r[S.PROMPT_TOKENS],
        output_tokens=r[S.COMPLETION_TOKENS],
        hash_ids=None,
        final=False,
        body=json.dumps(body, separators=(",", ":")).encode(),
        endpoint=r[S.ENDPOINT],
        usage_source=r[S.USAGE_SOURCE],
    )


def restyled(plan: Plan, style: requests.RequestStyle) -> Plan:
    """`plan` with every recorded body respelled for the target (`providers.requests.restyle`:
    length fields it takes, the chat cap field, vLLM's `cache_salt`); the same plan when the
    style is the one the bodies were built with."""
    if style == requests.VLLM_STYLE:
        return plan

    def session(s: SessionPlan) -> SessionPlan:
        return dataclasses.replace(s, calls=tuple(_restyle_call(c, style) for c in s.calls))

    return dataclasses.replace(
        plan,
        roots=tuple(session(s) for s in plan.roots),
        children={k: tuple(session(s) for s in v) for k, v in plan.children.items()},
    )


def _restyle_call(call: CallPlan, style: requests.RequestStyle) -> CallPlan:
    api = classify("POST", call.endpoint or "")
    if call.body is None or api is None:
        return call
    body = json.loads(call.body)
    requests.restyle(api, body, style)
    return dataclasses.replace(call, body=json.dumps(body, separators=(",", ":")).encode())


def plan_apis(plan: Plan) -> list[Api]:
    """The APIs a verbatim plan's calls use, in a stable order."""
    found = {classify("POST", c.endpoint or "") for s in plan.all_sessions() for c in s.calls}
    return sorted(a for a in found if a is not None)
