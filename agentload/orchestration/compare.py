"""Compare result files against the first (the baseline): the comparison table, a verdict
per metric and the warnings, printed; the HTML page and the JSON asked for, written. The one
home of what `agentload compare` does, also run by the demo on its two engine settings."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console

from agentload.analysis.goodput import Slo
from agentload.analysis.report import compare, html, terminal, verdicts
from agentload.analysis.report.run_report import rich_table
from agentload.analysis.report.sweep_page import sweep_page
from agentload.analysis.report.verdicts import Judged
from agentload.analysis.run_analysis import RunAnalysis, analyze_path
from agentload.analysis.verdict import Threshold


@dataclass(frozen=True)
class Compared:
    names: list[str]  # the runs' column names, baseline first
    analyses: list[RunAnalysis]
    judged: Judged


def compare_results(
    results: Sequence[Path],
    slo: Slo | None,
    html_path: Path | None = None,
    json_path: Path | None = None,
    console: Console | None = None,
    thresholds: Sequence[Threshold] = (),
    seed: int = 0,
    resamples: int = 1000,
    title: str = "agentload compare",
    reports: Mapping[str, str] | None = None,
) -> Compared:
    """Analyse and judge the result files, print the comparison, write the HTML (`reports`:
    run name -> its own report, linked) and the JSON ('-': standard output) asked for."""
    console = console or terminal.console()
    names = compare.run_names(results)
    analyses = [analyze_path(p, slo=slo) for p in results]
    summaries = [a.summary for a in analyses]
    judged = verdicts.judge_runs(names, analyses, thresholds, resamples, seed)
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
        page = sweep_page(names, summaries, title, tables, judged.warnings, reports)
        html.write(html_path, page)
        console.print(f"HTML: {html_path}")
    if json_path is not None:
        document = judged.as_json() | {"summaries": dict(zip(names, summaries, strict=True))}
        text = json.dumps(document, indent=2, default=str) + "\n"
        if str(json_path) == "-":
            click.echo(text, nl=False)
        else:
            json_path.write_text(text)
    return Compared(names, analyses, judged)
