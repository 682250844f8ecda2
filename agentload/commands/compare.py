"""`agentload compare A B ...`: one table of metrics with deltas and ratios against A."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from agentload.base.errors import ConfigError
from agentload.commands._options import force_option, slo_option

if TYPE_CHECKING:
    from agentload.analysis.goodput import Slo
    from agentload.analysis.run_analysis import Json


@click.command("compare")
@click.argument("results", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@slo_option("Goodput SLOs for every run, e.g. 'ttft=2s,tpot=50ms'.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the comparison (and Pareto charts) as a self-contained HTML file.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every run's summary metrics as a JSON list to this file.",
)
@force_option()
def command(
    results: tuple[Path, ...],
    slo: str | None,
    html_path: Path | None,
    json_path: Path | None,
    force: bool,
) -> None:
    """Compare result files side by side (the first one is the baseline)."""
    from agentload.analysis.goodput import parse_slo

    if len(results) < 2:
        raise ConfigError("compare: give at least two result files")
    for path in results:
        if not path.exists():
            raise ConfigError(f"{path}: no such result file")
    from agentload.traceformat.outputs import check_input, check_output

    for path in results:
        check_input(path)
    for out, option in ((html_path, "--html"), (json_path, "--json")):
        check_output(out, option, inputs=results, force=force)
    run(results, parse_slo(slo), html_path, json_path)


def run(
    results: tuple[Path, ...],
    slo: Slo | None,
    html_path: Path | None = None,
    json_path: Path | None = None,
    console: Console | None = None,
) -> list[Json]:
    """Analyse the result files, print the comparison, write the HTML and JSON asked for."""
    from agentload.analysis.report import compare, html
    from agentload.analysis.report.run_report import rich_table
    from agentload.analysis.report.sweep_page import sweep_page
    from agentload.analysis.run_analysis import analyze_path

    console = console or Console()
    names = compare.run_names(results)
    summaries = [analyze_path(p, slo=slo).summary for p in results]
    for name, summary in zip(names, summaries, strict=True):
        for note in summary["notes"]:
            console.print(f"[yellow]note:[/yellow] {name}: {note}")
    console.print(rich_table(compare.comparison(names, summaries)))
    if html_path is not None:
        html.write(html_path, sweep_page(names, summaries, "agentload compare"))
        console.print(f"HTML: {html_path}")
    if json_path is not None:
        json_path.write_text(json.dumps(summaries, indent=2, default=str) + "\n")
    return summaries
