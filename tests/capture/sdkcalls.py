"""One call of each API the proxy records (OpenAI chat, completions, responses; Anthropic
messages), streamed and not, through the official SDKs: what the client saw of each, and
the checks of the rows a proxy recorded for them."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx2
import openai
import polars as pl
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionMessageParam

from agentload.traceformat import schema as S
from tests.capture.tracehelper import SECRET, decoded_bytes

__all__ = ["ENDPOINTS", "Seen", "all_apis", "check_no_secret", "check_rows", "clients"]

ENDPOINTS = ("chat/completions", "completions", "responses", "messages")  # as all_apis calls


@dataclass(frozen=True)
class Seen:
    endpoint: str  # the last path segments, e.g. "chat/completions"
    stream: bool
    text: str
    prompt_tokens: int
    completion_tokens: int


def clients(
    openai_base: str,
    anthropic_base: str,
    verify: ssl.SSLContext | bool = True,
    proxy: str | None = None,
) -> tuple[openai.OpenAI, anthropic.Anthropic]:
    """SDK clients sending SECRET as their key, no retries (a failure must show), trusting
    `verify` and going through the HTTP proxy `proxy` if given (both SDKs run on httpx2)."""
    oa = openai.OpenAI(
        base_url=openai_base,
        api_key=SECRET,
        max_retries=0,
        http_client=httpx2.Client(verify=verify, proxy=proxy),
    )
    an = anthropic.Anthropic(
        base_url=anthropic_base,
        api_key=SECRET,
        max_retries=0,
        http_client=httpx2.Client(verify=verify, proxy=proxy),
    )
    return oa, an


def all_apis(oa: openai.OpenAI, an: anthropic.Anthropic, model: str, text: str) -> list[Seen]:
    """Eight calls, in order: per API of ENDPOINTS, streamed then not."""
    seen: list[Seen] = []
    for stream in (True, False):
        seen.append(_chat(oa, model, text, stream))
    for stream in (True, False):
        seen.append(_completions(oa, model, text, stream))
    for stream in (True, False):
        seen.append(_responses(oa, model, text, stream))
    for stream in (True, False):
        seen.append(_messages(an, model, text, stream))
    return seen


def _chat(oa: openai.OpenAI, model: str, text: str, stream: bool) -> Seen:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": text}]
    if not stream:
        r = oa.chat.completions.create(model=model, messages=messages, max_tokens=6)
        assert r.usage is not None
        content = r.choices[0].message.content or ""
        return Seen(
            "chat/completions", False, content, r.usage.prompt_tokens, r.usage.completion_tokens
        )
    parts: list[str] = []
    usage: CompletionUsage | None = None
    for chunk in oa.chat.completions.create(
        model=model,
        messages=messages,
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
    ):
        parts += [c.delta.content or "" for c in chunk.choices]
        usage = chunk.usage or usage
    assert usage is not None
    return Seen(
        "chat/completions", True, "".join(parts), usage.prompt_tokens, usage.completion_tokens
    )


def _completions(oa: openai.OpenAI, model: str, text: str, stream: bool) -> Seen:
    if not stream:
        r = oa.completions.create(model=model, prompt=text, max_tokens=6)
        assert r.usage is not None
        return Seen(
            "completions",
            False,
            r.choices[0].text,
            r.usage.prompt_tokens,
            r.usage.completion_tokens,
        )
    parts, usage = [], None
    for chunk in oa.completions.create(
        model=model, prompt=text, max_tokens=6, stream=True, stream_options={"include_usage": True}
    ):
        parts += [c.text for c in chunk.choices]
        usage = chunk.usage or usage
    assert usage is not None
    return Seen("completions", True, "".join(parts), usage.prompt_tokens, usage.completion_tokens)


def _responses(oa: openai.OpenAI, model: str, text: str, stream: bool) -> Seen:
    if stream:
        # max_output_tokens ends it as `response.incomplete`, which the SDK's stream helper
        # does not accept as an end: the final response is taken from the events here
        final = [
            event.response
            for event in oa.responses.create(
                model=model, input=text, max_output_tokens=6, stream=True
            )
            if event.type in ("response.completed", "response.incomplete")
        ]
        assert len(final) == 1, final
        r = final[0]
    else:
        r = oa.responses.create(model=model, input=text, max_output_tokens=6)
    assert r.usage is not None
    return Seen("responses", stream, r.output_text, r.usage.input_tokens, r.usage.output_tokens)


def _messages(an: anthropic.Anthropic, model: str, text: str, stream: bool) -> Seen:
    messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": text}]
    m: anthropic.types.Message
    if stream:
        with an.messages.stream(model=model, max_tokens=6, messages=messages) as s:
            m = s.get_final_message()
    else:
        m = an.messages.create(model=model, max_tokens=6, messages=messages)
    u = m.usage
    # Anthropic's input_tokens excludes the cached part; the trace's prompt includes it
    prompt = (
        u.input_tokens + (u.cache_read_input_tokens or 0) + (u.cache_creation_input_tokens or 0)
    )
    body = "".join(b.text for b in m.content if b.type == "text")
    return Seen("messages", stream, body, prompt, u.output_tokens)


def check_rows(frame: pl.DataFrame, seen: list[Seen], base: str) -> None:
    """One row per call in `seen` (in order), with the endpoint under `base`, the usage
    the client saw, status 200, ordered timings and, for streams, chunk offsets."""
    assert frame.height == len(seen), frame
    rows = frame.select(
        S.ENDPOINT, S.STREAM, S.PROMPT_TOKENS, S.COMPLETION_TOKENS, S.HTTP_STATUS, S.ERROR
    ).rows()
    assert rows == [
        (base + s.endpoint, s.stream, s.prompt_tokens, s.completion_tokens, 200, None) for s in seen
    ]
    for row in frame.iter_rows(named=True):
        start, headers = row[S.T_REQUEST_START_NS], row[S.T_RESPONSE_HEADERS_NS]
        first, end = row[S.T_FIRST_TOKEN_NS], row[S.T_RESPONSE_END_NS]
        assert start <= headers <= first <= end, row
        assert not row[S.PARTIAL]
        if row[S.STREAM]:
            assert len(row[S.CHUNK_OFFSETS_NS]) >= 2, row  # one offset per event with output


def check_no_secret(trace_dir: Path, output: str) -> None:
    """SECRET (the clients' key) is in no trace file (decoded) and not in `output`."""
    decoded = b"".join(decoded_bytes(p) for p in trace_dir.glob("*.arrow"))
    assert decoded and SECRET.encode() not in decoded
    assert SECRET not in output
