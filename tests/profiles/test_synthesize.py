"""`profile synthesize`: a model fitted to half the published agentic-coding traces draws
sessions whose marginals, correlations and final-context tail match the other half, and a
model fitted to a captured trace keeps its shared prefix."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from agentload.profiles import structure_stats as ss
from agentload.profiles.blocks import HashKey
from agentload.profiles.derive import DeriveConfig, derive
from agentload.profiles.load import load
from agentload.profiles.synthesize import synthesize
from agentload.traceformat import schema as s
from agentload.traceformat.io import read
from agentload.traceformat.prefix_cache import ideal_hit
from tests.profiles.conftest import run_cli
from tests.profiles.tracegen import agent_session, words, write_trace

# A smaller version of issue 18's acceptance (4,096 vs 4,096 there: KS 0.05, p99 10%,
# correlations 0.05, final-context p99 5%; benchmarks/synthesis.py): 2,048 sessions each,
# so wider: the final context's p99 rests on ~20 sessions, and the fitted half's own p99 is
# already 5% off the held-out half's at this size.
HALF = 2048
KS_MAX, P99_REL, CORR_ABS, CONTEXT_P99_REL = 0.06, 0.12, 0.06, 0.15
COMPARED = ss.MARGINALS[:-1]  # every marginal; the final context by its p99 below


def _halves(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = load("agentic-coding").frame
    ids = frame.filter(pl.col(s.CALL_INDEX) == 0)[s.SESSION_ID].to_list()
    random.Random(seed).shuffle(ids)
    fit_ids, held_ids = ids[:HALF], ids[HALF : 2 * HALF]
    return (
        frame.filter(pl.col(s.SESSION_ID).is_in(fit_ids)),
        frame.filter(pl.col(s.SESSION_ID).is_in(held_ids)),
    )


def test_synthesis_from_half_the_published_file_matches_the_other_half() -> None:
    fitted, held = _halves(18)
    synth, info = synthesize(fitted, None, HALF, seed=5)
    assert synth[s.SESSION_ID].n_unique() == HALF and info["sessions"] == HALF
    got, want = ss.marginals(synth), ss.marginals(held)
    for name in COMPARED:
        assert ss.ks_distance(got[name], want[name]) <= KS_MAX, name
        p99, ref = ss.quantile(got[name], 0.99), ss.quantile(want[name], 0.99)
        assert abs(p99 - ref) <= P99_REL * ref, (name, p99, ref)
    context, ref = ss.quantile(got["final context"], 0.99), ss.quantile(want["final context"], 0.99)
    assert abs(context - ref) <= CONTEXT_P99_REL * ref, (context, ref)
    top, ref_top = ss.quantile(got["final context"], 1.0), ss.quantile(want["final context"], 1.0)
    assert top <= 1.5 * ref_top, (top, ref_top)
    synth_corr, held_corr = ss.correlations(synth), ss.correlations(held)
    for name in ss.CORRELATIONS:
        a, b = synth_corr[name], held_corr[name]
        assert a is not None and b is not None and abs(a - b) <= CORR_ABS, (name, a, b)


def _captured_profile(tmp_path: Path) -> Path:
    """50 sessions as capture records them: two agents (system prompt + tools each, 40 and
    10 sessions), a task of their own and 2-9 tool turns each; derived with 64-token blocks."""
    rng = random.Random(50)
    tool = {"type": "function", "function": {"name": "t", "description": words(rng, 200)}}
    agents = [(words(rng, 700), [tool]), (words(rng, 500), [])]
    sessions = []
    for k in range(50):
        system, tools = agents[k % 5 == 0]
        task = words(rng, rng.randint(20, 200))
        start = 10**18 + k * 10**9
        sessions.append(
            agent_session(
                rng,
                f"sess-{k}",
                "coding",
                system=system,
                tools=tools,
                task=task,
                turns=rng.randint(2, 9),
                t0_ns=start,
            )
        )
    trace = write_trace(tmp_path / "t.arrow", sessions)
    key = HashKey.random()
    (written,) = derive(DeriveConfig((trace,), tmp_path / "profiles", key, 64))
    return written.path


def test_synthesis_from_a_captured_trace_keeps_its_shared_prefix(tmp_path: Path) -> None:
    source = read(_captured_profile(tmp_path), s.Kind.PROFILE)
    assert source.frame[s.SESSION_ID].n_unique() == 50
    synth, info = synthesize(source.frame, 64, 400, seed=1)
    assert info["shared_prefixes"] == 2
    want, got = ideal_hit(source.frame, 64), ideal_hit(synth, 64)
    assert want is not None and got is not None
    assert abs(got - want) <= 0.02, (got, want)


def test_cli_writes_a_profile_and_refuses_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "synth.arrow"
    proc = run_cli("profile", "synthesize", str(_captured_profile(tmp_path)), "--sessions", "30",
                   "--seed", "3", "--out", str(out), columns=300)  # fmt: skip
    assert "30 sessions" in proc.stdout
    written = read(out, s.Kind.PROFILE)
    assert written.info["source"] == "synthesize" and written.info["seed"] == 3
    assert written.metadata[s.META_BLOCK_SIZE.decode()] == "64"
    bad = run_cli("profile", "synthesize", "agentic-coding", "--sessions", "0", "--out",
                  str(tmp_path / "x.arrow"), check=False)  # fmt: skip
    assert bad.returncode == 2 and "--sessions" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("turns", [0])
def test_a_source_without_tool_turns_is_refused(turns: int) -> None:
    frame = load("agentic-coding").frame.filter(pl.col(s.CALL_INDEX) == turns)
    with pytest.raises(Exception, match="no root session with a tool turn"):
        synthesize(frame, None, 10, seed=0)
