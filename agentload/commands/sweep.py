"""`agentload sweep SOURCE --target URL --concurrency 8,16,32`: replay at several load
points, compare them and draw the Pareto fronts."""

from __future__ import annotations

from pathlib import Path

import click

from agentload.base.errors import EXIT_INTERRUPTED
from agentload.commands._options import force_option, replay_config, replay_options, slo_option


@click.command("sweep")
@replay_options(per=" per point")
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
    "--sessions-per-slot",
    type=float,
    default=None,
    help="Concurrency points admit ceil(N x this) sessions (overrides --max-sessions).",
)
@click.option("--poisson", is_flag=True, help="Poisson arrivals for --session-rates points.")
@slo_option()
@force_option()
def command(
    source: str,
    concurrency: str | None,
    session_rates: str | None,
    out_dir: Path,
    html_path: Path | None,
    sessions_per_slot: float | None,
    poisson: bool,
    slo: str | None,
    force: bool,
    **options: object,
) -> None:
    """Replay SOURCE (file or built-in profile) at each point and find the best ones.

    SIGINT/SIGTERM stop the sweep (the running point keeps a partial file); exit status 130."""
    from agentload.analysis.goodput import parse_slo
    from agentload.orchestration.sweep import SweepConfig, parse_list, run_sweep

    base = replay_config(
        source,
        out=out_dir / "point.arrow",
        quiet=True,
        # a placeholder load; every point replaces it
        concurrency=options["workers"] if session_rates is None else None,
        session_rate=1.0 if session_rates is not None else None,
        poisson=poisson and session_rates is not None,
        **options,
    )
    from agentload.traceformat.outputs import check_output, check_output_dir

    check_output_dir(out_dir, "--out-dir")
    html = html_path or out_dir / "sweep.html"
    check_output(html, "--html", force=force)
    config = SweepConfig(
        base=base,
        out_dir=out_dir,
        concurrencies=parse_list(concurrency, int, "--concurrency") if concurrency else (),
        session_rates=parse_list(session_rates, float, "--session-rates") if session_rates else (),
        html=html,
        slo=parse_slo(slo),
        sessions_per_slot=sessions_per_slot,
    )
    # Every file the sweep writes, checked before the first point runs: a second sweep
    # into the same folder would otherwise replace the first one's points and reports.
    for label, point in config.points():
        check_output(point.out, f"--out-dir (point {label})", force=force)
        check_output(html.parent / f"report-{label}.html", "--html", force=force)
    if run_sweep(config).interrupted:
        raise SystemExit(EXIT_INTERRUPTED)
