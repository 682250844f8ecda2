"""`agentload sweep SOURCE --target URL --concurrency 8,16,32`: replay at several load
points, compare them and draw the Pareto fronts."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("sweep")
@click.argument("source")
@click.option("--target", required=True, help="Base URL of the engine, e.g. http://127.0.0.1:8000.")
@click.option("--model", required=True, help="Model name to put in every request.")
@click.option(
    "--concurrency",
    default=None,
    help="Closed-loop points: comma-separated session concurrencies, e.g. 8,16,32.",
)
@click.option(
    "--session-rates",
    default=None,
    help="Open-loop points: comma-separated session rates (sessions/s), e.g. 0.5,1,2.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("sweep-out"),
    show_default=True,
    help="Folder for the points' result files (c8.arrow, r0.5.arrow, ...).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML file with the Pareto charts [default: OUT_DIR/sweep.html].",
)
@click.option(
    "--api",
    type=click.Choice(["completions", "chat", "messages"]),
    default="completions",
    show_default=True,
    help="Endpoint for synthetic prompts.",
)
@click.option(
    "--max-sessions",
    type=int,
    default=None,
    help="Admit at most this many root sessions per point.",
)
@click.option(
    "--sessions-per-slot",
    type=float,
    default=None,
    help="Concurrency points admit ceil(N x this) sessions (overrides --max-sessions).",
)
@click.option(
    "--duration",
    type=float,
    default=None,
    help="Stop admitting sessions after this many seconds per point.",
)
@click.option(
    "--think-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiply recorded think (tool) times by this factor.",
)
@click.option("--max-think", type=float, default=None, help="Cap each think time (seconds).")
@click.option("--poisson", is_flag=True, help="Poisson arrivals for --session-rates points.")
@click.option(
    "--warmup",
    type=float,
    default=0.0,
    show_default=True,
    help="Flag requests sent in the first S seconds as warmup (excluded).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for Poisson arrivals.")
@click.option("--workers", type=int, default=1, show_default=True, help="Client processes.")
@click.option("--gpus", type=int, default=None, help="GPUs behind the target (per-GPU figures).")
@click.option("--scrape-metrics", is_flag=True, help="Poll the target's /metrics every second.")
@click.option("--slo", default=None, help="Goodput SLOs, e.g. 'ttft=2s,tpot=50ms,session=120s'.")
def command(
    source: str,
    target: str,
    model: str,
    concurrency: str | None,
    session_rates: str | None,
    out_dir: Path,
    html_path: Path | None,
    api: str,
    max_sessions: int | None,
    sessions_per_slot: float | None,
    duration: float | None,
    think_scale: float,
    max_think: float | None,
    poisson: bool,
    warmup: float,
    seed: int,
    workers: int,
    gpus: int | None,
    scrape_metrics: bool,
    slo: str | None,
) -> None:
    """Replay SOURCE (file or built-in profile) at each point and find the best ones."""
    from profiles import builtin
    from profiles.load import resolve
    from replay.analysis.goodput import parse_slo
    from replay.config import ApiChoice, ReplayConfig
    from replay.report.sweep import SweepConfig, parse_list, run_sweep

    path = resolve(source)
    label = f"builtin:{source}" if source in builtin.names() else source
    base = ReplayConfig(
        source=path,
        target=target,
        model=model,
        out=out_dir / "point.arrow",
        api=ApiChoice(api),
        max_sessions=max_sessions,
        duration=duration,
        think_scale=think_scale,
        max_think=max_think,
        warmup=warmup,
        seed=seed,
        workers=workers,
        gpus=gpus,
        scrape_metrics=scrape_metrics,
        quiet=True,
        source_label=label,
        # a placeholder load; every point replaces it
        concurrency=workers if session_rates is None else None,
        session_rate=1.0 if session_rates is not None else None,
        poisson=poisson and session_rates is not None,
    )
    config = SweepConfig(
        base=base,
        out_dir=out_dir,
        concurrencies=parse_list(concurrency, int, "--concurrency") if concurrency else (),
        session_rates=parse_list(session_rates, float, "--session-rates") if session_rates else (),
        html=html_path or out_dir / "sweep.html",
        slo=parse_slo(slo),
        sessions_per_slot=sessions_per_slot,
    )
    run_sweep(config)
