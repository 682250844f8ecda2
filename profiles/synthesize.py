"""`agentload profile synthesize`: N new sessions drawn from a model fitted to a profile or
trace (`profiles.session_model`), with the source's prefix-sharing structure.

Prefix sharing: a source session's shared prefix is the leading run of its first call's
blocks that other sessions' first calls hold too (hash ids are chained, so an id shared at
a position means the whole prefix before it is shared). Each new session takes the shared
prefix of a source session drawn at random (so groups keep their frequencies: one system
prompt for all, or several), cut to its own starting prompt; its other blocks are fresh
ids in a namespace of its own, and each call's prompt extends the previous one (history
blocks keep their ids). A source without hash_ids gives a profile without them.
Arrivals: the source's gaps between root arrivals, resampled (all at 0 stays all at 0).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass, replace
from statistics import NormalDist

import polars as pl

from agentload.base.errors import ConfigError
from agentload.profiles.generate import id_namespace
from agentload.profiles.session_model import (
    QUANTITIES,
    SessionModel,
    cholesky,
    fit,
    index_of,
    sessions_frame,
)
from agentload.profiles.structure_stats import session_correlations
from agentload.traceformat import limits
from agentload.traceformat import schema as s
from agentload.traceformat.foreign.trie import as_profile_frame

_N = NormalDist()


@dataclass(frozen=True)
class Drawn:
    turns: list[int]
    start: list[int]
    final: list[int]
    per_turn: dict[str, list[list[float]]]  # quantity -> session -> values by turn


def _pick[T](sorted_values: list[T], u: float) -> T:
    return sorted_values[min(int(u * len(sorted_values)), len(sorted_values) - 1)]


def _mvn(rng: random.Random, low: list[list[float]]) -> list[float]:
    e = [rng.gauss(0.0, 1.0) for _ in low]
    return [sum(row[k] * e[k] for k in range(i + 1)) for i, row in enumerate(low)]


def _scores(
    model: SessionModel, rng: random.Random, n: int
) -> tuple[Drawn, dict[str, list[list[float]]]]:
    """Session-level values and per-turn normal scores (not yet mapped)."""
    low_c = cholesky(model.copula)
    low_e, low_r = cholesky(model.innovation), cholesky(model.residual)
    drawn = Drawn([], [], [], {q: [] for q in QUANTITIES})
    devs: dict[str, list[tuple[int, float, list[float]]]] = {q: [] for q in QUANTITIES}
    for _ in range(n):
        g = _mvn(rng, low_c)
        turns = _pick(model.turns, _N.cdf(g[0]))
        drawn.turns.append(turns)
        drawn.start.append(_pick(model.start, _N.cdf(g[1])))
        drawn.final.append(_pick(model.final, _N.cdf(g[2])))
        stratum = index_of(model.strata, _pick(model.strata_turns or model.turns, _N.cdf(g[0])))
        level = {
            q: _pick(model.means[q][stratum], _N.cdf(g[3 + i])) for i, q in enumerate(QUANTITIES)
        }
        rows: dict[str, list[float]] = {q: [] for q in QUANTITIES}
        r = _mvn(rng, low_r)
        for t in range(turns):
            if t:
                e = _mvn(rng, low_e)
                r = [model.ar[q] * r[i] + e[i] for i, q in enumerate(QUANTITIES)]
            for i, q in enumerate(QUANTITIES):
                rows[q].append(r[i])
        for q in QUANTITIES:
            centre = sum(rows[q]) / turns if turns else 0.0
            devs[q].append((stratum, level[q], [x - centre for x in rows[q]]))
    z = {q: _scaled(devs[q], model.spread[q]) for q in QUANTITIES}
    return drawn, z


def _scaled(devs: list[tuple[int, float, list[float]]], spread: list[float]) -> list[list[float]]:
    """Session mean + deviations, the deviations of each stratum scaled to the source's
    spread there (short sessions vary more around their mean than long ones)."""
    sums: dict[int, list[float]] = {}
    for stratum, _, row in devs:
        acc = sums.setdefault(stratum, [0.0, 0.0])
        acc[0] += sum(x * x for x in row)
        acc[1] += len(row)
    factor = {
        k: spread[k] / (ss / (n - 1)) ** 0.5 if n > 1 and ss > 0 else 1.0
        for k, (ss, n) in sums.items()
    }
    return [[level + factor[k] * x for x in row] for k, level, row in devs]


def draw(model: SessionModel, n: int, seed: int) -> Drawn:
    """n sessions: scores drawn, then mapped by rank inside each turn-index bin to the
    source's values of that bin."""
    drawn, z = _scores(model, random.Random(seed), n)
    for q in QUANTITIES:
        cells: dict[int, list[tuple[float, int, int]]] = {}
        for k, row in enumerate(z[q]):
            for t, value in enumerate(row):
                cells.setdefault(index_of(model.bin_edges, t), []).append((value, k, t))
        out = [[0.0] * len(row) for row in z[q]]
        for b, items in cells.items():
            source = model.per_turn[q][b]
            items.sort()
            for rank, (_, k, t) in enumerate(items):
                out[k][t] = source[
                    min(int((rank + 0.5) / len(items) * len(source)), len(source) - 1)
                ]
        drawn.per_turn[q].extend(out)
    return drawn


def shared_prefixes(profile: pl.DataFrame) -> list[tuple[int, ...]]:
    """Each root session's shared prefix (module doc), in file order; [] without hash_ids."""
    if s.HASH_IDS not in profile.columns or profile[s.HASH_IDS].null_count() == profile.height:
        return []
    firsts = profile.filter(pl.col(s.PARENT_SESSION_ID).is_null() & (pl.col(s.CALL_INDEX) == 0))[
        s.HASH_IDS
    ].to_list()
    held = Counter(h for ids in firsts for h in set(ids or ()))
    out = []
    for ids in firsts:
        k = 0
        while ids and k < len(ids) and held[ids[k]] > 1:
            k += 1
        out.append(tuple((ids or [])[:k]))
    return out


def _arrivals(profile: pl.DataFrame, n: int, rng: random.Random) -> list[float]:
    starts = sorted(profile.filter(pl.col(s.CALL_INDEX) == 0)[s.ARRIVAL_S].to_list())
    gaps = [b - a for a, b in itertools.pairwise(starts)] or [0.0]
    out, now = [], 0.0
    for _ in range(n):
        out.append(round(now, 3))
        now += rng.choice(gaps)
    return out


class BlockChain:
    """Hash ids of prompts that grow by appending: each session's full blocks keep their ids
    as its prompt grows, starting with a given prefix; every other block (the trailing
    partial one of each prompt included) gets a fresh id from `next_id` upwards."""

    def __init__(self, next_id: int, block_size: int) -> None:
        self.next_id = next_id
        self.block_size = block_size
        self.full: list[int] = []

    def start(self, prefix: list[int], tokens: int) -> None:
        self.full = prefix[: tokens // self.block_size]

    def ids(self, tokens: int) -> list[int]:
        while len(self.full) < tokens // self.block_size:
            self.full.append(self._fresh())
        return self.full + ([self._fresh()] if tokens % self.block_size else [])

    def _fresh(self) -> int:
        self.next_id += 1
        return self.next_id


def build(
    profile: pl.DataFrame, block_size: int | None, model: SessionModel, n: int, seed: int
) -> pl.DataFrame:
    """The PROFILE frame of n synthesized sessions."""
    drawn = draw(model, n, seed)
    rng = random.Random(seed + 1)
    prefixes = shared_prefixes(profile) if block_size else []
    arrivals = _arrivals(profile, n, rng)
    label = str(profile[s.WORKLOAD].mode().sort()[0])
    chain = BlockChain(id_namespace(f"synthesized {label} {seed}"), block_size or 1)
    rows: list[dict[str, object]] = []
    for k in range(n):
        chain.start(list(rng.choice(prefixes)) if prefixes else [], drawn.start[k])
        prompt, new, think = drawn.start[k], drawn.start[k], 0.0
        turns = drawn.turns[k]
        for i in range(turns + 1):
            out = int(drawn.per_turn["assistant"][k][i]) if i < turns else drawn.final[k]
            rows.append(
                {
                    s.SESSION_ID: f"synth-{k:05d}",
                    s.CALL_INDEX: i,
                    s.ARRIVAL_S: arrivals[k],
                    s.THINK_S: think,
                    s.INPUT_TOKENS: prompt,
                    s.NEW_INPUT_TOKENS: new,
                    s.OUTPUT_TOKENS: out,
                    s.HASH_IDS: chain.ids(prompt) if block_size else None,
                }
            )
            if i < turns:
                new = out + int(drawn.per_turn["tool_output"][k][i])
                prompt += new
                think = float(drawn.per_turn["latency"][k][i])
    frame = pl.DataFrame(rows, schema_overrides={s.HASH_IDS: pl.List(pl.Int64)})
    return as_profile_frame(frame.with_columns(pl.lit(label).alias(s.WORKLOAD)))


# Calibration (simulated moments): the Gaussian structure's parameters are nudged until a
# pilot draw shows the source's Spearman correlations; ranks mapped through skewed, tied
# marginals and session means taken over few turns weaken them otherwise (by 0.03-0.06 on
# the 8k file). (statistic, how to move the model) pairs, see `_nudge`.
_PILOT_SESSIONS = 2000
_ROUNDS = 3


def drawn_frame(drawn: Drawn) -> pl.DataFrame:
    """A `session_model.sessions_frame`-shaped frame of drawn sessions."""
    lists = pl.List(pl.Float64)
    return pl.DataFrame(
        {
            "session": range(len(drawn.turns)),
            "turns": drawn.turns,
            "start": drawn.start,
            "final": drawn.final,
            **{q: pl.Series(q, drawn.per_turn[q], dtype=lists) for q in QUANTITIES},
        }
    )


def calibrate(model: SessionModel, target: dict[str, float | None], seed: int) -> SessionModel:
    """`model` with its copula, AR and innovation parameters moved so that a pilot draw
    shows the `target` correlations (`structure_stats.correlations` of the source)."""
    for round_ in range(_ROUNDS):
        pilot = session_correlations(
            drawn_frame(draw(model, _PILOT_SESSIONS, seed + 7919 * (round_ + 1)))
        )
        model = _nudge(model, target, pilot)
    return model


def _nudge(
    model: SessionModel, target: dict[str, float | None], pilot: dict[str, float | None]
) -> SessionModel:
    def gap(name: str) -> float:
        want, got = target.get(name), pilot.get(name)
        return 0.0 if want is None or got is None else want - got

    copula = [row[:] for row in model.copula]
    _move(copula, 0, 2, gap("turns vs final answer"))
    _move(copula, 0, 4, gap("turns vs mean tool output"))
    innovation = [row[:] for row in model.innovation]
    residual = [row[:] for row in model.residual]
    for (i, j), name in (
        ((1, 2), "tool output vs tool latency"),
        ((0, 2), "assistant tokens vs tool latency"),
    ):
        for matrix in (innovation, residual):
            _move_cov(matrix, i, j, gap(name))
    ar = dict(model.ar)
    ar["latency"] = max(-0.95, min(0.95, ar["latency"] + gap("tool latency vs the previous one")))
    return replace(model, copula=copula, innovation=innovation, residual=residual, ar=ar)


def _move(matrix: list[list[float]], i: int, j: int, delta: float) -> None:
    value = max(-0.95, min(0.95, matrix[i][j] + delta))
    matrix[i][j] = matrix[j][i] = value


def _move_cov(matrix: list[list[float]], i: int, j: int, delta: float) -> None:
    scale = (matrix[i][i] * matrix[j][j]) ** 0.5
    if scale > 0:
        _move(matrix, i, j, 0.0)  # symmetric
        value = max(-0.95, min(0.95, matrix[i][j] / scale + delta)) * scale
        matrix[i][j] = matrix[j][i] = value


def synthesize(
    profile: pl.DataFrame, block_size: int | None, sessions: int, seed: int
) -> tuple[pl.DataFrame, dict[str, object]]:
    """`sessions` new sessions modelled on `profile`'s root sessions, and the info to
    write with them (what was fitted and the source's correlations)."""
    limits.check_count("--sessions", sessions, 1, limits.MAX_SESSIONS)
    roots = profile.filter(pl.col(s.PARENT_SESSION_ID).is_null())
    if roots.filter(pl.col(s.CALL_INDEX) > 0).is_empty():
        raise ConfigError("the source has no root session with a tool turn: nothing to fit")
    target = session_correlations(sessions_frame(profile))
    model = calibrate(fit(profile), target, seed)
    frame = build(profile, block_size, model, sessions, seed)
    info: dict[str, object] = {
        "source": "synthesize",
        "model": "agentload.profiles.session_model (docs/profiles.md, Synthesized profiles)",
        "seed": seed,
        "sessions": sessions,
        "source_correlations": target,
        "shared_prefixes": len(set(shared_prefixes(profile))) if block_size else 0,
    }
    return frame, info
