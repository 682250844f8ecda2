"""Bad input gives one clear line on stderr (exit 2), never a traceback."""

from __future__ import annotations

import random
from pathlib import Path

from tests.profiles.conftest import assert_one_line_error, run_cli
from tests.profiles.tracegen import agent_session, words, write_trace


def test_trace_without_usage_when_usage_is_required(tmp_path: Path) -> None:
    rng = random.Random(1)
    sess = agent_session(
        rng, "x", "w", system=words(rng, 20), tools=[], task="hi", turns=2, t0_ns=10**18
    )
    sess.calls[1].no_usage = True
    trace = write_trace(tmp_path / "nousage.arrow", [sess])
    out = str(tmp_path / "o")
    proc = run_cli("profile", "derive", str(trace), "--out", out, "--require-usage", check=False)
    assert_one_line_error(proc, str(trace), "row 1", "no provider usage", "prompt_tokens")
    assert not (tmp_path / "o" / "w.arrow").exists()
    help_text = run_cli("profile", "derive", "--help", columns=200).stdout
    assert "--require-usage" in help_text and "instead of estimating" in help_text


def test_empty_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.arrow"
    empty.write_bytes(b"")
    proc = run_cli("profile", "derive", str(empty), "--out", str(tmp_path / "o"), check=False)
    assert_one_line_error(proc, str(empty), "empty")
    proc = run_cli("profile", "stats", str(empty), check=False)
    assert_one_line_error(proc, str(empty))
    jsonl = tmp_path / "empty.jsonl"
    jsonl.write_text("")
    proc = run_cli(
        "profile", "import", "trie", str(jsonl), "--out", str(tmp_path / "p.arrow"), check=False
    )
    assert_one_line_error(proc, str(jsonl))


def test_unknown_workload_names() -> None:
    assert_one_line_error(
        run_cli("profile", "show", "no-such-workload", check=False),
        "no-such-workload",
        "agentic-coding, code-qa, office-work",
    )
    assert_one_line_error(
        run_cli("profile", "stats", "no-such-workload", check=False), "no-such-workload", "built-in"
    )
    assert_one_line_error(
        run_cli("profile", "stats", "agentic-coding", "--reference", "nope", check=False),
        "--reference",
        "nope",
    )


def test_malformed_trie_line_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"num_turns": 1, "input_prompt_length": "many"}\n')
    proc = run_cli(
        "profile", "import", "trie", str(bad), "--out", str(tmp_path / "p.arrow"), check=False
    )
    assert_one_line_error(proc, f"{bad}:1")
