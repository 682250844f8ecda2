"""Derivation: leakage, prefix sharing, usage-wins lengths, timing and parent links."""

from __future__ import annotations

import itertools
import math
import random
import secrets
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from agentload.profiles.blocks import HashKey
from agentload.profiles.derive import DeriveConfig, derive
from agentload.traceformat import schema as s
from agentload.traceformat.content import canonical_json
from agentload.traceformat.io import read
from agentload.traceformat.tokens import tokenize
from tests.profiles.conftest import assert_one_line_error, run_cli
from tests.profiles.tracegen import Call, Session, agent_session, canary, words, write_trace

BLOCK = 64


def decompressed_bytes(path: Path) -> bytes:
    """The profile's columns and metadata serialised without compression."""
    table = pa.ipc.open_file(str(path)).read_all()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    columns: bytes = sink.getvalue().to_pybytes()
    return columns + path.read_bytes()


def _key(tmp_path: Path, name: str) -> tuple[Path, HashKey]:
    path = tmp_path / name
    path.write_text(f"key-{secrets.token_hex(24)}\n")
    return path, HashKey.from_file(path)


def _tools(rng: random.Random, marker: str = "") -> list[dict[str, object]]:
    return [
        {
            "type": "function",
            "function": {"name": f"tool_{k}", "description": words(rng, 40) + marker},
        }
        for k in range(3)
    ]


def test_no_content_header_or_key_leaks_into_the_profile(tmp_path: Path) -> None:
    rng = random.Random(7)
    canaries = [canary(random.Random(secrets.randbits(64))) for _ in range(8)]
    system = f"{words(rng, 300)} {canaries[0]} {words(rng, 50)}"
    tools = _tools(rng, " " + canaries[1])
    sessions = [
        agent_session(
            rng,
            f"sess-{canaries[2]}",
            "coding",
            system=system,
            tools=tools,
            task=f"{words(rng, 40)} {canaries[3]}",
            turns=4,
            t0_ns=10**18,
        ),
        agent_session(
            rng,
            "sess-two-private-name",
            "coding",
            system=system,
            tools=tools,
            task=words(rng, 30),
            turns=2,
            t0_ns=10**18 + 5 * 10**9,
        ),
    ]
    for sess in sessions:  # canaries in assistant replies and tool results too
        for call in sess.calls:
            call.messages[-1] = {**call.messages[-1], "content": f"{canaries[4]} " + words(rng, 9)}
            call.response = {"role": "assistant", "content": canaries[5]}
    child = agent_session(
        rng,
        "sess-child-private",
        "coding",
        system=words(rng, 80),
        tools=[],
        task=canaries[6],
        turns=1,
        t0_ns=10**18 + 2 * 10**9,
        parent=(sessions[0].session_id, 1),
    )
    headers = {
        "authorization": f"Bearer sk-{secrets.token_hex(20)}",
        "x-api-key": f"ak-{secrets.token_hex(20)}",
        "cookie": f"sid={canaries[7]}",
    }
    trace = write_trace(
        tmp_path / "t.arrow",
        [*sessions, child],
        info={"headers": headers, "api_key": headers["x-api-key"]},
    )
    key_file, key = _key(tmp_path, "secret.key")
    # the canaries break the histories' continuity: the sessions are the recorded ones
    run_cli(
        "profile",
        "derive",
        str(trace),
        "--out",
        str(tmp_path / "out"),
        "--key-file",
        str(key_file),
        "--recorded-sessions",
    )
    profile = tmp_path / "out" / "coding.arrow"
    data = decompressed_bytes(profile)

    secrets_to_check = [
        *canaries,
        *headers.values(),
        key_file.read_text().strip(),
        "sess-two-private-name",
        "sess-child-private",
    ]
    for value in secrets_to_check:
        assert value.encode() not in data, value
    assert key.secret not in data
    texts = [
        canonical_json(m) for sess in [*sessions, child] for c in sess.calls for m in c.messages
    ]
    texts += [
        str(m.get("content")) for sess in [*sessions, child] for c in sess.calls for m in c.messages
    ]
    for text in set(texts):
        raw = text.encode()
        for i in range(len(raw) - 7):
            assert raw[i : i + 8] not in data, (text[:40], raw[i : i + 8])
    frame = read(profile, s.Kind.PROFILE).frame
    assert frame[s.SESSION_ID].n_unique() == 3
    assert frame[s.PARENT_SESSION_ID].drop_nulls().n_unique() == 1


def _system_5k(rng: random.Random) -> str:
    text = words(rng, 1500)
    while len(tokenize(text)) < 5000:
        text += " " + words(rng, 50)
    return text


def _sharing_trace(tmp_path: Path, usage_scale: float = 1.0) -> Path:
    rng = random.Random(11)
    system, tools = _system_5k(rng), _tools(rng)
    a = agent_session(
        rng, "A", "w", system=system, tools=tools, task=words(rng, 50), turns=3, t0_ns=10**18
    )
    b = agent_session(
        rng,
        "B",
        "w",
        system=system,
        tools=tools,
        task=words(rng, 50),
        turns=2,
        t0_ns=10**18 + 10 * 10**9,
    )
    c = agent_session(
        rng,
        "C",
        "w",
        system=_system_5k(rng),
        tools=_tools(rng),
        task=words(rng, 50),
        turns=2,
        t0_ns=10**18 + 20 * 10**9,
    )
    return write_trace(tmp_path / f"share{usage_scale}.arrow", [a, b, c], usage_scale=usage_scale)


def _derive(trace: Path, out: Path, key: HashKey) -> pl.DataFrame:
    derive(DeriveConfig((trace,), out, key, BLOCK))
    return read(out / "w.arrow", s.Kind.PROFILE).frame


def _by_arrival(frame: pl.DataFrame) -> list[list[list[int]]]:
    """hash_ids per call, per session, sessions in arrival order."""
    order = frame.group_by(s.SESSION_ID).agg(pl.col(s.ARRIVAL_S).min()).sort(s.ARRIVAL_S)
    return [
        frame.filter(pl.col(s.SESSION_ID) == sid).sort(s.CALL_INDEX)[s.HASH_IDS].to_list()
        for sid in order[s.SESSION_ID]
    ]


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _check_sharing(frame: pl.DataFrame, scale: float) -> None:
    (a, b, c) = _by_arrival(frame)
    shared = _common_prefix(a[0], b[0])
    assert shared >= math.floor(5000 * scale / BLOCK), shared  # the 5k system prompt
    assert shared < min(len(a[0]), len(b[0]))  # the tasks differ
    all_c = {i for call in c for i in call}
    assert not all_c & {i for call in a + b for i in call}  # unrelated: nothing shared
    for calls in (a, b, c):  # history: each call extends the previous prompt's blocks
        for prev, cur in itertools.pairwise(calls):
            assert _common_prefix(prev, cur) >= len(prev) - 1
    lengths = frame.select(
        pl.col(s.HASH_IDS).list.len() == (pl.col(s.INPUT_TOKENS) / BLOCK).ceil()
    ).to_series()
    assert lengths.all()  # usage wins: ceil(prompt_tokens / block) ids on every call


def test_shared_system_prompt_shares_leading_ids_and_keys_matter(tmp_path: Path) -> None:
    trace = _sharing_trace(tmp_path)
    _, key1 = _key(tmp_path, "k1")
    _, key2 = _key(tmp_path, "k2")
    first = _derive(trace, tmp_path / "o1", key1)
    _check_sharing(first, 1.0)
    again = _derive(trace, tmp_path / "o2", key1)
    assert _by_arrival(again) == _by_arrival(first)  # same key, same ids
    other = _derive(trace, tmp_path / "o3", key2)
    ids1 = {i for calls in _by_arrival(first) for call in calls for i in call}
    ids2 = {i for calls in _by_arrival(other) for call in calls for i in call}
    assert not ids1 & ids2  # another key, other ids
    assert set(first[s.SESSION_ID]).isdisjoint(set(other[s.SESSION_ID]))


def test_usage_wins_when_the_provider_counts_more_or_fewer_tokens(tmp_path: Path) -> None:
    _, key = _key(tmp_path, "k")
    for scale in (1.5, 0.6):
        frame = _derive(_sharing_trace(tmp_path, scale), tmp_path / f"o{scale}", key)
        info = read(tmp_path / f"o{scale}" / "w.arrow").info
        assert info["token_scale"] == scale
        _check_sharing(frame, scale)


def test_times_tokens_and_parent_links(tmp_path: Path) -> None:
    rng = random.Random(3)
    t0 = 1_700_000_000 * 10**9
    parent = agent_session(
        rng,
        "P",
        "w",
        system=words(rng, 50),
        tools=[],
        task=words(rng, 9),
        turns=3,
        t0_ns=t0 + 4 * 10**9,
    )
    child_start = parent.calls[1].end_ns + 250_000_000
    child = agent_session(
        rng,
        "C",
        "w",
        system=words(rng, 30),
        tools=[],
        task=words(rng, 5),
        turns=1,
        t0_ns=child_start,
        parent=("P", 1),
    )
    early = agent_session(
        rng, "E", "w", system=words(rng, 30), tools=[], task=words(rng, 5), turns=1, t0_ns=t0
    )
    # a failed call without usage is dropped, and later calls are renumbered
    failed = Call(parent.calls[2].envelope, parent.calls[2].messages, {}, 0, 0)
    failed.start_ns, failed.end_ns = parent.calls[2].start_ns - 5, parent.calls[2].start_ns - 1
    failed.no_usage, failed.error, failed.status = True, "upstream 500", 500
    parent.calls.insert(2, failed)
    trace = write_trace(tmp_path / "t.arrow", [parent, child, early])
    _, key = _key(tmp_path, "k")
    frame = _derive(trace, tmp_path / "o", key).sort(s.ARRIVAL_S, s.SESSION_ID, s.CALL_INDEX)
    pid = "s" + key.opaque_id("session", "P")
    p = frame.filter(pl.col(s.SESSION_ID) == pid).sort(s.CALL_INDEX)
    c = frame.filter(pl.col(s.PARENT_SESSION_ID) == pid)
    assert p[s.CALL_INDEX].to_list() == [0, 1, 2, 3]
    assert p[s.ARRIVAL_S].to_list() == [4.0] * 4
    calls = [x for x in parent.calls if not x.no_usage]
    gaps = [0.0] + [(cur.start_ns - prev.end_ns) / 1e9 for prev, cur in itertools.pairwise(calls)]
    assert p[s.THINK_S].to_list() == pytest.approx(gaps, abs=1e-9)
    inputs = p[s.INPUT_TOKENS].to_list()
    assert p[s.NEW_INPUT_TOKENS].to_list() == [inputs[0]] + [
        b - a for a, b in itertools.pairwise(inputs)
    ]
    assert c[s.PARENT_CALL_INDEX].unique().to_list() == [1]
    assert c.filter(pl.col(s.CALL_INDEX) == 0)[s.THINK_S].item() == pytest.approx(0.25)
    assert c[s.ARRIVAL_S].min() == pytest.approx((child_start - t0) / 1e9)
    info = read(tmp_path / "o" / "w.arrow").info
    assert info["dropped_failed_calls"] == 1


def test_one_profile_per_workload_label_with_safe_distinct_names(tmp_path: Path) -> None:
    rng = random.Random(9)
    labels = ["team/a", "team_a", "../x"]
    sessions = [
        agent_session(
            rng,
            f"id{k}",
            label,
            system=words(rng, 20),
            tools=[],
            task=words(rng, 4),
            turns=k + 1,
            t0_ns=10**18 + k,
        )
        for k, label in enumerate(labels)
    ]
    trace = write_trace(tmp_path / "t.arrow", sessions)
    _, key = _key(tmp_path, "k")
    written = derive(DeriveConfig((trace,), tmp_path / "o", key, BLOCK))
    assert [d.workload for d in written] == labels
    assert len({d.path for d in written}) == 3
    for d, k in zip(written, range(3), strict=True):
        assert d.path.parent == tmp_path / "o"
        frame = read(d.path, s.Kind.PROFILE).frame
        assert frame[s.WORKLOAD].unique().to_list() == [labels[k]]
        assert frame.height == k + 2


def _repeat(letter: str, n: int) -> str:
    return " ".join([letter] * n)


def test_calls_without_usage_get_the_estimate_unless_usage_is_required(tmp_path: Path) -> None:
    """Hand-worked (see tests/traceformat/test_estimate.py for the counting): a prompt of one
    user message of n words is 12 + n offline tokens (the envelope adds none), a response of
    k words generates k."""
    sess = Session("S", "w")
    # (user words, output words, provider prompt, provider completion); None: no usage
    shape = [(8, 10, 40, 30), (18, 5, None, None), (28, 4, 80, 12), (38, 2, 75, 2)]
    for i, (n, k, prompt, completion) in enumerate(shape):
        call = Call(
            {"model": "m-1"},
            [{"role": "user", "content": _repeat("w", n)}],
            {"role": "assistant", "content": _repeat("x", k)},
            10**18 + i * 10**9,
            10**18 + i * 10**9 + 5 * 10**8,
            prompt_tokens=prompt,
            completion_tokens=completion,
            no_usage=prompt is None,
        )
        sess.calls.append(call)
    trace = write_trace(tmp_path / "t.arrow", [sess])
    # one-message prompts continue nothing: the session is the recorded one
    proc = run_cli(
        "profile", "derive", str(trace), "--out", str(tmp_path / "o"), "--recorded-sessions"
    )
    assert "4 calls, 1 with estimated token counts" in proc.stdout, proc.stdout
    loaded = read(tmp_path / "o" / "w.arrow", s.Kind.PROFILE)
    frame = loaded.frame.sort(s.CALL_INDEX)
    # prompt ratios 40/20 = 2.0, 80/40 = 2.0, 75/50 = 1.5: median 2.0 -> 30 × 2.0 = 60
    # completion ratios 30/10 = 3.0, 12/4 = 3.0, 2/2 = 1.0: median 3.0 -> 5 × 3.0 = 15
    assert frame[s.INPUT_TOKENS].to_list() == [40, 60, 80, 75]
    assert frame[s.OUTPUT_TOKENS].to_list() == [30, 15, 12, 2]
    assert frame[s.USAGE_SOURCE].to_list() == ["provider", "estimate", "provider", "provider"]
    assert frame[s.NEW_INPUT_TOKENS].to_list() == [40, 20, 20, 75]
    assert loaded.info["estimated_calls"] == 1 and loaded.info["dropped_failed_calls"] == 0
    assert loaded.info["token_scale"] == 2.0  # hash blocks: provider rows only
    strict = run_cli(
        "profile",
        "derive",
        str(trace),
        "--out",
        str(tmp_path / "s"),
        "--require-usage",
        check=False,
    )
    assert_one_line_error(strict, str(trace), "row 1 (call 1)", "prompt_tokens", "--require-usage")
    assert not (tmp_path / "s" / "w.arrow").exists()
