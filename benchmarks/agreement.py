"""Agreement: the agentic-coding sample replayed in closed loop by trie and by agentload at
the same concurrency against the `default` sim, with the sim's timing log as the referee.

    .venv/bin/python -m benchmarks.agreement [--quick]

Both clients get the same trie JSONL (the 64-row public sample, tool latencies multiplied by
`think_scale` so a run fits in a few minutes) and the same concurrency and duration, each
against a fresh sim (empty prefix cache) with its own timing log. Figures per run:

* steady-state completion tokens/s — each client's own figure (trie: its workload
  accounting, two-point slope from 20% of the run to the end; agentload: OLS slope of
  cumulative completion tokens after the first 20% of the window) and the referee's,
  computed from the sim's log exactly as agentload does (requests' completion tokens at
  their end time, window = first arrival to last end, first 20% dropped, OLS slope);
* TTFT p50 — trie only reports the first call of each completed trace, so both that and
  the all-request p50 are shown; the referee's first calls are those with no cached token;
* cache hit — Σ cached / Σ prompt (server usage), and trie's mean-over-traces.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from agentload.simengine import timinglog as tl
from agentload.traceformat import schema as S
from agentload.traceformat.distribution import quantile
from benchmarks.capacity import client_run
from benchmarks.common import BIN, MODEL, ROOT, ols_slope, running_sim
from benchmarks.peers import trie
from benchmarks.peers.simtok import ensure_tokenizer
from benchmarks.peers.venvs import PeerEnv, ensure

SAMPLE = ROOT / "tests" / "data" / "trie_agentic_coding_sample64.jsonl"  # shipped with the repo
WARM_FRACTION = 0.2
TOLERANCE = 0.05
ESTIMATOR_MATCH = 0.01  # trie's figure "is" its estimator on the sim's log within this
CONTROL_STEP_MS = 15.0


@dataclass(frozen=True)
class AgreementConfig:
    concurrency: int = 16
    duration_s: float = 150.0
    think_scale: float = 0.5
    # control pair against a sim whose every step lasts CONTROL_STEP_MS (0 = skip): the
    # engine's pace then no longer depends on what the clients' prompts cost it
    control_duration_s: float = 60.0
    sample: Path = SAMPLE

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.duration_s <= 0 or self.think_scale < 0:
            raise ValueError("concurrency >= 1, duration > 0 and think_scale >= 0 required")


@dataclass(frozen=True)
class Variant:
    name: str
    sim_args: tuple[str, ...]
    duration_s: float


@dataclass
class Side:
    client: str
    version: str
    variant: str = "default"
    command: str = ""
    steady_tps: float | None = None
    ttft_first_p50_ms: float | None = None
    ttft_p50_ms: float | None = None
    cache_hit: float | None = None
    cache_hit_trace_mean: float | None = None
    requests: int | None = None
    first_calls: int | None = None  # how many calls the "first calls" TTFT p50 is over
    client_cores: float | None = None  # client process tree CPU / wall time
    sim_cores: float | None = None  # the sim's CPU / wall time over the same run
    referee: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def scaled_workload(src: Path, dst: Path, scale: float) -> None:
    """The trie JSONL with every tool latency multiplied by `scale` (other fields kept)."""
    lines = []
    for line in src.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            row["tool_call_latency"] = [round(x * scale, 6) for x in row["tool_call_latency"]]
            lines.append(json.dumps(row))
    dst.write_text("\n".join(lines) + "\n")


def referee(log: Path) -> dict[str, Any]:
    """The sim's view of one run: steady-state completion tokens/s (agentload's
    definition), TTFT p50 (all requests, first calls), Σcached/Σprompt, request count."""
    f = pl.read_ipc(log).filter(pl.col(tl.ENDPOINT) == "/v1/completions")
    ok = f.filter((pl.col(tl.STATUS) == 200) & pl.col(tl.FIRST_TOKEN_NS).is_not_null())
    t0, t1 = int(f[tl.ARRIVAL_NS].min()), int(f[tl.END_NS].max())  # type: ignore[arg-type]
    cut = t0 + WARM_FRACTION * (t1 - t0)
    steady = ok.filter(pl.col(tl.END_NS) >= cut).sort(tl.END_NS)
    t = ((steady[tl.END_NS] - t0) / 1e9).to_list()
    cum = steady[tl.COMPLETION_TOKENS].cum_sum().to_list()
    ttft = ((ok[tl.FIRST_TOKEN_NS] - ok[tl.ARRIVAL_NS]) / 1e6).to_list()
    first = ok.filter(pl.col(tl.CACHED_TOKENS) == 0)
    ttft_first = ((first[tl.FIRST_TOKEN_NS] - first[tl.ARRIVAL_NS]) / 1e6).to_list()
    prompt = int(ok[tl.PROMPT_TOKENS].sum())
    span_s = (t1 - cut) / 1e9
    decoding = steady.filter(pl.col(tl.COMPLETION_TOKENS) > 1)
    itl = (decoding[tl.END_NS] - decoding[tl.FIRST_TOKEN_NS]) / (decoding[tl.COMPLETION_TOKENS] - 1)
    uncached = int((steady[tl.PROMPT_TOKENS] - steady[tl.CACHED_TOKENS]).sum())
    return {
        # engine work in the steady window, the evidence when clients' figures differ
        "uncached_tps": uncached / span_s if span_s > 0 else None,
        "itl_mean_ms": float(itl.mean()) / 1e6 if itl.len() else None,  # type: ignore[arg-type]
        "steady_tps": ols_slope(t, cum),
        "steady_tps_two_point": two_point(ok, t0),
        "ttft_p50_ms": quantile(ttft, 0.5),
        "ttft_first_p50_ms": quantile(ttft_first, 0.5),
        "first_calls": first.height,
        "cache_hit": int(ok[tl.CACHED_TOKENS].sum()) / prompt if prompt else None,
        "requests": f.height,
        "window_s": (t1 - t0) / 1e9,
    }


def two_point(ok: pl.DataFrame, t0: int) -> float | None:
    """trie's estimator on the sim's data: points (end, cumulative tokens) of finished
    requests; from the first point at or after 20% of the last point's time to the last."""
    rows = ok.sort(tl.END_NS)
    t: list[float] = ((rows[tl.END_NS] - t0) / 1e9).to_list()
    cum: list[int] = rows[tl.COMPLETION_TOKENS].cum_sum().to_list()
    if len(t) < 2:
        return None
    start = next(i for i, x in enumerate(t) if x >= WARM_FRACTION * t[-1])
    if start >= len(t) - 1 or t[-1] == t[start]:
        return None
    return (cum[-1] - cum[start]) / (t[-1] - t[start])


def run_trie(
    env: PeerEnv, tok: Path, workload: Path, cfg: AgreementConfig, var: Variant, work: Path
) -> Side:
    side = Side("trie", env.version, var.name)
    log = work / f"trie-{var.name}-sim.arrow"
    with running_sim("default", log, *var.sim_args) as sim:
        argv = trie.argv(env, tok, sim.url, workload, cfg.concurrency, var.duration_s)
        run = client_run(argv, work / f"trie-{var.name}", var.duration_s)
    side.command = run.command
    side.client_cores = run.cpu.cores(run.start_ns, run.end_ns)
    side.sim_cores = sim.cpu.cores(run.start_ns, run.end_ns) if sim.cpu else None
    figures = trie.summary(run)
    if run.returncode != 0 or not figures:
        side.error = run.error_line()
        return side
    side.steady_tps = figures.get("steady_state_completion_tok_per_s")
    side.ttft_first_p50_ms = _ms(figures.get("ttft_s_p50"))
    side.cache_hit_trace_mean = _pct(figures.get("cache_hit_rate_pct_mean"))
    side.requests = None  # trie counts traces, not requests
    # its TTFT is over the first call of each trace it *completed* within the run
    done = figures.get("completed_requests")
    side.first_calls = None if done is None else int(done)
    side.referee = referee(log)
    return side


def run_agentload(workload: Path, cfg: AgreementConfig, var: Variant, work: Path) -> Side:
    from benchmarks.common import git_revision

    side = Side("agentload", git_revision(), var.name)
    log = work / f"agentload-{var.name}-sim.arrow"
    out = work / f"agentload-{var.name}" / "result.arrow"
    with running_sim("default", log, *var.sim_args) as sim:
        argv = [str(BIN / "agentload"), "replay", str(workload), "--target", sim.url]
        argv += ["--model", MODEL, "--api", "completions", "--concurrency", str(cfg.concurrency)]
        argv += ["--duration", f"{var.duration_s:g}", "--no-drain", "--seed", "1", "--quiet"]
        argv += ["--out", str(out)]
        run = client_run(argv, out.parent, var.duration_s)
    side.command = run.command
    side.client_cores = run.cpu.cores(run.start_ns, run.end_ns)
    side.sim_cores = sim.cpu.cores(run.start_ns, run.end_ns) if sim.cpu else None
    if run.returncode != 0 or not out.exists():
        side.error = run.error_line()
        return side
    for name, value in result_figures(out).items():
        setattr(side, name, value)
    side.referee = referee(log)
    return side


def result_figures(out: Path) -> dict[str, Any]:
    """agentload's own figures from its result file, by the field names Side (and
    vllm_agreement's Run) keep them under."""
    from agentload.analysis.run_analysis import analyze, load

    analysis = analyze(load(out))
    summary = analysis.summary
    first = analysis.requests.filter(pl.col(S.CALL_INDEX) == 0)["ttft_ms"].drop_nulls()
    return {
        "steady_tps": summary["throughput"]["completion_tps_steady"],
        "ttft_p50_ms": summary["latency"]["ttft_ms"]["p50"],
        "ttft_first_p50_ms": float(first.median()) if first.len() else None,  # type: ignore[arg-type]
        "first_calls": first.len(),
        "cache_hit": summary["cache"]["cache_hit_rate"],
        "requests": summary["requests"]["ok"],
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _pct(pct: float | None) -> float | None:
    return None if pct is None else pct / 100


def variants(cfg: AgreementConfig) -> list[Variant]:
    out = [Variant("default", (), cfg.duration_s)]
    if cfg.control_duration_s > 0:
        step = ("--token-interval-ms", f"{CONTROL_STEP_MS:g}")
        out.append(Variant(f"fixed-step-{CONTROL_STEP_MS:g}ms", step, cfg.control_duration_s))
    return out


def run(cfg: AgreementConfig, work: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    workload = work / "workload.jsonl"
    scaled_workload(cfg.sample, workload, cfg.think_scale)
    env = ensure("tokenspeed-trie")
    tok = ensure_tokenizer(env.python) if env.ok else None
    sides: list[Side] = []
    for var in variants(cfg):
        if tok is None:
            error = f"install failed: {env.error}"
            sides.append(Side("trie", env.version, var.name, error=error))
        else:
            sides.append(run_trie(env, tok, workload, cfg, var, work))
        sides.append(run_agentload(workload, cfg, var, work))
    result = {
        "config": {
            **asdict(cfg),
            "sample": str(
                cfg.sample.relative_to(ROOT) if cfg.sample.is_relative_to(ROOT) else cfg.sample
            ),
            "control_step_ms": CONTROL_STEP_MS,
        },
        "sides": [asdict(s) for s in sides],
        "checks": {
            v.name: checks([s for s in sides if s.variant == v.name]) for v in variants(cfg)
        },
    }
    result["explanation"] = explain(result)
    return result


def rel(a: float | None, b: float | None) -> float | None:
    """(a - b) / b, None when either is missing."""
    return None if a is None or b is None or b == 0 else (a - b) / b


def checks(sides: list[Side]) -> dict[str, float | None]:
    """Relative differences of steady-state tokens/s that the acceptance bounds (5%)."""
    by = {s.client: s for s in sides}
    al, tr = by.get("agentload"), by.get("trie")
    out: dict[str, float | None] = {}
    if al is not None:
        out["agentload_vs_sim_log"] = rel(al.steady_tps, al.referee.get("steady_tps"))
    if tr is not None:
        out["trie_vs_sim_log"] = rel(tr.steady_tps, tr.referee.get("steady_tps"))
    if al is not None and tr is not None:
        out["agentload_vs_trie"] = rel(al.steady_tps, tr.steady_tps)
        out["sim_log_of_agentload_run_vs_sim_log_of_trie_run"] = rel(
            al.referee.get("steady_tps"), tr.referee.get("steady_tps")
        )
    return out


def explain(result: dict[str, Any]) -> str:
    """Plain-language reading of the figures, computed from them: which differences exceed
    5%, and how much of the clients' difference the estimators and the runs account for.
    A conclusion is printed only when the figures support it."""
    lines: list[str] = []
    step_ms = result.get("config", {}).get("control_step_ms")
    for variant, chk in result["checks"].items():
        over = {k: v for k, v in chk.items() if v is not None and abs(v) > TOLERANCE}
        if not over:
            lines.append(f"- `{variant}`: every steady-state difference is within 5%.")
        else:
            text = ", ".join(f"{k.replace('_', ' ')} {v:+.1%}" for k, v in over.items())
            lines.append(f"- `{variant}`: over 5%: {text}.")
        sides = {s["client"]: s for s in result["sides"] if s["variant"] == variant}
        nominal = step_ms if variant != "default" else None
        lines += ["  " + x for x in reading(sides.get("trie"), sides.get("agentload"), nominal)]
    return "\n".join(lines)


def _r(side: dict[str, Any] | None, key: str) -> float | None:
    value = ((side or {}).get("referee") or {}).get(key)
    return None if value is None else float(value)


def reading(
    tr: dict[str, Any] | None, al: dict[str, Any] | None, nominal_step_ms: float | None
) -> list[str]:
    """Sentences for one variant: trie's figure against its own estimator applied to the
    sim's log; agentload's figure against its log; the two runs compared with one estimator
    at a time; the clients' ratio factored into those parts."""
    out: list[str] = []
    t, rt, et = (tr or {}).get("steady_tps"), _r(tr, "steady_tps"), _r(tr, "steady_tps_two_point")
    a, ra, ea = (al or {}).get("steady_tps"), _r(al, "steady_tps"), _r(al, "steady_tps_two_point")
    d_est, d_ref = rel(t, et), rel(t, rt)
    if t is not None and et is not None and rt is not None and d_est is not None:
        out.append(
            f"trie reports {t:,.1f} tokens/s: {d_est:+.1%} from its own two-point estimator "
            f"applied to the sim's log of its run ({et:,.1f}), {d_ref:+.1%} from the "
            f"least-squares slope of the same log ({rt:,.1f})."
        )
        if abs(d_est) <= ESTIMATOR_MATCH < abs(d_ref or 0.0):
            out.append(
                f"trie's figure is its estimator on what the sim logged (within "
                f"{ESTIMATOR_MATCH:.0%}); its {d_ref:+.1%} from the least-squares referee is "
                "the difference between the two estimators on the same data."
            )
        elif abs(d_est) > ESTIMATOR_MATCH:
            out.append(
                "trie's figure is not reproduced by its estimator on the sim's log; this run "
                "does not show where that difference comes from."
            )
    if a is not None and ra is not None:
        out.append(
            f"agentload reports {a:,.1f} tokens/s, the least-squares slope of the sim's log of "
            f"its run {ra:,.1f} ({rel(a, ra):+.2%})."
        )
    d_ls, d_2p = rel(ra, rt), rel(ea, et)
    if d_ls is not None and d_2p is not None:
        out.append(
            f"The two runs, one estimator at a time on the sim's logs (agentload's run vs "
            f"trie's): least squares {ra:,.1f} vs {rt:,.1f} ({d_ls:+.1%}), two-point "
            f"{ea:,.1f} vs {et:,.1f} ({d_2p:+.1%})."
        )
    parts = [rel(a, ra), d_ls, rel(rt, et), rel(et, t)]
    total = rel(a, t)
    if total is not None and all(p is not None for p in parts):
        names = [
            "agentload vs its log",
            "the runs (least squares on both logs)",
            "the estimators on trie's log (least squares vs two-point)",
            "trie's estimator on its log vs trie",
        ]
        terms = ", ".join(f"{n} {p:+.1%}" for n, p in zip(names, parts, strict=True))
        out.append(f"agentload vs trie {total:+.1%} factors (as ratios) into: {terms}.")
        runs_agree = abs(d_ls or 0.0) <= TOLERANCE and abs(d_2p or 0.0) <= TOLERANCE
        estimators = abs(parts[2] or 0.0)
        if abs(total) > TOLERANCE and runs_agree and estimators > abs(d_ls or 0.0):
            out.append(
                "The runs agree within 5% under either estimator and the estimators' factor is "
                "the largest, so the clients' difference over 5% comes mainly from their "
                "different estimators (least squares vs two-point), not from the engine's work."
            )
        elif abs(d_ls or 0.0) > TOLERANCE:
            out.append("The runs themselves differ by more than 5% (same estimator on both logs).")
            out.append(engine_work(tr, al))
    if nominal_step_ms is not None:
        stretched = [
            f"{name} run {itl:.2f} ms"
            for name, side in (("trie", tr), ("agentload", al))
            if (itl := _r(side, "itl_mean_ms")) is not None and itl > 1.05 * nominal_step_ms
        ]
        if stretched:
            out.append(
                f"Mean ITL above the nominal {nominal_step_ms:g} ms step by more than 5% "
                f"(the sim's steps took longer than set): {', '.join(stretched)}."
            )
    return out


def engine_work(tr: dict[str, Any] | None, al: dict[str, Any] | None) -> str:
    """The engine work and CPU of both runs, as figures (no cause is inferred from them)."""

    def ref(side: dict[str, Any] | None, key: str, scale: float = 1.0, digits: int = 0) -> str:
        value = _r(side, key)
        return "–" if value is None else f"{value * scale:,.{digits}f}"

    def own(side: dict[str, Any] | None, key: str) -> str:
        value = (side or {}).get(key)
        return "–" if value is None else f"{value:.2f}"

    return (
        f"Engine work, agentload's run vs trie's: requests {ref(al, 'requests')} vs "
        f"{ref(tr, 'requests')}, uncached prompt tokens/s {ref(al, 'uncached_tps')} vs "
        f"{ref(tr, 'uncached_tps')}, cache hit {ref(al, 'cache_hit', 100, 1)}% vs "
        f"{ref(tr, 'cache_hit', 100, 1)}%, mean ITL {ref(al, 'itl_mean_ms', 1, 2)} vs "
        f"{ref(tr, 'itl_mean_ms', 1, 2)} ms, client CPU {own(al, 'client_cores')} vs "
        f"{own(tr, 'client_cores')} cores, sim CPU {own(al, 'sim_cores')} vs "
        f"{own(tr, 'sim_cores')} cores. This run does not separate their effects."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--work", type=Path, default=Path("/tmp/agentload-bench/agreement"))
    args = parser.parse_args()
    cfg = AgreementConfig(8, 30.0, 0.25, 20.0) if args.quick else AgreementConfig()
    print(json.dumps(run(cfg, args.work), indent=1, default=str))


if __name__ == "__main__":
    main()
