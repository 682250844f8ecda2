"""The span-keeping request parser equals json.loads, and cached request parts equal freshly
serialised ones."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from agentload.capture import apis
from agentload.capture.apis import PartCache, parse_request
from agentload.capture.jsonspans import loads_with_spans
from agentload.traceformat.schema import Api

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)
_keys = st.sampled_from(["messages", "model", "input", "stream", "messages", "a\u00e9", ""])


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    """JSON objects written with random spacing, repeated keys and escapes, sometimes broken."""
    members = draw(st.lists(st.tuples(_keys, _json), max_size=6))
    ws = st.sampled_from(["", " ", "\n", "\t ", "\r\n"])
    parts = []
    for key, value in members:
        ascii_ = draw(st.booleans())
        parts.append(
            draw(ws)
            + json.dumps(key, ensure_ascii=ascii_)
            + draw(ws)
            + ":"
            + draw(ws)
            + json.dumps(value, ensure_ascii=ascii_, indent=draw(st.sampled_from([None, 1])))
            + draw(ws)
        )
    text = draw(ws) + "{" + ",".join(parts) + draw(ws) + "}" + draw(ws)
    if draw(st.integers(0, 9)) == 0 and text:  # damage it
        cut = draw(st.integers(0, len(text) - 1))
        text = text[:cut] + draw(st.sampled_from(["", ",", "]", "}", "x", '"'])) + text[cut + 1 :]
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "utf-8-sig"])))


@settings(max_examples=400)
@given(_bodies())
def test_loads_with_spans_equals_json_loads(body: bytes) -> None:
    try:
        expected = json.loads(body)
    except ValueError as exc:
        try:
            loads_with_spans(body, "messages")
        except ValueError as got:
            assert type(got) is type(exc)
            return
        raise AssertionError("invalid JSON accepted") from None
    decoded, spans = loads_with_spans(body, "messages")
    assert decoded == expected or (decoded != decoded and expected != expected)
    assert json.dumps(decoded) == json.dumps(expected)  # same order of members too
    if spans is not None:
        assert isinstance(expected, dict)
        assert {k: json.loads(v) for k, v in spans.members.items()} == expected
        if isinstance(expected.get("messages"), list):
            assert spans.elements is not None
            assert [json.loads(e) for e in spans.elements] == expected["messages"]
        else:
            assert spans.elements is None


@settings(max_examples=200)
@given(_bodies(), st.sampled_from(list(Api)))
def test_cached_parts_equal_fresh_parts(body: bytes, api: Api) -> None:
    cache = PartCache(max_chars=2000)  # small: also exercises emptying
    try:
        fresh = parse_request(api, body)
    except ValueError:
        return
    threshold, apis._CACHE_MIN_BYTES = apis._CACHE_MIN_BYTES, 0  # walk even small bodies
    try:
        for _ in range(2):  # the second time from the cache
            cached = parse_request(api, body, cache)
            assert (cached.envelope, cached.messages) == (fresh.envelope, fresh.messages)
            assert cached.roles == fresh.roles and cached.model == fresh.model
    finally:
        apis._CACHE_MIN_BYTES = threshold


def test_a_resent_history_is_served_from_the_cache() -> None:
    cache = PartCache()
    turn = [{"role": "user", "content": "hello sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX"}]
    body = {"model": "m", "api_key": "k", "messages": turn, "pad": "x" * apis._CACHE_MIN_BYTES}
    first = parse_request(Api.OPENAI_CHAT, json.dumps(body).encode(), cache)
    body["messages"] = [*turn, {"role": "assistant", "content": "hi"}]
    second = parse_request(Api.OPENAI_CHAT, json.dumps(body).encode(), cache)
    assert second.messages[0] is first.messages[0]  # the same stored text, not re-made
    assert second.envelope is first.envelope
    assert "[redacted]" in first.messages[0] and '"api_key":"[redacted]"' in first.envelope
