"""`agentload inspect` on our three kinds and on foreign files, through the real CLI."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from agentload.traceformat.content import ContentStore
from agentload.traceformat.io import StreamWriter
from agentload.traceformat.schema import (
    API,
    CALL_INDEX,
    COMPLETION_TOKENS,
    ENDPOINT,
    FINAL_CALL,
    NEW_CONTENT,
    PARTIAL,
    PROMPT_TOKENS,
    SESSION_ID,
    STATUS,
    STREAM,
    T_END_NS,
    T_FIRST_TOKEN_NS,
    T_REQUEST_START_NS,
    T_RESPONSE_END_NS,
    T_SCHEDULED_NS,
    T_SENT_NS,
    WARMUP,
    WORKER,
    WORKLOAD,
    Api,
    Kind,
)
from tests.traceformat.test_foreign import sample, write_jsonl


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "agentload")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, check=False)


def inspect_json(path: Path, *args: str) -> dict[str, Any]:
    proc = cli("inspect", "--json", *args, str(path))
    assert proc.returncode == 0, proc.stderr
    summary: dict[str, Any] = json.loads(proc.stdout)
    return summary


def stat(summary: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in summary["stats"] if s["name"] == name)
    return found


def test_inspect_trie_sample() -> None:
    records = [json.loads(line) for line in sample().read_text().splitlines()]
    summary = inspect_json(sample())
    assert (summary["format"], summary["kind"], summary["version"]) == ("trie", "profile", None)
    calls = [r["num_turns"] + 1 for r in records]
    assert summary["rows"] == sum(calls) and summary["sessions"] == 64
    per_session = stat(summary, "calls per session")
    assert per_session["mean"] == statistics.mean(calls)
    assert per_session["max"] == max(calls)
    assert per_session["p50"] == statistics.median(calls)
    latencies = [x for r in records for x in r["tool_call_latency"]]
    think = stat(summary, "think time (after call 0)")
    assert think["count"] == len(latencies)
    assert abs(think["total"] - sum(latencies)) < 1e-6
    assert stat(summary, "starting prompt tokens")["mean"] == statistics.mean(
        r["input_prompt_length"] for r in records
    )


def test_inspect_mooncake(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"timestamp": 0, "input_length": 1024, "output_length": 10, "hash_ids": [1, 2]},
            {"timestamp": 500, "input_length": 1024, "output_length": 30, "hash_ids": [1, 3]},
        ],
    )
    summary = inspect_json(path, "--mooncake-block-size", "512")
    assert summary["format"] == "mooncake" and summary["sessions"] == 2
    assert summary["facts"]["ideal prefix-cache hit (hash_ids)"] == "25.0%"  # 1 of 4 blocks
    assert stat(summary, "session arrival")["max"] == 0.5


def test_inspect_result_and_truncated_stream(tmp_path: Path) -> None:
    path = tmp_path / "r.arrows"
    rows = [
        {
            SESSION_ID: "s",
            CALL_INDEX: i,
            WORKER: 0,
            FINAL_CALL: i == 2,
            WARMUP: False,
            T_SCHEDULED_NS: 1_000_000_000 * i,
            T_SENT_NS: 1_000_000_000 * i + 2_000_000,  # 2 ms late
            T_FIRST_TOKEN_NS: 1_000_000_000 * i + 52_000_000,  # TTFT 50 ms
            T_END_NS: 1_000_000_000 * i + 152_000_000,  # 100 ms for 11 tokens: TPOT 10 ms
            PROMPT_TOKENS: 100,
            COMPLETION_TOKENS: 11,
            STATUS: "ok",
        }
        for i in range(3)
    ]
    writer = StreamWriter(path, Kind.RESULT, {"target": "http://127.0.0.1:9"}, flush_rows=3)
    writer.write(rows)  # flushed, never closed: as if the run was killed
    summary = inspect_json(path)
    assert summary["kind"] == "result" and summary["truncated"] is True
    assert summary["facts"]["requests ok"] == 3
    assert summary["facts"]["info.target"] == "http://127.0.0.1:9"
    assert abs(stat(summary, "TTFT")["mean"] - 50.0) < 1e-9
    assert abs(stat(summary, "TPOT")["p90"] - 10.0) < 1e-9
    assert abs(stat(summary, "schedule lag")["max"] - 2.0) < 1e-9
    writer.close()
    table = cli("inspect", str(path))
    assert table.returncode == 0
    for text in ("result", "calls per session", "TTFT", "schedule lag", "info.target"):
        assert text in table.stdout


def test_inspect_trace(tmp_path: Path) -> None:
    store = ContentStore()
    path = tmp_path / "t.arrows"
    with StreamWriter(path, Kind.TRACE) as writer:
        for i in range(4):
            store.add("system prompt")
            store.add(f"message {i}")
            writer.write(
                [
                    {
                        SESSION_ID: f"s{i % 2}",
                        CALL_INDEX: i // 2,
                        WORKLOAD: "w",
                        API: Api.ANTHROPIC_MESSAGES,
                        ENDPOINT: "/v1/messages",
                        STREAM: True,
                        T_REQUEST_START_NS: i * 10**9,
                        T_FIRST_TOKEN_NS: i * 10**9 + 3 * 10**8,
                        T_RESPONSE_END_NS: i * 10**9 + 5 * 10**8,
                        PARTIAL: False,
                        NEW_CONTENT: store.take_new(),
                    }
                ]
            )
    summary = inspect_json(path)
    assert summary["kind"] == "trace" and summary["sessions"] == 2 and summary["rows"] == 4
    assert summary["facts"]["content parts stored"] == 5
    assert abs(stat(summary, "time to first token")["mean"] - 0.3) < 1e-9
    # Session s0 calls start at 0 s and 2 s; the first ends at 0.5 s -> think 1.5 s.
    assert abs(stat(summary, "think time")["mean"] - 1.5) < 1e-9


def test_inspect_builtin_name_and_json_whole(tmp_path: Path) -> None:
    """A built-in profile's name is accepted (as replay takes it); --json keeps metadata
    values whole and typed: a long value uncut, None as null, counts as numbers."""
    proc = cli("inspect", "code-qa")
    assert proc.returncode == 0, proc.stderr
    assert "profile" in proc.stdout
    path = tmp_path / "r.arrows"
    long_value = "x" * 500
    info: dict[str, object] = {
        "target": "http://127.0.0.1:9",
        "note": long_value,
        "gpus": None,
        "n": 3,
    }
    with StreamWriter(path, Kind.RESULT, info) as writer:
        writer.write([])
    summary = inspect_json(path)
    facts = summary["facts"]
    assert facts["info.note"] == long_value
    assert facts["info.gpus"] is None and facts["info.n"] == 3
    assert facts["warmup requests"] == 0
    missing = cli("inspect", str(tmp_path / "nothing.arrow"))
    assert missing.returncode == 2 and "built-in" in missing.stderr
