"""Token counts of calls recorded without provider usage: one estimate, for derive and replay.

A provider may report no usage (the openai-agents SDK streams without
`stream_options.include_usage` by default). Such a call's counts come from its stored
content through the offline tokenizer (`traceformat.tokens`): the prompt as
`traceformat.prompt` counts it, the output from the response's generated text
(`providers.summary.output_text`; a redacted response counts size/4). Each count is then
scaled like the other calls of the same trace:

    prompt scale     = median(prompt_tokens / offline prompt tokens)
    completion scale = median(completion_tokens / offline output tokens)
    over the rows with that provider count and a nonzero offline count (1.0 when there are
    none); estimate = max(1, round(offline count × scale)), halves rounded up.

A count the provider did report is kept. USAGE_SOURCE is "provider" when it reported both,
"estimate" otherwise.
"""

from __future__ import annotations

import json
from typing import Final

import polars as pl

from agentload.providers.api import Api
from agentload.providers.response_summary import output_text
from agentload.traceformat.content import content_frame
from agentload.traceformat.prompt import PartTokens
from agentload.traceformat.schema import (
    API,
    COMPLETION_TOKENS,
    CONTENT_DATA,
    CONTENT_ID,
    CONTENT_SIZE,
    PROMPT_TOKENS,
    REQUEST_CONTENT_IDS,
    RESPONSE_CONTENT_ID,
    USAGE_SOURCE,
    UsageSource,
)
from agentload.traceformat.tokens import tokenize

__all__ = ["OFFLINE_OUTPUT", "OFFLINE_PROMPT", "fill_usage", "has_usage", "offline_counts"]

OFFLINE_PROMPT: Final = "_offline_prompt_tokens"
OFFLINE_OUTPUT: Final = "_offline_output_tokens"


def has_usage() -> pl.Expr:
    """The row carries provider usage: both prompt and completion tokens."""
    return pl.col(PROMPT_TOKENS).is_not_null() & pl.col(COMPLETION_TOKENS).is_not_null()


def fill_usage(trace: pl.DataFrame, parts: PartTokens | None = None) -> pl.DataFrame:
    """`trace` (TRACE rows with their NEW_CONTENT) with PROMPT_TOKENS and COMPLETION_TOKENS
    filled where the provider reported none, and a USAGE_SOURCE column; rows keep their
    order. `parts`: a tokenizer cache that already holds the trace's content (derive shares
    one with hashing); by default one is built from the frame."""
    source = (
        pl.when(has_usage())
        .then(pl.lit(UsageSource.PROVIDER.value))
        .otherwise(pl.lit(UsageSource.ESTIMATE.value))
        .alias(USAGE_SOURCE)
    )
    if trace.select(has_usage().all()).item():  # nothing to estimate: tokenize nothing
        return trace.with_columns(source)
    return (
        trace.with_columns(source, *offline_counts(trace, parts))
        .with_columns(
            _filled(PROMPT_TOKENS, OFFLINE_PROMPT), _filled(COMPLETION_TOKENS, OFFLINE_OUTPUT)
        )
        .drop(OFFLINE_PROMPT, OFFLINE_OUTPUT)
    )


def _filled(provider: str, offline: str) -> pl.Expr:
    known = pl.col(provider).is_not_null() & (pl.col(offline) > 0)
    scale = (pl.col(provider) / pl.col(offline)).filter(known).median().fill_null(1.0)
    estimate = (pl.col(offline) * scale).round(0, mode="half_away_from_zero").cast(pl.Int64)
    return pl.coalesce(pl.col(provider), estimate.clip(lower_bound=1)).alias(provider)


def offline_counts(trace: pl.DataFrame, parts: PartTokens | None = None) -> list[pl.Series]:
    """Per row, the offline tokens of its prompt (OFFLINE_PROMPT) and of the text its
    response generated (OFFLINE_OUTPUT; 0 without a stored response)."""
    if parts is None:
        parts = PartTokens({}, {})
        parts.add_trace(trace)
    prompts = [parts.count(ids or []) for ids in trace[REQUEST_CONTENT_IDS].to_list()]
    content = content_frame(trace).select(CONTENT_ID, CONTENT_SIZE, CONTENT_DATA)
    responses = trace.select(API, RESPONSE_CONTENT_ID).join(
        content, left_on=RESPONSE_CONTENT_ID, right_on=CONTENT_ID, how="left", maintain_order="left"
    )
    cache: dict[tuple[str, str], int] = {}  # each distinct response is counted once
    outputs = []
    for api, cid, size, data in responses.iter_rows():
        if cid is not None and (api, cid) not in cache:
            cache[api, cid] = _output_tokens(api, data, size or 0)
        outputs.append(0 if cid is None else cache[api, cid])
    return [
        pl.Series(OFFLINE_PROMPT, prompts, dtype=pl.Int64),
        pl.Series(OFFLINE_OUTPUT, outputs, dtype=pl.Int64),
    ]


def _output_tokens(api: str, data: str | None, size: int) -> int:
    """Offline tokens of a stored response: its generated text; size/4 when redacted."""
    if data is None:
        return size // 4
    try:
        kind, content = Api(api), json.loads(data)
    except ValueError:
        return len(tokenize(data))
    return len(tokenize(output_text(kind, content)))
