"""Cache isolation: each run salts its synthetic token blocks, so sharing inside a run is the
profile's and two runs on one engine never hit each other's prefix cache (the real sim)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from agentload.orchestration.sweep import SweepConfig
from agentload.replay.config import ApiChoice, ReplayConfig
from agentload.replay.materialize import Materializer, salt_of
from agentload.replay.plan import CallPlan
from agentload.replay.targets import CAPABILITIES, TargetKind
from agentload.replay.tracesource import restyled
from agentload.traceformat import schema as S
from agentload.traceformat.io import Loaded
from tests.replay.conftest import replay
from tests.replay.traces import write_trace
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim
from tests.values import dig, number

TOLERANCE = 0.02  # "within 2 points"


def _hits(result: Loaded) -> tuple[float, float]:
    """(observed, theoretical) cache hit over the same rows: the successful ones."""
    ok = result.frame.filter(pl.col(S.STATUS) == "ok")
    prompt = number(ok[S.PROMPT_TOKENS].sum())
    observed, expected = (number(ok[c].sum()) for c in (S.CACHED_TOKENS, S.EXPECTED_CACHED_TOKENS))
    return observed / prompt, expected / prompt


def _prompt(mat: Materializer, ids: tuple[int, ...], n: int) -> list[int]:
    body = json.loads(mat.body("s", CallPlan(0, 0.0, n, 1, ids, final=True), ids))
    return list(body["prompt"])


def _shared(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def test_salt_keeps_sharing_inside_a_run_and_none_across() -> None:
    one = Materializer(ApiChoice.COMPLETIONS, "m", block_size=16, salt=salt_of("run-a"))
    two = Materializer(ApiChoice.COMPLETIONS, "m", block_size=16, salt=salt_of("run-b"))
    first, second = (1, 2, 3, 4), (1, 2, 9, 8)  # two blocks in common
    for mat in (one, two):
        assert _shared(_prompt(mat, first, 64), _prompt(mat, second, 64)) == 32
    assert _prompt(one, first, 64)[:16] != _prompt(two, first, 64)[:16]
    text_a = Materializer(ApiChoice.CHAT, "m", salt=salt_of("run-a")).text([1, 2], 32)
    text_b = Materializer(ApiChoice.CHAT, "m", salt=salt_of("run-b")).text([1, 2], 32)
    assert text_a != text_b


def test_two_replays_hit_the_cache_alike(tmp_path: Path) -> None:
    """Acceptance: two consecutive replays of one profile on one sim hit the prefix cache
    within 2 points of each other and of the theoretical hit; the same pinned salt twice
    (what every run did before salting) makes the second run hit far more, unless
    --reset-cache empties the cache first."""
    profile = tmp_path / "p.arrow"
    write_profile(profile, Shape())
    with running_sim("--preset", "fast", "--block-size", "16") as sim:
        runs = [replay(profile, sim.url, tmp_path / f"r{i}.arrow") for i in range(2)]
        pinned = [
            replay(profile, sim.url, tmp_path / f"p{i}.arrow", cache_salt="same") for i in range(2)
        ]
        reset = replay(
            profile, sim.url, tmp_path / "reset.arrow", cache_salt="same", reset_cache=True
        )
    (obs1, theo1), (obs2, theo2) = (_hits(r) for r in runs)
    assert theo1 == theo2 and theo1 > 0.3  # the profile shares a system prompt and history
    assert abs(obs1 - obs2) <= TOLERANCE, (obs1, obs2)
    assert abs(obs1 - theo1) <= TOLERANCE and abs(obs2 - theo2) <= TOLERANCE, (obs1, obs2, theo1)
    assert runs[0].info["cache_salt"] != runs[1].info["cache_salt"]
    repeat, theo = _hits(pinned[1])
    assert repeat > theo + 0.1, (repeat, theo)  # the second run found the first one's blocks
    assert pinned[1].info["cache_salt"] == "same" and pinned[1].info["cache_salt_pinned"]
    after_reset, theo = _hits(reset)
    assert abs(after_reset - theo) <= TOLERANCE, (after_reset, theo)
    notes = dig(reset.info, "preflight", "notes")
    assert "prefix cache reset (POST /reset_prefix_cache)" in notes


def test_sweep_points_get_their_own_salt(tmp_path: Path) -> None:
    base = ReplayConfig(tmp_path / "p", "http://127.0.0.1:9", "m", tmp_path / "o",
                        cache_salt="pin")  # fmt: skip
    sweep = SweepConfig(base=base, out_dir=tmp_path, concurrencies=(4, 16))
    assert [c.cache_salt for _, c in sweep.points()] == ["pin/c4", "pin/c16"]
    unpinned = SweepConfig(base=ReplayConfig(tmp_path / "p", "http://127.0.0.1:9", "m",
                                             tmp_path / "o"), out_dir=tmp_path,
                           concurrencies=(4,))  # fmt: skip
    assert [c.cache_salt for _, c in unpinned.points()] == [None]  # a fresh run id each


def test_verbatim_bodies_carry_cache_salt_where_taken(tmp_path: Path) -> None:
    from agentload.replay.source import load_plan

    write_trace(tmp_path / "t.arrow")
    plan = load_plan(tmp_path / "t.arrow", "m")
    vllm = restyled(plan, CAPABILITIES[TargetKind.VLLM].style("run-9"))
    bodies = [json.loads(c.body or b"{}") for s in vllm.all_sessions() for c in s.calls]
    assert bodies and all(b["cache_salt"] == "run-9" for b in bodies)
    llama = restyled(plan, CAPABILITIES[TargetKind.LLAMACPP].style("run-9"))
    assert llama is plan  # nothing to respell: llama-server takes no cache_salt


def test_verbatim_run_recommends_reset(tmp_path: Path) -> None:
    write_trace(tmp_path / "t.arrow")
    with running_sim("--preset", "fast") as sim:
        result = replay(tmp_path / "t.arrow", sim.url, tmp_path / "o.arrow")
    notes = dig(result.info, "preflight", "notes")
    assert any("cannot be salted" in n and "--reset-cache" in n for n in notes), notes
