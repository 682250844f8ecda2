"""`agentload compare A B ...`: one table of metrics with deltas and ratios against A."""

from __future__ import annotations

from pathlib import Path

import click

from agentload.commands._options import slo_option
from traceformat.errors import ConfigError


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
def command(
    results: tuple[Path, ...], slo: str | None, html_path: Path | None, json_path: Path | None
) -> None:
    """Compare result files side by side (the first one is the baseline)."""
    from replay.analysis.goodput import parse_slo
    from replay.report.compare_cmd import CompareConfig, run

    if len(results) < 2:
        raise ConfigError("compare: give at least two result files")
    for path in results:
        if not path.exists():
            raise ConfigError(f"{path}: no such result file")
    run(CompareConfig(results=results, slo=parse_slo(slo), html=html_path, json=json_path))
