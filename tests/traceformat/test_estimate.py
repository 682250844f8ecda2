"""The usage estimate for calls recorded without provider usage, worked out by hand.

Offline token counts (`agentload-regex-v1`) of the parts used below:
- the envelope {"model": "m"} holds no prompt-bearing key: 0 tokens;
- the message {"role": "user", "content": "w w ... w"} (n words) is stored as the text
  {"content":"w w w","role":"user"}, which splits into
  {"  conten  t  ":  "  w  ( w)×(n-1)  ",  "  role  ":  "  user  "}
  that is 12 tokens of JSON around the n words: 12 + n;
- a response {"role": "assistant", "content": "x x ... x"} (k words) generates "x x ... x":
  k tokens (its JSON is not output).
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa

from agentload.providers.api import Api
from agentload.providers.response_summary import output_text
from agentload.traceformat import schema as S
from agentload.traceformat.content import ContentStore, canonical_json
from agentload.traceformat.estimate import (
    OFFLINE_OUTPUT,
    OFFLINE_PROMPT,
    fill_usage,
    offline_counts,
)


def words(letter: str, n: int) -> str:
    return " ".join([letter] * n)


class Trace:
    """Chat calls of one session, stored the way capture stores them."""

    def __init__(self) -> None:
        self.store = ContentStore()
        self.rows: list[dict[str, Any]] = []

    def call(
        self,
        user_words: int,
        output_words: int | None,
        prompt: int | None,
        completion: int | None,
        *,
        redact_response: bool = False,
    ) -> None:
        ids = [self.store.add(canonical_json({"model": "m"}))]
        ids.append(
            self.store.add(canonical_json({"role": "user", "content": words("w", user_words)}))
        )
        response = None
        if output_words is not None:
            message = {"role": "assistant", "content": words("x", output_words)}
            response = self.store.add(canonical_json(message), redact=redact_response)
        self.rows.append(
            {
                S.SESSION_ID: "s",
                S.CALL_INDEX: len(self.rows),
                S.WORKLOAD: "w",
                S.API: Api.OPENAI_CHAT.value,
                S.ENDPOINT: "/v1/chat/completions",
                S.STREAM: True,
                S.T_REQUEST_START_NS: len(self.rows),
                S.PROMPT_TOKENS: prompt,
                S.COMPLETION_TOKENS: completion,
                S.PARTIAL: False,
                S.REQUEST_CONTENT_IDS: ids,
                S.RESPONSE_CONTENT_ID: response,
                S.NEW_CONTENT: self.store.take_new(),
            }
        )

    def frame(self) -> pl.DataFrame:
        frame = pl.from_arrow(pa.Table.from_pylist(self.rows, schema=S.TRACE_SCHEMA))
        assert isinstance(frame, pl.DataFrame)
        return frame


def filled(frame: pl.DataFrame) -> list[tuple[int, int, str]]:
    out = fill_usage(frame)
    assert out.columns == [*frame.columns, S.USAGE_SOURCE]
    cols = (S.PROMPT_TOKENS, S.COMPLETION_TOKENS, S.USAGE_SOURCE)
    return list(out.select(cols).iter_rows())


def test_estimate_scales_offline_counts_by_the_trace_median() -> None:
    t = Trace()
    # user words -> offline prompt 12 + n; provider prompt / offline; output words; ratio
    t.call(8, 10, prompt=30, completion=20)  # 20 tokens, 30/20 = 1.5; 20/10 = 2.0
    t.call(28, 5, prompt=80, completion=5)  # 40 tokens, 80/40 = 2.0; 5/5 = 1.0
    t.call(18, 4, prompt=54, completion=12)  # 30 tokens, 54/30 = 1.8; 12/4 = 3.0
    t.call(38, 7, prompt=None, completion=None)  # 50 tokens; 7 output tokens
    t.call(3, None, prompt=None, completion=None)  # 15 tokens; no response stored
    t.call(1, None, prompt=None, completion=9)  # 13 tokens; the provider's completion kept
    frame = t.frame()
    counts = frame.with_columns(offline_counts(frame)).select(OFFLINE_PROMPT, OFFLINE_OUTPUT)
    assert list(counts.iter_rows()) == [(20, 10), (40, 5), (30, 4), (50, 7), (15, 0), (13, 0)]
    # prompt scale = median(1.5, 2.0, 1.8) = 1.8; completion scale = median(2.0, 1.0, 3.0) = 2.0
    assert filled(frame) == [
        (30, 20, "provider"),
        (80, 5, "provider"),
        (54, 12, "provider"),
        (90, 14, "estimate"),  # 50 × 1.8 = 90, 7 × 2.0 = 14
        (27, 1, "estimate"),  # 15 × 1.8 = 27, 0 × 2.0 = 0 -> at least 1
        (23, 9, "estimate"),  # 13 × 1.8 = 23.4 -> 23; completion as reported
    ]


def test_estimate_without_any_usage_is_the_offline_count() -> None:
    t = Trace()
    t.call(38, 7, prompt=None, completion=None)
    t.call(3, 2, prompt=None, completion=None)
    t.call(5, 40, prompt=None, completion=None, redact_response=True)
    # scale 1.0: offline counts as they are. The redacted response is stored as
    # {"content":"x x … x","role":"assistant"}: 2 × 40 - 1 = 79 bytes of words plus 12 + 21
    # of JSON, 112 bytes -> 112 // 4 = 28 tokens.
    assert filled(t.frame()) == [(50, 7, "estimate"), (15, 2, "estimate"), (17, 28, "estimate")]


def test_with_full_usage_nothing_changes() -> None:
    t = Trace()
    t.call(8, 10, prompt=31, completion=0)
    t.call(3, 2, prompt=15, completion=3)
    assert filled(t.frame()) == [(31, 0, "provider"), (15, 3, "provider")]
    assert filled(Trace().frame()) == []


def test_output_text_of_every_stored_shape() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "ls", "arguments": '{"d":1}'}}
    chat_body = {
        "choices": [
            {"message": {"role": "assistant", "content": "hi", "tool_calls": [call]}},
        ]
    }
    assert output_text(Api.OPENAI_CHAT, chat_body) == 'hi\nls\n{"d":1}'
    streamed = {
        "role": "assistant",
        "content": "",
        "reasoning": "think",
        "tool_calls": [{"id": "c1", "name": "ls", "args": "{}"}],
    }
    assert output_text(Api.OPENAI_CHAT, streamed) == "think\nls\n{}"
    assert output_text(Api.OPENAI_COMPLETIONS, {"choices": [{"text": "abc"}]}) == "abc"
    assert output_text(Api.OPENAI_COMPLETIONS, {"role": "assistant", "content": "abc"}) == "abc"
    blocks = [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "ok"},
        {"type": "tool_use", "id": "t", "name": "ls", "input": {"d": 1}},
    ]
    message = {"role": "assistant", "content": blocks}
    assert output_text(Api.ANTHROPIC_MESSAGES, message) == 'hmm\nok\nls\n{"d": 1}'
    assert output_text(Api.ANTHROPIC_MESSAGES, {"id": "msg", **message}) == 'hmm\nok\nls\n{"d": 1}'
    response = {
        "object": "response",
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "plan"}]},
            {"type": "message", "content": [{"type": "output_text", "text": "done"}]},
            {"type": "function_call", "call_id": "c", "name": "ls", "arguments": "{}"},
        ],
    }
    assert output_text(Api.OPENAI_RESPONSES, response) == "plan\ndone\nls\n{}"
    assert output_text(Api.OPENAI_CHAT, None) == ""
    assert output_text(Api.OPENAI_CHAT, {"error": {"message": "no"}}) == ""
