"""Every event stream, split at any byte, parses the same, for all four APIs.

Streams come from the sim's codecs (head, tokens in step slices, tail with usage) and from
variants of them: CRLF line endings, comments with `id:`/`event:` lines, raw UTF-8 JSON.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentload.providers.api import Api
from agentload.providers.counter import StreamParser
from agentload.providers.response_summary import ResponseSummary, StreamSummary
from agentload.providers.sse import SseEvent, SseParser, parse_recorded
from agentload.simengine import outputs, tokenizer
from agentload.simengine.anthropic_api import MessagesCodec
from agentload.simengine.jobs import Codec, Job, Usage
from agentload.simengine.openai_api import ChatCodec, CompletionsCodec
from agentload.simengine.outputs import Plan, ToolCall
from agentload.simengine.responses_api import ResponsesCodec

TOK = tokenizer.Tokenizer()
CODECS: dict[Api, tuple[Codec, str]] = {
    Api.OPENAI_CHAT: (ChatCodec(), "chatcmpl-"),
    Api.OPENAI_COMPLETIONS: (CompletionsCodec(), "cmpl-"),
    Api.ANTHROPIC_MESSAGES: (MessagesCodec(), "msg_"),
    Api.OPENAI_RESPONSES: (ResponsesCodec(), "resp_"),
}
PROMPT, CACHED = 41, 16
TEXTS = [
    'He said "hi"\nthen left.\n\nNew line\twith a tab, a \\ backslash and a \\n.',
    "Ünïcödé: naïve café, 日本語のテキスト, emoji 🎉🚀, ∑∫ and ‘quotes’.",
    'data: [DONE] "content":"x" "text":"y" {"usage":{}} \r\n\r\n: no comment',
]
ARGS = [{"path": "src/main.py", "query": 'say "hi"\n'}, {"city": "Zürich", "u": ["°C", "🌡"]}]
VARIANTS = ("lf", "crlf", "decorated", "utf8")
Counted = tuple[int, bool, int | None, int | None, int | None]


class Case(NamedTuple):
    api: Api
    plan: Plan
    stream: bytes


def build(api: Api, plan: Plan, steps: list[int]) -> bytes:
    """The whole SSE stream the sim sends, tokens in step slices ending at `steps`."""
    codec, prefix = CODECS[api]
    n = plan.n_tokens
    job = Job(codec.endpoint, f"{prefix}5eed", 1_700_000_000, "sim", [1, 2], plan, n, True, True)
    usage = Usage(PROMPT, CACHED, 0)
    out = codec.stream_head(job, usage)
    bounds = [0, *sorted({s for s in steps if 0 < s < n}), n]
    out += "".join(codec.stream_tokens(job, a, b) for a, b in itertools.pairwise(bounds))
    usage.completion = n
    return (out + codec.stream_tail(job, usage)).encode()


def _raw_json(m: re.Match[str]) -> str:
    return "data: " + json.dumps(json.loads(m[1]), ensure_ascii=False, separators=(",", ":"))


def variant(stream: bytes, how: str) -> bytes:
    if how == "lf":
        return stream
    if how == "crlf":  # of the decorated stream: CR-LF inside blocks of several lines too
        return variant(stream, "decorated").replace(b"\n", b"\r\n")
    if how == "utf8":  # the same JSON with raw non-ASCII characters
        return re.sub(r"(?m)^data: (\{.*)$", _raw_json, stream.decode()).encode()
    out = []
    for i, block in enumerate(stream.decode().split("\n\n")[:-1]):
        if i % 3 == 1:
            out.append(": ping\n\n")
        name = "" if block.startswith("event:") else "event: message\n"
        block = block.replace("data: ", "data:", i % 2)  # the space after the colon is optional
        out.append(f": c{i}\nid: {i}\n{name}{block}\n\n")
    return "".join(out).encode()


def make_plan(kind: str, seed: int, n: int, finish: str, text: int, n_calls: int) -> Plan:
    if kind == "plain":
        return outputs.generated(seed, n, finish)
    if kind == "text":
        return outputs.fixed_text(TEXTS[text], TOK, finish)
    calls = []
    for i in range(n_calls):
        args = json.dumps(ARGS[(text + i) % 2], ensure_ascii=bool(i))
        calls.append(ToolCall(f"call_{i}_{seed:x}", f"tool_{i}", args, tokenizer.split(args)))
    return outputs.with_tool_calls(["", "Let me check.", TEXTS[1][:20]][text], calls, TOK)


# make_plan's seed, generated length, finish reason, text choice and number of calls
PLAN_ARGS = st.tuples(
    st.integers(0, 1 << 40),
    st.integers(1, 12),
    st.sampled_from(["stop", "length"]),
    st.integers(0, 2),
    st.integers(1, 2),
)


@st.composite
def cases(
    draw: st.DrawFn, variants: tuple[str, ...] = VARIANTS, apis: tuple[Api, ...] = tuple(Api)
) -> Case:
    api = draw(st.sampled_from(apis))
    kinds = ["plain", "text"] + ([] if api is Api.OPENAI_COMPLETIONS else ["tools"])
    plan = make_plan(draw(st.sampled_from(kinds)), *draw(PLAN_ARGS))
    steps = draw(st.lists(st.integers(1, plan.n_tokens), max_size=4))
    return Case(api, plan, variant(build(api, plan, steps), draw(st.sampled_from(variants))))


def split(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted({c for c in cuts if 0 < c < len(stream)}), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(points)]


def cut_points(stream: bytes, max_size: int = 40) -> st.SearchStrategy[list[int]]:
    """Positions anywhere, and (more often than chance) next to line ends and inside UTF-8."""
    near = sorted({i + d for i, b in enumerate(stream) if b in b"\r\n" or b > 127 for d in (0, 1)})
    near = [i for i in near if 0 < i < len(stream)]
    anywhere = st.integers(1, max(1, len(stream) - 1))
    return st.lists(st.one_of(anywhere, st.sampled_from(near)), max_size=max_size)


def count(api: Api, chunks: list[bytes]) -> Counted:
    parser = StreamParser(api)
    n = sum(parser.feed(c) for c in chunks)
    return n, parser.done, parser.prompt, parser.completion, parser.cached


def events(chunks: list[bytes]) -> list[SseEvent]:
    """Events of a whole stream, stamped with the index of the chunk that completed them."""
    parser = SseParser()
    out = [e for i, c in enumerate(chunks) for e in parser.feed(c, i)]
    assert parser.close(len(chunks)) == ([], False) and parser.malformed == 0
    return out


def summarize(api: Api, evs: list[SseEvent]) -> tuple[int, ResponseSummary, StreamSummary]:
    summary = StreamSummary(api)
    n = sum(summary.add(e.event, e.data) for e in evs)
    return n, summary.result(), summary


@functools.lru_cache(maxsize=16)
def parse_whole(api: Api, stream: bytes) -> tuple[Counted, list[tuple[str, str]], object]:
    whole = events([stream])
    return count(api, [stream]), [e[:2] for e in whole], summarize(api, whole)[:2]


def check_split(case: Case, cuts: list[int]) -> None:
    """Split at `cuts` parses exactly as the whole stream does."""
    api, stream = case.api, case.stream
    chunks = split(stream, cuts)
    counted, whole, summary = parse_whole(api, stream)
    assert count(api, chunks) == counted
    evs = events(chunks)
    assert [e[:2] for e in evs] == whole
    assert summarize(api, evs)[:2] == summary
    assert parse_recorded(chunks, list(range(len(chunks))), len(chunks)) == (evs, False, 0)


def streamed(api: Api, summary: StreamSummary) -> tuple[str, list[str]]:
    """Text and tool-call arguments as assembled from the deltas."""
    if api is Api.ANTHROPIC_MESSAGES:
        blocks = [summary.blocks[i] for i in sorted(summary.blocks)]
        text = "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        return text, [str(b.get("partial_json")) for b in blocks if b.get("type") == "tool_use"]
    return "".join(summary.text), [str(t.get("args")) for t in summary.tools.values()]


def finish_of(api: Api, plan: Plan) -> str:
    if api is Api.ANTHROPIC_MESSAGES:
        return {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}[plan.finish]
    if api is not Api.OPENAI_RESPONSES or plan.finish == "tool_calls":
        return plan.finish
    return "incomplete:max_output_tokens" if plan.finish == "length" else "completed"


@settings(max_examples=200, deadline=None)
@given(cases(), st.data())
def test_any_split_parses_as_the_whole_stream(case: Case, data: st.DataObject) -> None:
    check_split(case, data.draw(cut_points(case.stream)))


@settings(max_examples=100, deadline=None)
@given(cases(("lf",)), st.lists(st.integers(1, 12), max_size=4), st.sampled_from(VARIANTS))
def test_streams_say_what_the_sim_generated(case: Case, steps: list[int], how: str) -> None:
    api, plan = case.api, case.plan
    assert build(api, plan, steps) == case.stream  # step slicing does not change the bytes
    stream = variant(case.stream, how)
    headers = len(plan.calls) if api in (Api.ANTHROPIC_MESSAGES, Api.OPENAI_RESPONSES) else 0
    n, done, prompt, completion, cached = count(api, [stream])
    assert done and n == plan.n_tokens - headers > 0
    assert (prompt, completion, cached) == (PROMPT, plan.n_tokens, CACHED)
    evs = events([stream])
    if how in ("crlf", "decorated"):  # same events as the plain LF stream
        assert [e[:2] for e in evs] == [e[:2] for e in events([case.stream])]
    outputs_seen, result, summary = summarize(api, evs)
    assert outputs_seen == plan.n_tokens  # every token's event carried output
    usage = result.usage
    assert (usage.prompt, usage.completion, usage.cached) == (PROMPT, plan.n_tokens, CACHED)
    assert result.complete and result.error is None
    assert result.finish_reason == finish_of(api, plan)
    assert result.tool_call_ids == tuple(c.call_id for c in plan.calls)
    assert result.response_id == f"{CODECS[api][1]}5eed"
    text, args = streamed(api, summary)
    assert text == plan.text_of(0, len(plan.text))
    if api is not Api.OPENAI_RESPONSES:
        assert args == [c.arguments for c in plan.calls]


@settings(max_examples=100, deadline=None)
@given(cases(), st.data())
def test_a_stream_cut_before_its_end_is_not_done(case: Case, data: st.DataObject) -> None:
    api, stream = case.api, case.stream
    end = data.draw(st.integers(0, len(stream) - 1))
    chunks = split(stream[:end], data.draw(cut_points(stream, 8)))
    n, done, *_ = count(api, chunks)
    assert not done and n <= count(api, [stream])[0]
    parser = SseParser()
    evs = [e for i, c in enumerate(chunks) for e in parser.feed(c, i)]
    assert [e[:2] for e in evs] == [e[:2] for e in events([stream])][: len(evs)]
    assert not summarize(api, evs)[1].complete
    tail, cut = parser.close(len(chunks))  # flushes a final event without its blank line
    recorded = parse_recorded(chunks, list(range(len(chunks))), len(chunks))
    assert recorded == (evs + tail, cut, parser.malformed)


@settings(max_examples=40, deadline=None)
@given(cases(("lf",), (Api.OPENAI_RESPONSES,)))
def test_responses_stream_is_done_only_at_its_terminal_event(case: Case) -> None:
    parser = StreamParser(Api.OPENAI_RESPONSES)
    blocks = case.stream.split(b"\n\n")[:-1]
    kinds: list[str] = []
    for block in blocks:
        parser.feed(block + b"\n\n")
        kinds.append(json.loads(block.split(b"\ndata: ", 1)[1])["type"])
        assert parser.done == (len(kinds) == len(blocks))
    terminal = "response.incomplete" if case.plan.finish == "length" else "response.completed"
    assert kinds[-1] == terminal and terminal not in kinds[:-1]


SMALL_ARGS = '{"q":"é"}'
SMALL_CALL = ToolCall("call_0", "f", SMALL_ARGS, tokenizer.split(SMALL_ARGS))
SMALL: dict[Api, Plan] = {  # Responses: no text item, its stream is long enough as it is
    api: outputs.fixed_text('Hi é "x"\n', TOK)
    if api is Api.OPENAI_COMPLETIONS
    else outputs.with_tool_calls("" if api is Api.OPENAI_RESPONSES else " é", [SMALL_CALL], TOK)
    for api in Api
}


@pytest.mark.parametrize("how", ["utf8", "crlf"])
@pytest.mark.parametrize("api", list(Api))
def test_every_byte_boundary(api: Api, how: str) -> None:
    case = Case(api, SMALL[api], variant(build(api, SMALL[api], [1, 2]), how))
    for cut in range(1, len(case.stream)):
        check_split(case, [cut])
    check_split(case, list(range(len(case.stream))))  # one byte at a time
