"""SSE framing: any chunking gives the same events; CRLF; cut streams; garbage."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from agentload.providers.sse import SseParser, parse_recorded

STREAM = (
    b'data: {"a": 1}\n\n'
    b'event: message_start\r\ndata: {"b":\r\ndata: 2}\r\n\r\n'
    b": keep-alive comment\n\n"
    b"data: [DONE]\n\n"
)


def _events(chunks: list[bytes]) -> list[tuple[str, str, int]]:
    parser = SseParser()
    out = []
    for i, chunk in enumerate(chunks):
        out += [(e.event, e.data, e.t_ns) for e in parser.feed(chunk, i)]
    tail, cut = parser.close(len(chunks))
    assert not cut
    return out + [(e.event, e.data, e.t_ns) for e in tail]


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    points = [0, *sorted(set(cuts)), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    events = [(name, data) for name, data, _ in _events(chunks)]
    assert events == [
        ("message", '{"a": 1}'),
        ("message_start", '{"b":\n2}'),
        ("message", "[DONE]"),
    ]


def test_event_is_stamped_with_the_chunk_that_completed_it() -> None:
    events = _events([b"data: x", b"yz\n", b"\ndata: 2\n\n"])
    assert [(d, t) for _, d, t in events] == [("xyz", 2), ("2", 2)]


def test_stream_cut_mid_event_is_reported() -> None:
    parser = SseParser()
    assert parser.feed(b'data: {"a": 1}\n\ndata: {"b"', 5)[0].data == '{"a": 1}'
    tail, cut = parser.close(9)
    assert cut and tail[0].data == '{"b"'


def test_garbage_blocks_are_counted_not_raised() -> None:
    parser = SseParser()
    events = parser.feed(b"\x00\xff not sse at all\n\ndata: ok\n\n", 1)
    assert [e.data for e in events] == ["ok"]
    assert parser.malformed == 1


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12))
def test_whole_stream_parse_matches_incremental(cuts: list[int]) -> None:
    for stream in (STREAM, STREAM.replace(b"\r", b"")):
        points = [0, *sorted(set(cuts)), len(stream)]
        chunks = [stream[a:b] for a, b in itertools.pairwise(points) if b > a]
        events, cut, malformed = parse_recorded(chunks, list(range(len(chunks))), 99)
        assert not cut and malformed == 0
        assert [(e.event, e.data, e.t_ns) for e in events] == _events(chunks)


_PIECES = [
    b"data: ",
    b"data:",
    b'{"x": 1}',
    b"event: error",
    b": note",
    b"id: 7",
    b"garbage",
    b"\n",
    b"\n\n",
    b"\xc3\xa9",  # non-ASCII: the bytes path
    b"\xff",  # invalid UTF-8
    b"data: [DONE]",
]


@settings(max_examples=400)
@given(
    st.lists(st.sampled_from(_PIECES), max_size=30),
    st.lists(st.integers(min_value=1, max_value=40), max_size=10),
)
def test_recorded_parse_equals_incremental_parse(pieces: list[bytes], cuts: list[int]) -> None:
    """parse_recorded (ASCII and bytes paths) = the incremental parser fed chunk by chunk."""
    stream = b"".join(pieces)
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    times = list(range(10, 10 + len(chunks)))
    parser = SseParser()
    expected = [e for c, t in zip(chunks, times, strict=True) for e in parser.feed(c, t)]
    tail, cut = parser.close(99)
    events, got_cut, malformed = parse_recorded(chunks, times, 99)
    assert events == expected + tail
    assert (got_cut, malformed) == (cut, parser.malformed)
