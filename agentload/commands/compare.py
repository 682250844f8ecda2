"""`agentload compare BASE NEW...`: metrics side by side, a verdict per metric against the
baseline (regressed / improved / within noise) and --fail-on thresholds that gate CI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from agentload.base.errors import ConfigError, ThresholdError
from agentload.commands._options import force_option, slo_option

if TYPE_CHECKING:
    from agentload.analysis.goodput import Slo
    from agentload.analysis.report.verdicts import Judged
    from agentload.analysis.verdict import Threshold


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

    console = terminal.console(stderr=True) if to_stdout else None
    judged = run(
        results, parse_slo(slo), html_path, json_path, console, thresholds, seed, resamples
    )
    if judged.breached:
        raise ThresholdError("compare --fail-on: " + "; ".join(judged.breached))


def run(
    results: tuple[Path, ...],
    slo: Slo | None,
    html_path: Path | None = None,
    json_path: Path | None = None,
    console: Console | None = None,
    thresholds: list[Threshold] | None = None,
    seed: int = 0,
    resamples: int = 1000,
) -> Judged:
    """Analyse and judge the result files, print the comparison, write the HTML and JSON
    asked for."""
    from agentload.analysis.report import compare, html, terminal, verdicts
    from agentload.analysis.report.run_report import rich_table
    from agentload.analysis.report.sweep_page import sweep_page
    from agentload.analysis.run_analysis import analyze_path

    console = console or terminal.console()
    names = compare.run_names(results)
    analyses = [analyze_path(p, slo=slo) for p in results]
    summaries = [a.summary for a in analyses]
    judged = verdicts.judge_runs(names, analyses, thresholds or [], resamples, seed)
    for warning in judged.warnings:
        console.print(f"[bold red]warning:[/bold red] {warning}")
    for name, summary in zip(names, summaries, strict=True):
        for note in summary["notes"]:
            console.print(f"[yellow]note:[/yellow] {name}: {note}")
    console.print(rich_table(compare.comparison(names, summaries)))
    tables = verdicts.tables(judged)
    for table in tables:
        console.print(rich_table(table))
    if html_path is not None:
        page = sweep_page(names, summaries, "agentload compare", tables, judged.warnings)
        html.write(html_path, page)
        console.print(f"HTML: {html_path}")
    if json_path is not None:
        document = judged.as_json() | {"summaries": dict(zip(names, summaries, strict=True))}
        text = json.dumps(document, indent=2, default=str) + "\n"
        if str(json_path) == "-":
            click.echo(text, nl=False)
        else:
            json_path.write_text(text)
    return judged
