"""`agentload compare BASE NEW...`: metrics side by side, a verdict per metric against the
baseline (regressed / improved / within noise) and --fail-on thresholds that gate CI."""

from __future__ import annotations

from pathlib import Path

import click

from agentload.base.errors import ConfigError, ThresholdError
from agentload.commands._options import force_option, slo_option


@click.command("compare")
@click.argument("results", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@slo_option("Goodput SLOs for every run, e.g. 'ttft=2s,tpot=50ms'.")
@click.option(
    "--fail-on",
    "fail_on",
    metavar="METRIC=±N%[,...]",
    help="Exit 1 when a run's change against the baseline passes a threshold and is "
    "outside the noise: 'ttft_p99=+10%' fails on a rise above 10%, 'tok_s_steady=-5%' on "
    "a fall below 5%; without % the change is absolute in the metric's unit (ms, s, /s). "
    "Metric names: docs/analysis.md.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the bootstrap resampling: the same seed gives the same noise intervals.",
)
@click.option(
    "--resamples",
    type=click.IntRange(min=100, max=100_000),
    default=1000,
    show_default=True,
    help="Bootstrap replicates per run (count) for the noise intervals.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the comparison, verdicts and Pareto charts as a self-contained HTML file.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the verdicts, warnings and every run's summary as one JSON object to this "
    "file ('-': standard output).",
)
@force_option()
def command(
    results: tuple[Path, ...],
    slo: str | None,
    fail_on: str | None,
    seed: int,
    resamples: int,
    html_path: Path | None,
    json_path: Path | None,
    force: bool,
) -> None:
    """Compare result files against the first one (the baseline)."""
    from agentload.analysis.goodput import parse_slo
    from agentload.analysis.verdict import parse_fail_on

    if len(results) < 2:
        raise ConfigError("compare: give at least two result files")
    for path in results:
        if not path.exists():
            raise ConfigError(f"{path}: no such result file")
    from agentload.traceformat.outputs import check_input, check_output

    for path in results:
        check_input(path)
    thresholds = parse_fail_on(fail_on)
    to_stdout = json_path is not None and str(json_path) == "-"
    for out, option in ((html_path, "--html"), (None if to_stdout else json_path, "--json")):
        check_output(out, option, inputs=results, force=force)
    from agentload.analysis.report import terminal
    from agentload.orchestration.compare import compare_results

    console = terminal.console(stderr=True) if to_stdout else None
    judged = compare_results(
        results, parse_slo(slo), html_path, json_path, console, thresholds, seed, resamples
    ).judged
    if judged.breached:
        raise ThresholdError("compare --fail-on: " + "; ".join(judged.breached))
