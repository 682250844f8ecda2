"""Pure parts of the sim: tokenizer, KV block pool, cost model, agent-script parsing."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentload.base.errors import ConfigError
from agentload.simengine import agentscript, costmodel, tokenizer
from agentload.simengine.config import CostModel
from agentload.simengine.kvcache import BlockPool
from agentload.simengine.outputs import CORPUS_IDS, CORPUS_PIECES, output_length

TOK = tokenizer.Tokenizer()


@given(st.lists(st.integers(0, tokenizer.VOCAB_SIZE - 1), max_size=200))
def test_decode_then_encode_round_trips(ids: list[int]) -> None:
    assert TOK.encode(TOK.decode(ids)) == ids


@given(st.text(max_size=300))
def test_split_covers_the_text(text: str) -> None:
    pieces = tokenizer.split(text)
    assert "".join(pieces) == text
    assert all(0 < len(p) <= tokenizer.MAX_PIECE_CHARS for p in pieces)
    assert all(0 <= i < tokenizer.VOCAB_SIZE for i in TOK.encode(text))


def test_ids_are_stable() -> None:
    # canonical pieces are arithmetic; others BLAKE2b: identical on every machine and run
    assert TOK.encode(" a b z aa") == [0, 1, 25, 26]
    assert TOK.encode(" A") == [tokenizer.UPPER_BASE]
    assert TOK.encode(" 7") == [tokenizer.DIGIT_BASE + 7]
    assert TOK.encode("Hello world, internationalization!") == [
        tokenizer.piece_id(p)
        for p in ["Hello", " world", ",", " inter", "nation", "alizat", "ion", "!"]
    ]
    digest = hashlib.blake2b(b"Hello", digest_size=8).digest()
    assert tokenizer.piece_id("Hello") == int.from_bytes(digest, "little") % 37666 == 850
    assert CORPUS_IDS[:3] == [16592, 15427, 9845]
    assert CORPUS_PIECES[:3] == [" xne", " vuj", " nnr"]
    assert tokenizer.id_piece(tokenizer.VOCAB_SIZE + 5) == tokenizer.id_piece(5)


def test_english_counts_are_plausible() -> None:
    text = "The quick brown fox jumps over the lazy dog near the riverbank at dawn."
    assert 14 <= TOK.count(text) <= 20  # 14 words + punctuation, a few long words split


def test_block_pool_prefix_reuse_and_lru_eviction() -> None:
    pool = BlockPool(num_blocks=4, caching=True)
    a = pool.allocate([], 2)
    assert a == [0, 1] and pool.used == 2
    pool.register(a[0], 111)
    pool.register(a[1], 222)
    pool.release(a)
    assert pool.used == 0 and pool.cached_blocks == 2
    assert pool.lookup([111, 222, 333]) == [0, 1]
    b = pool.allocate(pool.lookup([111, 999]), 1)  # reuse block 0, one new block
    assert b is not None and b[0] == 0 and pool.used == 2
    assert pool.allocate([], 3) is None  # 4 blocks, 2 used: refused, nothing changed
    assert pool.used == 2
    c = pool.allocate([], 2)  # takes the fresh block 3, then evicts the LRU cached block 1
    assert c is not None and sorted(c) == [1, 3]
    assert pool.evictions == 1 and pool.lookup([111, 222]) == [0]
    pool.release(b)
    pool.release(c)
    assert pool.used == 0


def test_shared_block_needs_all_references_released() -> None:
    pool = BlockPool(num_blocks=2, caching=True)
    a = pool.allocate([], 1)
    assert a is not None
    pool.register(a[0], 5)
    b = pool.allocate(pool.lookup([5]), 0)
    assert b == a and pool.used == 1
    pool.release(a)
    assert pool.used == 1
    assert b is not None
    pool.release(b)
    assert pool.used == 0 and pool.lookup([5]) == a


@given(st.integers(0, 5000), st.integers(1, 500))
def test_attention_pairs_matches_brute_force(start: int, length: int) -> None:
    assert costmodel.attention_pairs(start, length) == sum(
        p + 1 for p in range(start, start + length)
    )


def test_step_seconds_formula() -> None:
    cost = CostModel(10, 2, 1000, 100, 5, 1000)
    assert costmodel.step_seconds(cost, 0, 0, 0, 0) == 0
    # 10 + 2*3 + 1000 ns*6/1000 + 100 + 5*2 + 1000 ns*50/1000 (µs)
    assert costmodel.step_seconds(cost, 3, 6, 2, 50) == pytest.approx(182e-6)
    assert costmodel.cold_ttft_seconds(cost, 5, 2) == pytest.approx(
        sum(
            costmodel.step_seconds(cost, n, costmodel.attention_pairs(s, n), 0, 0)
            for s, n in ((0, 2), (2, 2), (4, 1))
        )
    )


@given(st.integers(0, 1 << 60), st.integers(0, 50), st.integers(1, 100))
def test_output_length_bounds(seed: int, lo: int, hi: int) -> None:
    n = output_length(seed, lo, hi, False)
    assert max(1, min(lo, hi)) <= n <= hi
    assert output_length(seed, lo, hi, True) == hi


def test_agent_script_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "s.json"
    bad.write_text('{"turns": [{"calls": [{"tool": 3}]}]}')
    with pytest.raises(ConfigError, match=r"s\.json: turns\[0\]\.calls\[0\]\.tool"):
        agentscript.load(bad)
    bad.write_text('{"turns": 2,\n "final": }')
    with pytest.raises(ConfigError, match=r"s\.json:2: invalid JSON"):
        agentscript.load(bad)
    ok = agentscript.parse({"turns": 2}, "x")
    assert len(ok.turns) == 2 and ok.final_text is None
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "m": {"enum": ["a"]}},
        "required": ["n", "m"],
    }
    assert agentscript.schema_arguments(schema) == {"n": 1, "m": "a"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from agentload.cli import main; main()", "sim", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_cli_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    r = _cli("--port", "0", "--block-size", "0")
    assert r.returncode == 2
    assert r.stderr.strip() == "error: sim option block_size: must be > 0, got 0"
    script = tmp_path / "a.json"
    script.write_text("[1,\n2,,]")
    r = _cli("--port", "0", "--agent-script", str(script))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert f"{script}:2: invalid JSON" in r.stderr
    r = _cli("--port", "0", "--token-interval-ms", "-1")
    assert r.returncode == 2 and "token_interval_ms" in r.stderr


_MESSAGES = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant", "tool"]), "content": st.text()}
    ),
    min_size=1,
    max_size=5,
)


@given(_MESSAGES, st.booleans())
def test_segment_encoding_equals_whole_text_encoding(
    messages: list[dict[str, str]], tools: bool
) -> None:
    from agentload.providers.api import Api
    from agentload.simengine import render

    offered = [{"type": "function", "function": {"name": "f"}}] if tools else None
    tok = tokenizer.Tokenizer()
    whole = tok.encode(render.render_chat(messages, offered))
    chat = render.conversation(Api.OPENAI_CHAT, {"messages": messages, "tools": offered})
    assert tok.encode_segments(render.segments(chat)) == whole
    assert tok.encode_segments(render.segments(chat)) == whole  # memoized
    system = messages[0]["content"]
    turns = [{"role": "user", "content": m["content"]} for m in messages]
    body = {"system": system, "messages": turns, "tools": offered}
    segments = render.segments(render.conversation(Api.ANTHROPIC_MESSAGES, body))
    assert tok.encode_segments(segments) == tok.encode("".join(segments))


def test_segment_cache_is_bounded() -> None:
    tok = tokenizer.Tokenizer(segment_cache_tokens=100)
    for i in range(50):
        tok.encode_segments([f"<|user|>\nmessage number {i} with some words\n", "<|a|>\n"])
    assert 0 < tok._segment_tokens <= 100 + 20


def test_busy_port_is_one_line() -> None:
    """Catalogue row 591: a port in use is one line, and nothing else on stderr (the sim's
    start line, model and preset, comes only once it listens)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = _cli("--port", str(port))
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_binary_agent_script_is_one_line(tmp_path: Path) -> None:
    """Catalogue row 114 (L3): `sim --agent-script <an .arrow file>` was a
    UnicodeDecodeError traceback."""
    script = tmp_path / "p.arrow"
    script.write_bytes(b"ARROW1\x00\x00\xff\xfe binary")
    r = _cli("--port", "0", "--agent-script", str(script))
    assert r.returncode == 2, r.stderr
    assert (
        r.stderr.strip()
        == f"error: {script}: not an agent script: byte 8 is not UTF-8 (expected JSON text)"
    )
