"""`agentload compare`: analyse several result files and print one comparison table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from replay.analysis.goodput import Slo
from replay.analysis.run import Json, analyze_path
from replay.report import compare, html
from replay.report.run_report import rich_table
from replay.report.sweep import sweep_page


@dataclass(frozen=True)
class CompareConfig:
    results: tuple[Path, ...]
    slo: Slo | None = None
    html: Path | None = None
    json: Path | None = None


def run(config: CompareConfig, console: Console | None = None) -> list[Json]:
    console = console or Console()
    names = compare.run_names(config.results)
    summaries = [analyze_path(p, slo=config.slo).summary for p in config.results]
    for name, summary in zip(names, summaries, strict=True):
        for note in summary["notes"]:
            console.print(f"[yellow]note:[/yellow] {name}: {note}")
    console.print(rich_table(compare.comparison(names, summaries)))
    if config.html is not None:
        html.write(config.html, sweep_page(names, summaries, "agentload compare"))
        console.print(f"HTML: {config.html}")
    if config.json is not None:
        config.json.write_text(json.dumps(summaries, indent=2, default=str) + "\n")
    return summaries
